"""FACS-like local deformations, their time course, and the distractors around them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Each action unit is a few Gaussian blobs of displacement anchored on landmarks:
# (landmark, offset in face units, sigma in face units, displacement direction).
# A face unit is half the face width; image y grows downwards.
_BLOBS: dict[str, list[tuple[str, tuple[float, float], float, tuple[float, float]]]] = {
    # AU1+2 inner and outer brow raiser (surprise)
    "AU1+2": [
        ("brow_l", (0.0, 0.0), 0.2, (0.0, -1.0)),
        ("brow_r", (0.0, 0.0), 0.2, (0.0, -1.0)),
        ("brow_inner_l", (0.0, 0.0), 0.12, (0.0, -0.8)),
        ("brow_inner_r", (0.0, 0.0), 0.12, (0.0, -0.8)),
    ],
    # AU4 brow lowerer: brows down and knit towards the midline (negative)
    "AU4": [
        ("brow_inner_l", (0.0, 0.0), 0.15, (0.55, 0.85)),
        ("brow_inner_r", (0.0, 0.0), 0.15, (-0.55, 0.85)),
        ("brow_l", (0.0, 0.0), 0.15, (0.2, 0.6)),
        ("brow_r", (0.0, 0.0), 0.15, (-0.2, 0.6)),
    ],
    # AU5 upper lid raiser: eyes widen (surprise)
    "AU5": [
        ("eye_l", (0.0, -0.1), 0.08, (0.0, -1.0)),
        ("eye_r", (0.0, -0.1), 0.08, (0.0, -1.0)),
    ],
    # AU6 cheek raiser (positive)
    "AU6": [
        ("cheek_l", (0.0, 0.0), 0.2, (0.1, -1.0)),
        ("cheek_r", (0.0, 0.0), 0.2, (-0.1, -1.0)),
        ("eye_l", (0.0, 0.12), 0.08, (0.0, -0.6)),
        ("eye_r", (0.0, 0.12), 0.08, (0.0, -0.6)),
    ],
    # AU9 nose wrinkler (negative)
    "AU9": [
        ("nose_bridge", (0.0, 0.0), 0.12, (0.0, -1.0)),
        ("nose_tip", (-0.15, -0.02), 0.1, (0.2, -0.8)),
        ("nose_tip", (0.15, -0.02), 0.1, (-0.2, -0.8)),
    ],
    # AU10 upper lip raiser (negative: disgust)
    "AU10": [
        ("mouth", (0.0, -0.12), 0.12, (0.0, -1.0)),
        ("nose_tip", (-0.2, 0.1), 0.1, (0.0, -0.6)),
        ("nose_tip", (0.2, 0.1), 0.1, (0.0, -0.6)),
    ],
    # AU14 dimpler: lip corners tightened inwards (negative: contempt, repression)
    "AU14": [
        ("mouth_l", (0.0, 0.0), 0.1, (0.8, -0.1)),
        ("mouth_r", (0.0, 0.0), 0.1, (-0.8, -0.1)),
    ],
    # AU17 chin raiser: chin and lower lip pushed up (negative: sadness, repression)
    "AU17": [
        ("chin", (0.0, -0.15), 0.22, (0.0, -1.0)),
        ("mouth", (0.0, 0.1), 0.12, (0.0, -0.6)),
    ],
    # AU12 lip corner puller: corners up and out (positive)
    "AU12": [
        ("mouth_l", (0.0, 0.0), 0.13, (-0.75, -0.65)),
        ("mouth_r", (0.0, 0.0), 0.13, (0.75, -0.65)),
    ],
    # AU15 lip corner depressor: corners down (negative)
    "AU15": [
        ("mouth_l", (0.0, 0.0), 0.13, (0.15, 1.0)),
        ("mouth_r", (0.0, 0.0), 0.13, (-0.15, 1.0)),
    ],
    # AU26 jaw drop: lower lip and chin down (surprise)
    "AU26": [
        ("mouth", (0.0, 0.12), 0.22, (0.0, 1.0)),
        ("chin", (0.0, -0.1), 0.3, (0.0, 1.0)),
    ],
}

ACTION_UNITS: tuple[str, ...] = tuple(_BLOBS)

# Which action units express each class, with the probability that each one appears.
CLASS_PATTERNS: dict[str, dict[str, float]] = {
    "positive": {"AU12": 1.0, "AU6": 0.6},
    "negative": {"AU4": 0.55, "AU15": 0.35, "AU9": 0.25, "AU10": 0.2, "AU14": 0.3, "AU17": 0.3},
    "surprise": {"AU1+2": 0.9, "AU5": 0.6, "AU26": 0.5},
}


def action_unit_field(action_unit: str, marks: dict[str, np.ndarray], face_unit: float, size: int) -> np.ndarray:
    """Displacement field (2, size, size) of one action unit, scaled so its peak magnitude is 1 px."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    field = np.zeros((2, size, size), np.float32)
    for landmark, (ox, oy), sigma, (vx, vy) in _BLOBS[action_unit]:
        cx, cy = marks[landmark] + np.array([ox, oy], np.float32) * face_unit
        weight = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (sigma * face_unit) ** 2))
        norm = np.hypot(vx, vy)
        field[0] += weight * vx / norm
        field[1] += weight * vy / norm
    peak = float(np.hypot(field[0], field[1]).max())
    return field / peak if peak > 0 else field


