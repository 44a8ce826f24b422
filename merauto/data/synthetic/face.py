"""Procedural faces: a subject's identity, its landmarks and its neutral rendering."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SUPERSAMPLE = 4  # faces are drawn at 4x and area-downsampled, so edges are anti-aliased


@dataclass(frozen=True)
class FaceIdentity:
    """Geometry, colours and texture of one subject. Lengths are fractions of the image size."""

    center: tuple[float, float]
    face_axes: tuple[float, float]
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    lips: tuple[float, float, float]
    background: tuple[float, float, float]
    eye_height: float
    eye_spacing: float
    eye_size: float
    brow_gap: float
    brow_thickness: float
    nose_length: float
    mouth_height: float
    mouth_width: float
    texture_seed: int


def sample_identity(rng: np.random.Generator, variation: float = 1.0, skin_range: tuple[float, float] = (0.3, 0.9)) -> FaceIdentity:
    """Draw a random identity; ``variation`` scales how far subjects differ from an average face."""

    def jitter(mean: float, spread: float) -> float:
        return float(mean + variation * spread * rng.uniform(-1.0, 1.0))

    tone = rng.uniform(*skin_range)
    skin = (0.45 + 0.5 * tone, 0.32 + 0.45 * tone, 0.25 + 0.4 * tone)
    hair_level = rng.uniform(0.05, 0.35)
    return FaceIdentity(
        center=(jitter(0.5, 0.02), jitter(0.53, 0.02)),
        face_axes=(jitter(0.33, 0.03), jitter(0.42, 0.03)),
        skin=tuple(float(np.clip(c + variation * rng.normal(0, 0.03), 0, 1)) for c in skin),
        hair=(hair_level, hair_level * 0.8, hair_level * 0.6),
        lips=(jitter(0.65, 0.08), jitter(0.33, 0.06), jitter(0.33, 0.06)),
        background=tuple(float(c) for c in rng.uniform(0.15, 0.75, size=3)),
        eye_height=jitter(0.43, 0.025),
        eye_spacing=jitter(0.28, 0.03),
        eye_size=jitter(0.055, 0.01),
        brow_gap=jitter(0.075, 0.015),
        brow_thickness=jitter(0.022, 0.006),
        nose_length=jitter(0.15, 0.02),
        mouth_height=jitter(0.72, 0.025),
        mouth_width=jitter(0.2, 0.03),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )


def landmarks(identity: FaceIdentity, size: int) -> dict[str, np.ndarray]:
    """Named facial points in pixels (x, y) for an image of ``size`` x ``size``."""
    cx = identity.center[0] * size
    eye_y = identity.eye_height * size
    half_eye = identity.eye_spacing * size / 2
    brow_y = eye_y - identity.brow_gap * size
    mouth_y = identity.mouth_height * size
    half_mouth = identity.mouth_width * size / 2
    nose_y = eye_y + identity.nose_length * size
    cheek_y = (eye_y + nose_y) / 2 + 0.02 * size
    chin_y = identity.center[1] * size + identity.face_axes[1] * size * 0.88
    points = {
        "eye_l": (cx - half_eye, eye_y),
        "eye_r": (cx + half_eye, eye_y),
        "brow_l": (cx - half_eye, brow_y),
        "brow_r": (cx + half_eye, brow_y),
        "brow_inner_l": (cx - half_eye * 0.45, brow_y + 0.01 * size),
        "brow_inner_r": (cx + half_eye * 0.45, brow_y + 0.01 * size),
        "nose_bridge": (cx, (eye_y + nose_y) / 2 - 0.02 * size),
        "nose_tip": (cx, nose_y),
        "cheek_l": (cx - half_eye * 1.15, cheek_y),
        "cheek_r": (cx + half_eye * 1.15, cheek_y),
        "mouth_l": (cx - half_mouth, mouth_y),
        "mouth_r": (cx + half_mouth, mouth_y),
        "mouth": (cx, mouth_y),
        "chin": (cx, chin_y),
    }
    return {name: np.array(xy, dtype=np.float32) for name, xy in points.items()}


def _noise_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Multi-octave smooth noise in roughly -1..1: skin pores and shading the flow can lock onto."""
    texture = np.zeros((size, size), np.float32)
    for cells, weight in ((4, 0.5), (8, 0.35), (16, 0.3), (32, 0.3), (64, 0.25)):
        grid = rng.normal(0, 1, (cells, cells)).astype(np.float32)
        texture += weight * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return texture / 1.2


