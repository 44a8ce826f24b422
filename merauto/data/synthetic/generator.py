"""The built-in synthetic dataset: rendered micro-expression clips in three composite-like domains.

Clips are written once per specification into the cache directory, as JPEG frames in a
native-looking folder layout with a generic manifest (``manifest.csv``), so the synthetic
dataset is read by the same manifest adapter a user's own data would be.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from merauto.data.preprocessing.landmarks import LANDMARKS_FILE
from merauto.data.synthetic.face import FaceIdentity, landmarks, render_neutral, sample_identity
from merauto.data.synthetic.motion import (
    ACTION_UNITS,
    CLASS_PATTERNS,
    action_unit_field,
    blink_profile,
    choose_action_units,
    rigid_jitter,
    sample_timeline,
)
from merauto.data.synthetic.once import generate_once

GENERATOR_VERSION = "5"  # 2: landmarks.json; 3: more negative action units, ambiguity; 4: both; 5: landmark detector error
AMBIGUITY = 0.2  # calibrated base rate of clips showing another class's pattern
# Landmarks are written as a detector would find them: true positions plus a per-frame error
# (about 1 px on a 128 px face, like 68-point detectors), as large as the micro-movements.
LANDMARK_ERROR_PX = 1.0
SIZES = ("tiny", "small", "composite")


@dataclass(frozen=True)
class SyntheticSpec:
    """Everything that determines the synthetic dataset; equal specs give identical files.

    The difficulty knobs are multipliers of the calibrated defaults: ``amplitude`` scales
    the apex displacement (0.5-2 px on a 128 px face at 1.0; about 10 gives macro-expressions),
    ``noise`` the sensor noise, ``jitter`` the rigid head motion, ``identity_variation``
    how different subjects look, and ``ambiguity`` how often a clip shows another class's
    action units under its label.
    """

    size: str = "small"
    seed: int = 0
    amplitude: float = 1.0
    noise: float = 1.0
    jitter: float = 1.0
    identity_variation: float = 1.0
    ambiguity: float = 1.0
    image_size: int = 128

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"synthetic size must be one of {SIZES}, not {self.size!r}")
        for knob in ("amplitude", "noise", "jitter", "identity_variation", "ambiguity"):
            if getattr(self, knob) < 0:
                raise ValueError(f"synthetic {knob} must be >= 0")
        if self.image_size < 32:
            raise ValueError("synthetic image_size must be at least 32 px")

    def key(self) -> str:
        """Content key of the generated files: the spec plus the generator's version."""
        payload = json.dumps({"spec": asdict(self), "version": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SourceDomain:
    """How one composite source looks: colour, frame rate, annotation, noise and its class mix."""

    name: str
    colour: bool
    fps: float
    apex_annotated: bool
    noise_sigma: float
    blur_sigma: float
    skin_range: tuple[float, float]
    class_counts: dict[str, int] = field(default_factory=dict)


DOMAINS: dict[str, SourceDomain] = {
    "casme2": SourceDomain("casme2", True, 200.0, True, 2.2, 0.0, (0.55, 0.9), {"negative": 88, "positive": 32, "surprise": 25}),
    "samm": SourceDomain("samm", False, 200.0, True, 2.2, 0.0, (0.05, 0.95), {"negative": 92, "positive": 26, "surprise": 15}),
    "smic": SourceDomain("smic", True, 100.0, False, 3.7, 0.7, (0.55, 0.9), {"negative": 70, "positive": 51, "surprise": 43}),
}

_SUBJECT_IDS = {"casme2": ["sub01", "sub02", "sub03", "sub04"], "samm": ["006", "007", "009", "011"], "smic": ["s01", "s02", "s03", "s04"]}
# size -> (subjects per source, fewest clips per subject, most clips per subject, fewest clips per class and source)
_SIZES = {"tiny": (2, 4, 6, 1), "small": (4, 6, 10, 3)}


@dataclass(frozen=True)
class ClipPlan:
    """One row of the dataset skeleton."""

    dataset: str
    subject: str
    sample: str
    label: str


def composite_skeleton() -> list[ClipPlan]:
    """The 442 (dataset, subject, sample, label) rows of the MEGC2019 composite, shipped in the package."""
    text = resources.files("merauto.data").joinpath("resources/megc2019_composite.csv").read_text()
    return [ClipPlan(r["dataset"], r["subject"], r["sample"], r["label"]) for r in csv.DictReader(text.splitlines())]


def sampled_skeleton(size: str, seed: int) -> list[ClipPlan]:
    """Subjects from the three sources with the source's class proportions (``tiny`` or ``small``)."""
    n_subjects, fewest, most, per_class = _SIZES[size]
    rng = np.random.default_rng([seed, 1])
    plans: list[ClipPlan] = []
    for source, all_subjects in _SUBJECT_IDS.items():
        subjects = all_subjects[:n_subjects]
        counts = DOMAINS[source].class_counts
        classes = list(counts)
        p = np.array([counts[c] for c in classes], float)
        while True:  # every class present often enough per source that inner splits can see it
            per_subject = [rng.choice(classes, size=int(rng.integers(fewest, most + 1)), p=p / p.sum()) for _ in subjects]
            drawn = np.concatenate(per_subject)
            if all((drawn == c).sum() >= per_class for c in classes):
                break
        for subject, labels in zip(subjects, per_subject, strict=True):
            plans += [ClipPlan(source, subject, f"{subject}_{k + 1:02d}", str(lab)) for k, lab in enumerate(labels)]
    return plans


@dataclass(frozen=True)
class SubjectTraits:
    """A subject's face and how they tend to express emotions."""

    identity: FaceIdentity
    neutral: np.ndarray
    style: dict[str, float]
    expressivity: float


def _subject_traits(spec: SyntheticSpec, dataset: str, subject: str) -> SubjectTraits:
    digest = int(hashlib.sha256(f"{dataset}/{subject}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng([spec.seed, 2, digest])
    identity = sample_identity(rng, spec.identity_variation, DOMAINS[dataset].skin_range)
    style = {au: float(rng.lognormal(0.0, 0.5)) for au in ACTION_UNITS}
    neutral = render_neutral(identity, spec.image_size)
    return SubjectTraits(identity, neutral, style, float(rng.uniform(0.7, 1.3)))


@dataclass(frozen=True)
class RenderedClip:
    """Frames (uint8, HxW grey or HxWx3 BGR), their annotation and the landmarks of every frame."""

    frames: list[np.ndarray]
    onset: int
    apex: int
    offset: int
    action_units: dict[str, float]
    landmarks: dict[str, np.ndarray]  # name -> (n_frames, 2) pixel positions


def render_clip(spec: SyntheticSpec, plan: ClipPlan, traits: SubjectTraits, clip_seed: int) -> RenderedClip:
    """Render one clip of ``plan.label`` for a subject."""
    domain = DOMAINS[plan.dataset]
    size = spec.image_size
    rng = np.random.default_rng([spec.seed, 3, clip_seed])
    base = traits.neutral
    marks = landmarks(traits.identity, size)
    face_unit = traits.identity.face_axes[0] * size

    timeline = sample_timeline(rng, domain.fps)
    units = choose_action_units(plan.label, rng, traits.style, min(0.9, AMBIGUITY * spec.ambiguity))
    if rng.uniform() < 0.3:  # a weak action unit of another class: expressions are rarely pure
        other = [au for lab, pattern in CLASS_PATTERNS.items() if lab != plan.label for au in pattern]
        units.setdefault(str(rng.choice(other)), float(rng.uniform(0.15, 0.4)))
    combined = sum(w * action_unit_field(au, marks, face_unit, size) for au, w in units.items())
    amplitude_px = rng.uniform(0.5, 2.0) * traits.expressivity * spec.amplitude * size / 128.0
    displacement = combined * amplitude_px / max(1e-6, float(np.hypot(combined[0], combined[1]).max()))

    profile = timeline.profile()
    jitter = rigid_jitter(rng, timeline.n_frames, 0.18 * spec.jitter * size / 128.0)
    offset = rng.uniform(-2, 2, size=2).astype(np.float32) * spec.identity_variation
    blink = blink_profile(rng, timeline.n_frames, domain.fps) if rng.uniform() < 0.35 else None
    eye_mask = _eye_mask(marks, traits.identity, size) if blink is not None else None
    lid = np.asarray(traits.identity.skin, np.float32) * 0.9
    gain0, drift = rng.uniform(0.9, 1.1), rng.uniform(-0.03, 0.03)
    sigma = domain.noise_sigma * spec.noise / 255.0

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # A point p of the neutral face is drawn near p + d(p) in frame t (first order in the small motion).
    moved = {}
    for name, point in marks.items():
        col, row = (int(np.clip(round(float(v)), 0, size - 1)) for v in point)
        moved[name] = point[None] + profile[:, None] * displacement[:, row, col][None] + jitter + offset[None]
    frames = []
    for t in range(timeline.n_frames):
        image = base
        if blink is not None and blink[t] > 0:
            alpha = (blink[t] * eye_mask)[..., None]
            image = base * (1 - alpha) + lid * alpha
        map_x = xx - profile[t] * displacement[0] - jitter[t, 0] - offset[0]
        map_y = yy - profile[t] * displacement[1] - jitter[t, 1] - offset[1]
        frame = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if domain.blur_sigma > 0:
            frame = cv2.GaussianBlur(frame, (0, 0), domain.blur_sigma)
        frame = frame * gain0 * (1 + drift * t / timeline.n_frames)
        frame = frame + sigma * rng.standard_normal(frame.shape, dtype=np.float32)
        frame8 = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
        bgr = cv2.cvtColor(frame8, cv2.COLOR_RGB2BGR)
        frames.append(bgr if domain.colour else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    return RenderedClip(frames, timeline.onset, timeline.apex, timeline.offset, units, moved)


def _eye_mask(marks: dict[str, np.ndarray], identity: FaceIdentity, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    axes = (int(identity.eye_size * size * 1.2) + 1, int(identity.eye_size * size * 0.7) + 1)
    for side in ("eye_l", "eye_r"):
        centre = tuple(int(round(v)) for v in marks[side])
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), 1.0)


_FRAME_NAMES = {"casme2": "img{n}.jpg", "samm": "{subject}_{n:05d}.jpg", "smic": "image{n:06d}.jpg"}
MANIFEST_COLUMNS = ("subject", "sample", "label", "frames_dir", "dataset", "onset", "apex", "offset", "fps", "au", "true_apex")


def generate(spec: SyntheticSpec, root: Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the dataset of ``spec`` under ``root`` (which must not exist); returns the manifest path."""
    plans = composite_skeleton() if spec.size == "composite" else sampled_skeleton(spec.size, spec.seed)
    traits: dict[tuple[str, str], SubjectTraits] = {}
    rows = []
    for i, plan in enumerate(plans):
        key = (plan.dataset, plan.subject)
        if key not in traits:
            traits[key] = _subject_traits(spec, *key)
        clip = render_clip(spec, plan, traits[key], clip_seed=i)
        rng = np.random.default_rng([spec.seed, 4, i])
        first = int(rng.integers(1, 300))  # absolute frame numbers, as in the real datasets
        folder = Path(plan.dataset) / plan.subject / plan.sample
        (root / folder).mkdir(parents=True)
        pattern = _FRAME_NAMES[plan.dataset]
        names = [pattern.format(n=first + k, subject=plan.subject) for k in range(len(clip.frames))]
        for name, frame in zip(names, clip.frames, strict=True):
            cv2.imwrite(str(root / folder / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
        points = sorted(clip.landmarks)
        detector = np.random.default_rng([spec.seed, 5, i])  # a landmark detector's per-frame error
        sigma = LANDMARK_ERROR_PX * spec.image_size / 128.0
        frames_points = {
            name: [np.round(clip.landmarks[p][k] + detector.normal(0.0, sigma, 2), 3).tolist() for p in points]
            for k, name in enumerate(names)
        }
        (root / folder / LANDMARKS_FILE).write_text(json.dumps({"names": points, "frames": frames_points}))
        domain = DOMAINS[plan.dataset]
        annotated_apex = ""
        if domain.apex_annotated:  # annotators are off by a frame now and then
            annotated_apex = str(first + int(np.clip(clip.apex + rng.integers(-1, 2), clip.onset + 1, clip.offset)))
        rows.append(
            {
                "subject": plan.subject,
                "sample": plan.sample,
                "label": plan.label,
                "frames_dir": folder.as_posix(),
                "dataset": plan.dataset,
                "onset": first + clip.onset,
                "apex": annotated_apex,
                "offset": first + clip.offset,
                "fps": domain.fps,
                "au": "+".join(sorted(clip.action_units)),
                "true_apex": first + clip.apex,
            }
        )
        if progress is not None:
            progress(i + 1, len(plans))
    (root / "spec.json").write_text(json.dumps({**asdict(spec), "version": GENERATOR_VERSION}, indent=2))
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def ensure_generated(spec: SyntheticSpec, cache_dir: Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """The manifest of ``spec``'s dataset under ``cache_dir``, generating it on first use.

    Generation happens in a private temporary folder that is renamed into place when
    complete, under a file lock, so concurrent callers never see a half-written dataset.
    """
    target = cache_dir / "synthetic" / f"{spec.size}-{spec.key()}"
    return generate_once(target, "manifest.csv", lambda scratch: generate(spec, scratch, progress))
