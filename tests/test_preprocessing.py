"""Preprocessing on inputs with known answers: alignment, magnification, temporal normalisation,
dynamic images, LBP-TOP, landmark graphs and regions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from merauto.data.preprocessing.dynamic_image import dynamic_image, rank_pooling_coefficients
from merauto.data.preprocessing.face import FACES, dlib_ready, template_points
from merauto.data.preprocessing.flow import FLOW_METHODS, optical_flow
from merauto.data.preprocessing.landmarks import graph_features
from merauto.data.preprocessing.lbp_top import LBP_BINS, lbp_top
from merauto.data.preprocessing.magnify import magnify
from merauto.data.preprocessing.regions import REGIONS, FaceGeometry
from merauto.data.preprocessing.temporal import resample_frames, resample_windows
from merauto.errors import MerautoError

# Pupil centres of scikit-image's astronaut photograph (x, y pixels), read by a person from the
# image at 8x zoom: independent of the detector under test.
ASTRONAUT_EYES = np.array([[203.0, 100.6], [246.3, 103.8]])


@pytest.mark.parametrize("angle", [-8.0, 0.0, 8.0])
def test_alignment_of_a_real_face_puts_the_eyes_on_a_horizontal_line(angle: float) -> None:
    data = pytest.importorskip("skimage.data")
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    rotation = cv2.getRotationMatrix2D((224.0, 110.0), angle, 1.0)
    rotated = cv2.warpAffine(grey, rotation, grey.shape[::-1], borderMode=cv2.BORDER_REFLECT)
    eyes = ASTRONAUT_EYES @ rotation[:, :2].T + rotation[:, 2]
    haar = FACES.get("haar")
    params = haar.resolve({})
    registration = haar.register(rotated, params)
    assert registration.status == "eyes"
    left, right = registration.points(eyes)
    distance = right[0] - left[0]
    assert abs(right[1] - left[1]) < 0.06 * distance  # level within ~3.5 degrees
    template = template_points(params["margin"], params["size"])
    assert np.allclose((left + right) / 2, (template["eye_l"] + template["eye_r"]) / 2, atol=0.08 * distance)
    assert registration.warp(rotated).shape == (params["size"], params["size"])


def test_a_failed_detection_falls_back_to_the_full_frame_and_says_so() -> None:
    blank = np.full((120, 160), 128, np.float32)
    registration = FACES.get("haar").register(blank, FACES.get("haar").resolve({}))
    assert registration.status == "full_frame"
    assert registration.warp(blank).shape == (128, 128)


def test_missing_optional_backends_fail_with_a_fix() -> None:
    if not dlib_ready():
        assert not FACES.get("dlib").available()
        with pytest.raises(MerautoError, match="dlib"):
            FACES.get("dlib").register(np.zeros((64, 64), np.float32), FACES.get("dlib").resolve({}))
    if "tvl1" not in FLOW_METHODS:
        with pytest.raises(MerautoError, match="opencv-contrib"):
            optical_flow(np.zeros((8, 8)), np.zeros((8, 8)), "tvl1")


def _ecc_shift(reference: np.ndarray, moved: np.ndarray) -> float:
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    _, warp = cv2.findTransformECC(reference, moved, warp, cv2.MOTION_TRANSLATION, criteria, None, 1)
    return float(warp[0, 2])


def test_evm_amplifies_a_small_sinusoidal_motion_by_about_alpha() -> None:
    """A 5 Hz, 0.1 px horizontal oscillation of a texture whose wavelength (32 px) lies in the
    amplified pyramid levels comes out (1 + alpha) times larger, within 20 % of alpha."""
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float64)

    def texture(dx: float) -> np.ndarray:
        x = xx - dx
        waves = np.cos(2 * np.pi * x / 32) + np.cos(2 * np.pi * (0.6 * x + 0.8 * yy) / 32) + np.cos(2 * np.pi * (0.6 * x - 0.8 * yy) / 32)
        return (128 + 30 * waves).astype(np.float32)

    fps, alpha = 100.0, 8.0
    shifts = 0.1 * np.sin(2 * np.pi * 5.0 * np.arange(80) / fps)
    frames = torch.from_numpy(np.stack([texture(s) for s in shifts]))[:, None]
    out = magnify(frames, fps, alpha, low_hz=2.0, high_hz=10.0, lambda_c=4.0)[:, 0].numpy()
    centre = (slice(24, 104), slice(24, 104))
    measured = np.array([_ecc_shift(out[0][centre], frame[centre]) for frame in out])
    motion = shifts - shifts.mean()
    gain = float((measured - measured.mean()) @ motion / (motion @ motion))
    assert abs((gain - 1) - alpha) < 0.2 * alpha
    static = torch.full((12, 1, 32, 32), 90.0)
    assert torch.allclose(magnify(static, fps, alpha), static, atol=1e-3)  # nothing moves, nothing changes


def test_evm_attenuates_chrominance_of_colour_clips() -> None:
    clip = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    full = magnify(clip, 50.0, 10.0, chroma_attenuation=1.0)
    grey_only = magnify(clip, 50.0, 10.0, chroma_attenuation=0.0)
    assert (grey_only - clip).abs().sum() < (full - clip).abs().sum()


def test_a_clip_resampled_to_n_frames_keeps_its_first_and_last_frame() -> None:
    clip = np.random.default_rng(0).uniform(0, 255, (9, 6, 5)).astype(np.float32)
    for n in (4, 9, 16):
        out = resample_frames(clip, n)
        assert out.shape == (n, 6, 5)
        assert np.array_equal(out[0], clip[0]) and np.array_equal(out[-1], clip[-1])
    assert np.allclose(resample_frames(clip, 17)[1], (clip[0] + clip[1]) / 2, atol=1e-4)  # halfway between frames 0 and 1


def test_resampling_a_window_stretches_it_over_the_clip() -> None:
    clips = torch.arange(5.0).view(1, 5, 1).repeat(2, 1, 3)  # frame t holds the value t
    out = resample_windows(clips, torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.5]))
    assert torch.allclose(out[0], clips[0])  # the whole clip: unchanged
    assert torch.allclose(out[1, :, 0], torch.linspace(0, 2, 5))  # its first half, stretched over 5 frames


def test_rank_pooling_coefficients_match_the_closed_form() -> None:
    """Bilen et al.: alpha_t = sum_{i=t}^{T} (2 i - T - 1) / i equals 2 (T - t + 1) - (T + 1) (H_T - H_{t-1})."""
    for n in (2, 5, 16):
        by_definition = [sum((2 * i - n - 1) / i for i in range(t, n + 1)) for t in range(1, n + 1)]
        assert np.allclose(rank_pooling_coefficients(n), by_definition)
    assert np.allclose(dynamic_image(np.full((8, 4, 4), 77.0)), 0, atol=1e-5)  # no change, no dynamics
    brightening = np.linspace(0, 100, 8)[:, None, None] * np.ones((8, 4, 4))
    assert (dynamic_image(brightening) > 0).all() and (dynamic_image(brightening[::-1]) < 0).all()


def test_lbp_top_histograms_are_normalised_per_block_and_plane() -> None:
    volume = np.random.default_rng(1).uniform(0, 255, (8, 30, 30))
    features = lbp_top(volume, blocks=3)
    per_histogram = features.reshape(3 * 9, LBP_BINS)
    assert np.allclose(per_histogram.sum(axis=1), 1)
    flat = lbp_top(np.full((8, 30, 30), 50.0), blocks=3).reshape(3 * 9, LBP_BINS)
    assert np.allclose(flat.max(axis=1), 1)  # a constant volume has one pattern everywhere


def test_landmark_graph_measures_displacement_and_stretch_in_eye_distances() -> None:
    onset = {"eye_l": np.array([10.0, 10.0]), "eye_r": np.array([30.0, 10.0]), "mouth": np.array([20.0, 40.0])}
    shifted = {name: point + 3.0 for name, point in onset.items()}
    features = graph_features(onset, shifted)
    assert features.shape == (2 * 3 + 3,)
    assert np.allclose(features[:6], 3.0 / 20.0) and np.allclose(features[6:], 0, atol=1e-6)  # a translation stretches nothing
    opened = {**onset, "mouth": np.array([20.0, 44.0])}
    assert graph_features(onset, opened)[6:].max() > 0


def test_regions_stack_as_channels_and_rescale_flow_lengths() -> None:
    flow = np.ones((2, 64, 64), np.float32)  # u = v = 1 px at 64 px
    roles = ("u", "v")
    geometry = FaceGeometry({name: point * 64 for name, point in template_points(0.0, 1).items()})
    assert REGIONS.get("whole").apply(flow, roles, geometry, 16, {}).max() == pytest.approx(0.25)
    grid = REGIONS.get("grid").apply(flow, roles, geometry, 16, {"n": 2})
    assert grid.shape == (8, 8, 8) and np.allclose(grid, 0.25)  # 2 x 2 blocks of the 16 px map, as channels
    assert REGIONS.get("eyes_mouth").apply(flow, roles, geometry, 16, {}).shape == (6, 8, 8)  # 3 squares at half size
    with pytest.raises(MerautoError, match="at least 16"):
        REGIONS.get("grid").apply(flow, roles, geometry, 12, {"n": 2})
    masked = REGIONS.get("mask_eyes").apply(flow, roles, geometry, 16, {})
    eye = (template_points(0.0, 16)["eye_l"]).round().astype(int)
    assert masked[0, eye[1], eye[0]] == 0 and masked[0, 15, 8] > 0
    with pytest.raises(MerautoError, match="landmark"):
        REGIONS.get("landmark_patches").apply(flow, roles, geometry, 16, {"side": 0.5})
