"""Feature tensors for a whole sample index, built once per sample and stream, then cached."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from merauto.data.cache import FeatureCache, content_key, fingerprint_sample
from merauto.data.clip import ClipFrames, PreparedClip, Step, register_clip
from merauto.data.face import FACES, Registration
from merauto.data.inputs import INPUTS, STREAM_BUILDERS, StreamSpec, estimate_apex, pipeline_streams
from merauto.data.landmarks import LANDMARKS_FILE, landmarks_path
from merauto.data.magnify import MAGNIFICATIONS
from merauto.data.precomputed import precomputed_stream
from merauto.data.sample_index import Sample, SampleIndex
from merauto.data.streams import build_stream
from merauto.errors import MerautoError

APEX_SPOTTING_VERSION = "1"


@dataclass
class CacheStats:
    """How many per-sample arrays were computed and how many came from the cache, overall and per stream kind,
    and how the face registrations of the clips went (``eyes``, ``face_box``, ``full_frame``)."""

    computed: int = 0
    cached: int = 0
    by_kind: dict[str, Counter] = field(default_factory=dict)
    registration_status: dict[tuple[str, str], str] = field(default_factory=dict)  # (sample id, detector key) -> outcome

    def count(self, kind: str, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.by_kind.setdefault(kind, Counter())[outcome] += 1

    @property
    def registrations(self) -> Counter:
        """How many (clip, detector settings) registrations ended how."""
        return Counter(self.registration_status.values())


class FeatureBuilder:
    """Builds stream arrays (N, ...) for an index, through a content-addressed cache.

    ``fingerprints`` (sample id -> content digest) can be computed once by the caller and
    shared with workers; missing ones are computed on first use.
    """

    def __init__(self, index: SampleIndex, cache: FeatureCache, fingerprints: dict[str, str] | None = None) -> None:
        self.index = index
        self.cache = cache
        self.fingerprints = dict(fingerprints or {})
        self.stats = CacheStats()
        self._memo: dict[StreamSpec, np.ndarray] = {}

    def fingerprint(self, sample: Sample) -> str:
        if sample.id not in self.fingerprints:
            self.fingerprints[sample.id] = fingerprint_sample(sample)
        return self.fingerprints[sample.id]

    def _apex(self, sample: Sample, clip: ClipFrames) -> int:
        key = content_key("apex", self.fingerprint(sample), APEX_SPOTTING_VERSION)
        stored = self.cache.load(key)
        if stored is not None:
            return int(stored)
        apex = estimate_apex(clip)
        self.cache.save(key, np.array(apex))
        return apex

    def _registration(self, clip: ClipFrames, face: Step) -> Registration | None:
        name, params = face
        key = content_key("registration", name, FACES.get(name).version, params, self.fingerprint(clip.sample))
        stored = self.cache.load(key)
        if stored is not None:
            registration = Registration.from_array(stored)
        else:
            registration = register_clip(clip, face)
            self.cache.save(key, registration.to_array())
        self.stats.registration_status[(clip.sample.id, key)] = registration.status
        return registration

    def _window(self, prepared: PreparedClip) -> np.ndarray:
        """Magnified onset..offset frames, cached as 8-bit grey (what every stream of the same steps reads)."""
        (face, face_params), (magnification, magnification_params) = prepared.face, prepared.magnification
        steps = [
            [face, FACES.get(face).version, face_params],
            [magnification, MAGNIFICATIONS.get(magnification).version, magnification_params],
        ]
        key = content_key("window", steps, self.fingerprint(prepared.sample))
        stored = self.cache.load(key)
        if stored is not None:
            return stored.astype(np.float32)
        window = np.clip(np.round(prepared.compute_window()), 0, 255).astype(np.uint8)
        self.cache.save(key, window)
        return window.astype(np.float32)

    def check(self, spec: StreamSpec) -> None:
        """Refuse, before computing anything, a stream this index cannot give."""
        if spec.kind not in STREAM_BUILDERS:
            raise MerautoError(f"unknown stream kind {spec.kind!r}", f"choose one of: {', '.join(STREAM_BUILDERS)}")
        if spec.reads_landmarks() and spec.step("face")[0] != "dlib":
            missing = [s.id for s in self.index if not landmarks_path(s).is_file()]
            if missing:
                raise MerautoError(
                    f"{spec} needs landmarks, and {len(missing)} clip(s) of {self.index.name} have no {LANDMARKS_FILE} (e.g. {missing[0]})",
                    "choose an input and roi without landmarks, use face detector dlib, or add landmarks.json to every clip",
                )

    def stream(self, spec: StreamSpec, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """The stream ``spec`` for every sample of the index, stacked in index order."""
        if spec in self._memo:
            return self._memo[spec]
        if self.index.precomputed is not None:  # no frames: the stream is read ready-made from its files
            self._memo[spec] = precomputed_stream(self.index, spec.kind, spec.as_dict().get("size"))
            return self._memo[spec]
        self.check(spec)
        arrays = []
        for i, sample in enumerate(self.index):
            key = content_key("stream", *spec.key_parts(), self.fingerprint(sample))
            array = self.cache.load(key)
            if array is None:
                array = build_stream(spec, ClipFrames(sample, self._apex), self._registration, self._window)
                self.cache.save(key, array)
                self.stats.count(spec.kind, "computed")
            else:
                self.stats.count(spec.kind, "cached")
            arrays.append(array)
            if progress is not None:
                progress(i + 1, len(self.index))
        stacked = np.stack(arrays).astype(np.float32)
        self._memo[spec] = stacked
        return stacked

    def streams(self, specs: Mapping[str, StreamSpec]) -> dict[str, np.ndarray]:
        """Several streams by name (every one checked before any is computed)."""
        for spec in specs.values():
            self.check(spec)
        return {name: self.stream(spec) for name, spec in specs.items()}

    def inputs(self, input_name: str, params: dict[str, Any], upstream: Mapping[str, Step] | None = None) -> dict[str, np.ndarray]:
        """All streams of an input choice, by stream name, with ``upstream`` preprocessing."""
        kind = INPUTS.get(input_name)
        return self.streams(kind.streams(kind.resolve(params), upstream))

    def pipeline_inputs(self, config: Any) -> dict[str, np.ndarray]:
        """All streams of a pipeline config (input and preprocessing), by stream name."""
        return self.streams(pipeline_streams(config))