def render_neutral(identity: FaceIdentity, size: int) -> np.ndarray:
    """The subject's neutral face as float32 RGB in 0..1, ``size`` x ``size`` x 3."""
    big = size * SUPERSAMPLE
    s = float(big)
    rng = np.random.default_rng(identity.texture_seed)
    canvas = np.empty((big, big, 3), np.float32)
    canvas[:] = identity.background
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32)
    canvas *= (0.85 + 0.3 * (xx / s))[..., None]  # background light gradient

    cx, cy = identity.center[0] * s, identity.center[1] * s
    ax, ay = identity.face_axes[0] * s, identity.face_axes[1] * s
    inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2
    face_mask = np.clip((1.0 - inside) * 12.0, 0.0, 1.0)
    shading = np.clip(1.05 - 0.35 * inside, 0.6, 1.05)
    skin = np.asarray(identity.skin, np.float32)[None, None, :] * shading[..., None]
    canvas = canvas * (1 - face_mask[..., None]) + skin * face_mask[..., None]

    def point(name: str) -> tuple[int, int]:
        x, y = marks[name] * SUPERSAMPLE
        return int(round(x)), int(round(y))

    marks = landmarks(identity, size)
    u = identity.face_axes[0] * s  # face unit: half the face width
    hair = tuple(float(c) for c in identity.hair)

    # Cheeks: a faint blush that moves with AU6.
    for side in ("cheek_l", "cheek_r"):
        blush = np.zeros((big, big), np.float32)
        cv2.circle(blush, point(side), int(0.22 * u), 1.0, -1)
        blush = cv2.GaussianBlur(blush, (0, 0), 0.1 * u)
        canvas[..., 0] += 0.06 * blush
        canvas[..., 2] -= 0.03 * blush

    # Eyes: white, iris, pupil, an upper-lid line.
    eye_w, eye_h = int(identity.eye_size * s), int(identity.eye_size * s * 0.5)
    for side in ("eye_l", "eye_r"):
        c = point(side)
        cv2.ellipse(canvas, c, (eye_w, eye_h), 0, 0, 360, (0.93, 0.92, 0.9), -1, cv2.LINE_AA)
        cv2.circle(canvas, c, int(eye_h * 0.95), (0.25, 0.18, 0.1), -1, cv2.LINE_AA)
        cv2.circle(canvas, c, int(eye_h * 0.45), (0.02, 0.02, 0.02), -1, cv2.LINE_AA)
        cv2.ellipse(canvas, c, (eye_w, eye_h), 0, 180, 360, hair, int(0.012 * s), cv2.LINE_AA)

    # Eyebrows: thick arcs.
    brow_len = int(identity.eye_size * s * 1.5)
    thickness = max(2, int(identity.brow_thickness * s))
    for side in ("brow_l", "brow_r"):
        cv2.ellipse(canvas, point(side), (brow_len, int(brow_len * 0.35)), 0, 200, 340, hair, thickness, cv2.LINE_AA)

    # Nose: a soft ridge shadow and two nostrils.
    tip = point("nose_tip")
    bridge = point("nose_bridge")
    shade = tuple(float(c) * 0.75 for c in identity.skin)
    cv2.line(canvas, (bridge[0] + int(0.06 * u), bridge[1]), (tip[0] + int(0.08 * u), tip[1]), shade, int(0.008 * s), cv2.LINE_AA)
    for dx in (-1, 1):
        cv2.ellipse(
            canvas,
            (tip[0] + dx * int(0.12 * u), tip[1]),
            (int(0.06 * u), int(0.035 * u)),
            0,
            0,
            360,
            tuple(float(c) * 0.45 for c in identity.skin),
            -1,
            cv2.LINE_AA,
        )

    # Mouth: upper and lower lip, a dark line between them.
    mouth = point("mouth")
    half = int(identity.mouth_width * s / 2)
    lips = tuple(float(c) for c in identity.lips)
    cv2.ellipse(canvas, (mouth[0], mouth[1] - int(0.03 * u)), (half, int(0.1 * u)), 0, 180, 360, lips, -1, cv2.LINE_AA)
    cv2.ellipse(canvas, (mouth[0], mouth[1] + int(0.02 * u)), (int(half * 0.9), int(0.14 * u)), 0, 0, 180, lips, -1, cv2.LINE_AA)
    cv2.line(canvas, point("mouth_l"), point("mouth_r"), tuple(c * 0.4 for c in lips), int(0.01 * s), cv2.LINE_AA)

    # Skin texture and freckles over the whole face (what optical flow locks onto).
    texture = _noise_texture(rng, big)
    canvas += (0.05 * texture * face_mask)[..., None]
    canvas += (0.03 * _noise_texture(rng, big) * (1 - face_mask))[..., None]
    for _ in range(int(rng.integers(25, 60))):
        r, a = np.sqrt(rng.uniform(0, 0.8)), rng.uniform(0, 2 * np.pi)
        centre = (int(cx + r * ax * np.cos(a)), int(cy + r * ay * np.sin(a)))
        tone = tuple(float(c) * rng.uniform(0.6, 0.85) for c in identity.skin)
        cv2.circle(canvas, centre, int(rng.uniform(0.004, 0.01) * s), tone, -1, cv2.LINE_AA)

    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0.0, 1.0)
