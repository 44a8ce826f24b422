"""Feature tensors for a whole sample index, built once per sample and stream, then cached."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from merauto.data.cache import FeatureCache, content_key, fingerprint_sample
from merauto.data.clip import ClipFrames, PreparedClip, Step, estimate_apex, register_clip
from merauto.data.inputs import pipeline_streams
from merauto.data.precomputed import precomputed_stream
from merauto.data.preprocessing.face import FACES, Registration
from merauto.data.preprocessing.landmarks import LANDMARKS_FILE, landmarks_path
from merauto.data.preprocessing.magnify import MAGNIFICATIONS
from merauto.data.sample_index import Sample, SampleIndex
from merauto.data.streams import STREAM_BUILDERS, StreamSpec, build_stream
from merauto.errors import MerautoError
from merauto.pipeline.config import PipelineConfig

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


RECENT_BUILDERS = 2  # builders a process keeps (with their memoised arrays), the most recently used


_recent: OrderedDict[tuple[int, Path], FeatureBuilder] = OrderedDict()


def feature_builder(index: SampleIndex, cache: FeatureCache, fingerprints: dict[str, str] | None = None) -> FeatureBuilder:
    """The builder this process last used for ``index`` over ``cache``, or a new one: a worker running
    trial after trial on one index fingerprints each clip and reads each stream from disk once."""
    key = (id(index), cache.root.resolve())
    builder = _recent.get(key)
    if builder is None or builder.index is not index:
        builder = FeatureBuilder(index, cache, fingerprints)
    _recent[key] = builder
    _recent.move_to_end(key)
    while len(_recent) > RECENT_BUILDERS:
        _recent.popitem(last=False)
    return builder


def inputs_for(
    config: PipelineConfig, index: SampleIndex, cache: FeatureCache, fingerprints: dict[str, str] | None = None
) -> dict[str, np.ndarray]:
    """The model inputs of ``config`` for every clip of ``index``, by stream name: its input's streams
    with the pipeline's preprocessing steps upstream, through the content-addressed ``cache``.

    Search trials, pre-training, export, repeat and predict all get their inputs here, so a
    pipeline is fed the same arrays wherever it runs. ``fingerprints`` (sample id -> content
    digest) may be computed once by a caller and shared.

    >>> import tempfile
    >>> from merauto.data.datasets import DatasetRequest, load_index
    >>> from merauto.data.synthetic.generator import SyntheticSpec
    >>> from merauto.pipeline import Choice, PipelineConfig
    >>> cache = FeatureCache(Path(tempfile.mkdtemp()))
    >>> index = load_index(DatasetRequest("synthetic", SyntheticSpec(size="tiny")), cache.root)
    >>> config = PipelineConfig(
    ...     input=Choice("flow_apex", {"size": 16}), face=Choice("haar"), topology=Choice("stacked"), block=Choice("conv_bn_relu"),
    ...     loss=Choice("cross_entropy"),
    ... )
    >>> {name: array.shape for name, array in inputs_for(config, index, cache).items()}
    {'flow': (29, 3, 16, 16), 'apex': (29, 1, 16, 16)}
    """
    return feature_builder(index, cache, fingerprints).streams(pipeline_streams(config))