def choose_action_units(label: str, rng: np.random.Generator, style: dict[str, float], ambiguity: float = 0.0) -> dict[str, float]:
    """Action units and intensities (0..1) for one clip of ``label``; at least one is active.

    ``style`` multiplies each AU's probability: subjects differ in how they express a class.
    With probability ``ambiguity`` the clip shows another class's pattern under this label,
    as when annotators disagree or an emotion is expressed atypically.
    """
    if rng.uniform() < ambiguity:
        label = str(rng.choice([c for c in CLASS_PATTERNS if c != label]))
    pattern = CLASS_PATTERNS[label]
    chosen = {au: float(rng.uniform(0.6, 1.0)) for au, p in pattern.items() if rng.uniform() < min(1.0, p * style.get(au, 1.0))}
    if not chosen:
        weights = np.array([pattern[au] * style.get(au, 1.0) for au in pattern])
        au = str(rng.choice(list(pattern), p=weights / weights.sum()))
        chosen[au] = float(rng.uniform(0.6, 1.0))
    return chosen


@dataclass(frozen=True)
class Timeline:
    """Frame positions of a clip: onset, true apex, offset and the total number of frames."""

    n_frames: int
    onset: int
    apex: int
    offset: int

    def profile(self) -> np.ndarray:
        """Expression intensity per frame: 0 before onset, smooth rise to 1 at apex, decay to offset."""
        t = np.arange(self.n_frames, dtype=np.float64)
        rise = np.clip((t - self.onset) / max(1, self.apex - self.onset), 0, 1)
        fall = np.clip((t - self.apex) / max(1, self.offset - self.apex), 0, 1)
        smooth = lambda x: x * x * (3 - 2 * x)  # noqa: E731 - smoothstep
        return np.where(t <= self.apex, smooth(rise), 1.0 - 0.85 * smooth(fall)).astype(np.float32)


def sample_timeline(rng: np.random.Generator, fps: float) -> Timeline:
    """A micro-expression's timing: onset->apex 50-90 ms, apex->offset 50-100 ms, at ``fps``."""
    frames_per_ms = fps / 1000.0
    lead = int(rng.integers(0, 3))
    rise = max(2, int(round(rng.uniform(50, 90) * frames_per_ms)))
    fall = max(2, int(round(rng.uniform(50, 100) * frames_per_ms)))
    onset, apex = lead, lead + rise
    offset = apex + fall
    return Timeline(n_frames=offset + 1, onset=onset, apex=apex, offset=offset)


def rigid_jitter(rng: np.random.Generator, n_frames: int, step_px: float) -> np.ndarray:
    """Per-frame head translation (n_frames, 2) in px: a smoothed random walk starting at 0."""
    steps = rng.normal(0.0, step_px, size=(n_frames, 2))
    steps[0] = 0.0
    walk = np.cumsum(steps, axis=0)
    kernel = np.ones(3) / 3
    smoothed = np.stack([np.convolve(walk[:, i], kernel, mode="same") for i in range(2)], axis=1)
    return (smoothed - smoothed[0]).astype(np.float32)


def blink_profile(rng: np.random.Generator, n_frames: int, fps: float) -> np.ndarray:
    """Eyelid closure per frame (0 open .. ~1 closed) of a single blink lasting ~100-150 ms."""
    duration = max(3, int(round(rng.uniform(100, 150) * fps / 1000)))
    start = int(rng.integers(-duration // 2, max(1, n_frames - duration // 2)))
    t = np.arange(n_frames) - start
    closure = np.sin(np.clip(t / duration, 0, 1) * np.pi)
    return (closure * rng.uniform(0.5, 1.0)).astype(np.float32)
