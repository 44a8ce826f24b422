"""Synthetic long videos for spotting: the synthetic faces with micro- and macro-expressions at
known intervals among blinks, head motion and talking-like mouth movement.

Each subject gets ``videos`` videos of ``seconds`` seconds at ``fps``. Expressions never
overlap one another: a micro-expression rises and falls within 0.2-0.5 s at 0.5-2 px of apex
displacement (the recognition set's range); a macro-expression lasts 0.6-3 s at 3-6 px.
Distractors move the face too: blinks every few seconds, a slow head drift with occasional
shifts, and bursts of "talking" (the mouth opening and closing at 3-5 Hz). The frames are
written as numbered JPEGs, the intervals to ``annotations.csv`` (frame numbers inclusive).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from merauto.data.synthetic.face import landmarks, render_neutral, sample_identity
from merauto.data.synthetic.motion import CLASS_PATTERNS, action_unit_field, choose_action_units, rigid_jitter
from merauto.data.synthetic.once import generate_once

LONG_VIDEO_VERSION = "1"
LONG_VIDEO_SIZES = {"tiny": (3, 1, 12.0), "small": (6, 2, 60.0)}  # subjects, videos per subject, seconds per video
ANNOTATION_COLUMNS = ("subject", "video", "onset", "apex", "offset", "type", "label")
FRAME_NAME = "img{n:05d}.jpg"


@dataclass(frozen=True)
class LongVideoSpec:
    """Everything that determines the synthetic long-video set; equal specs give identical files."""

    size: str = "small"
    seed: int = 0
    fps: float = 30.0
    image_size: int = 64
    micro_per_minute: float = 8.0
    macro_per_minute: float = 4.0

    def __post_init__(self) -> None:
        if self.size not in LONG_VIDEO_SIZES:
            raise ValueError(f"synthetic long-video size must be one of {tuple(LONG_VIDEO_SIZES)}, not {self.size!r}")
        if self.image_size < 32 or self.fps < 10:
            raise ValueError("synthetic long videos need image_size >= 32 and fps >= 10")

    def key(self) -> str:
        """Content key of the generated files: the spec plus the generator's version."""
        payload = json.dumps({"spec": asdict(self), "version": LONG_VIDEO_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PlantedExpression:
    """One planted expression: inclusive frame interval, apex, type (micro/macro), class label and its field."""

    onset: int
    apex: int
    offset: int
    kind: str
    label: str
    peak_px: float


def _profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Intensity per frame: 0 outside the interval, a smooth rise to 1 at the apex and back to 0 at the offset."""
    t = np.arange(n_frames, dtype=np.float64)
    rise = np.clip((t - onset) / max(1, apex - onset), 0, 1)
    fall = np.clip((offset - t) / max(1, offset - apex), 0, 1)
    smooth = lambda x: x * x * (3 - 2 * x)  # noqa: E731 - smoothstep
    return np.where(t <= apex, smooth(rise), smooth(fall)).astype(np.float32)


def plan_expressions(spec: LongVideoSpec, n_frames: int, rng: np.random.Generator) -> list[PlantedExpression]:
    """Non-overlapping micro- and macro-expressions at random times, at least 0.5 s apart."""
    minutes = n_frames / spec.fps / 60.0
    kinds = ["micro"] * max(1, round(spec.micro_per_minute * minutes)) + ["macro"] * max(1, round(spec.macro_per_minute * minutes))
    rng.shuffle(kinds)
    gap = int(0.5 * spec.fps)
    planted: list[PlantedExpression] = []
    for kind in kinds:
        seconds = rng.uniform(0.2, 0.5) if kind == "micro" else rng.uniform(0.6, 3.0)
        length = max(4, int(round(seconds * spec.fps)))
        for _ in range(50):  # a free slot, or the expression is dropped
            onset = int(rng.integers(gap, n_frames - length - gap))
            offset = onset + length - 1
            if all(offset + gap < p.onset or onset > p.offset + gap for p in planted):
                apex = onset + int(round(rng.uniform(0.3, 0.6) * (length - 1)))
                label = str(rng.choice(sorted(CLASS_PATTERNS)))
                peak = rng.uniform(0.5, 2.0) if kind == "micro" else rng.uniform(3.0, 6.0)
                planted.append(PlantedExpression(onset, apex, offset, kind, label, float(peak)))
                break
    return sorted(planted, key=lambda p: p.onset)


def _blinks(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Eyelid closure per frame: a blink every 2-6 s lasting 100-150 ms."""
    closure = np.zeros(n_frames, np.float32)
    t = int(rng.uniform(0.5, 3) * fps)
    while t < n_frames:
        duration = max(3, int(round(rng.uniform(0.1, 0.15) * fps)))
        frames = np.arange(t, min(n_frames, t + duration))
        closure[frames] = np.sin((frames - t + 0.5) / duration * np.pi) * rng.uniform(0.6, 1.0)
        t += int(rng.uniform(2, 6) * fps)
    return closure


def _talking(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Mouth opening per frame: bursts of 1-3 s at 3-5 Hz, about a fifth of the time."""
    opening = np.zeros(n_frames, np.float32)
    t = int(rng.uniform(1, 5) * fps)
    while t < n_frames:
        length = int(rng.uniform(1, 3) * fps)
        frames = np.arange(t, min(n_frames, t + length))
        opening[frames] = 0.5 * (1 - np.cos(2 * np.pi * rng.uniform(3, 5) * (frames - t) / fps))
        t += length + int(rng.uniform(4, 10) * fps)
    return opening


def render_long_video(spec: LongVideoSpec, subject_seed: int, video_seed: int) -> tuple[list[np.ndarray], list[PlantedExpression]]:
    """Grey frames (uint8) of one long video of a subject, and the expressions planted in it."""
    size = spec.image_size
    identity = sample_identity(np.random.default_rng([spec.seed, 20, subject_seed]))
    base = render_neutral(identity, size)
    marks = landmarks(identity, size)
    face_unit = identity.face_axes[0] * size
    rng = np.random.default_rng([spec.seed, 21, subject_seed, video_seed])
    n_frames = int(LONG_VIDEO_SIZES[spec.size][2] * spec.fps)
    planted = plan_expressions(spec, n_frames, rng)
    displacement = np.zeros((n_frames, 2, size, size), np.float32)
    for p in planted:
        units = choose_action_units(p.label, rng, {}, 0.0)
        combined = sum(w * action_unit_field(au, marks, face_unit, size) for au, w in units.items())
        field = combined * (p.peak_px * size / 128.0) / max(1e-6, float(np.hypot(combined[0], combined[1]).max()))
        displacement += _profile(n_frames, p.onset, p.apex, p.offset)[:, None, None, None] * field[None]
    mouth = action_unit_field("AU26", marks, face_unit, size) * (2.0 * size / 128.0)
    displacement += _talking(n_frames, spec.fps, rng)[:, None, None, None] * mouth[None]
    shifts = (rng.uniform(size=(n_frames, 1)) < 1.0 / (8 * spec.fps)) * rng.normal(0, 1.5 * size / 128.0, (n_frames, 2))
    drift = (rigid_jitter(rng, n_frames, 0.05 * size / 128.0) + np.cumsum(shifts, axis=0)).astype(np.float32)
    blink = _blinks(n_frames, spec.fps, rng)
    lid = np.asarray(identity.skin, np.float32) * 0.9
    eyes = np.zeros((size, size), np.float32)
    axes = (int(identity.eye_size * size * 1.2) + 1, int(identity.eye_size * size * 0.7) + 1)
    for side in ("eye_l", "eye_r"):
        cv2.ellipse(eyes, tuple(int(round(v)) for v in marks[side]), axes, 0, 0, 360, 1.0, -1)
    eyes = cv2.GaussianBlur(eyes, (0, 0), 1.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    frames = []
    for t in range(n_frames):
        image = base if blink[t] == 0 else base * (1 - (blink[t] * eyes)[..., None]) + lid * (blink[t] * eyes)[..., None]
        map_x = xx - displacement[t, 0] - drift[t, 0]
        map_y = yy - displacement[t, 1] - drift[t, 1]
        frame = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = frame + (2.0 / 255.0) * rng.standard_normal(frame.shape, dtype=np.float32)
        grey = cv2.cvtColor((np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        frames.append(grey)
    return frames, planted


def generate_long_videos(spec: LongVideoSpec, root: Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the long-video set of ``spec`` under ``root`` (which must not exist); returns ``annotations.csv``."""
    subjects, videos, _ = LONG_VIDEO_SIZES[spec.size]
    rows = []
    for s in range(subjects):
        subject = f"s{s + 1:02d}"
        for v in range(videos):
            frames, planted = render_long_video(spec, s, v)
            folder = root / subject / f"{subject}_{v + 1:02d}"
            folder.mkdir(parents=True)
            for n, frame in enumerate(frames, 1):
                cv2.imwrite(str(folder / FRAME_NAME.format(n=n)), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
            for p in planted:  # frame numbers start at 1, as in CAS(ME)^2 and SAMM long videos
                rows.append({"subject": subject, "video": folder.name, "onset": p.onset + 1, "apex": p.apex + 1, "offset": p.offset + 1})
                rows[-1] |= {"type": p.kind, "label": p.label}
            if progress is not None:
                progress(s * videos + v + 1, subjects * videos)
    (root / "spec.json").write_text(json.dumps({**asdict(spec), "version": LONG_VIDEO_VERSION}, indent=2))
    annotations = root / "annotations.csv"
    with annotations.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ANNOTATION_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return annotations


def ensure_long_videos(spec: LongVideoSpec, cache_dir: Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """``annotations.csv`` of ``spec``'s long videos under ``cache_dir``, generated on first use into a
    private folder renamed into place when complete (under a file lock)."""
    target = cache_dir / "synthetic-lv" / f"{spec.size}-{spec.key()}"
    return generate_once(target, "annotations.csv", lambda scratch: generate_long_videos(spec, scratch, progress))
