"""Motion magnification (survey §4.1.2): Eulerian video magnification on tensors.

EVM (Wu et al., 2012): each frame is decomposed into a Laplacian pyramid (kornia), every
level is band-passed along time (an ideal filter on the mirror-extended clip, so its ends
do not ring), amplified and added back. Amplification is attenuated on levels whose spatial
wavelength is too short for the requested motion (the ``lambda_c`` cut-off), and the
chrominance of colour clips is amplified by ``chroma_attenuation`` times less. Everything
runs on the tensors' device (CUDA when the frames are there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from kornia.color import rgb_to_yuv, yuv_to_rgb
from kornia.geometry.transform import build_laplacian_pyramid, pyrup

from merauto.errors import MerautoError
from merauto.pipeline.registry import Component, Registry


def temporal_bandpass(signal: torch.Tensor, fps: float, low_hz: float, high_hz: float) -> torch.Tensor:
    """Ideal band-pass of ``signal`` (T, ...) along time; the clip is mirrored first so it is periodic."""
    n = signal.shape[0]
    extended = torch.cat([signal, signal.flip(0)], dim=0)
    spectrum = torch.fft.rfft(extended, dim=0)
    freqs = torch.fft.rfftfreq(2 * n, d=1.0 / fps).to(signal.device)
    keep = ((freqs >= low_hz) & (freqs <= high_hz)).to(spectrum.dtype)
    filtered = torch.fft.irfft(spectrum * keep.reshape(-1, *([1] * (signal.ndim - 1))), n=2 * n, dim=0)
    return filtered[:n]


def pyramid_levels(shape: tuple[int, int]) -> int:
    """Band-pass levels of a pyramid whose low-pass residual is 4 to 8 pixels on its shorter side."""
    return max(1, int(np.log2(min(shape))) - 2)


def level_gains(alpha: float, lambda_c: float, shape: tuple[int, int], levels: int) -> list[float]:
    """Amplification per pyramid level, finest first, the low-pass residual last (Wu et al.'s code).

    The residual has spatial wavelength ``lam = diag / 3`` and each finer level half its
    coarser neighbour's. A level is amplified by ``2 (lam / (8 delta) - 1)`` capped at
    ``alpha``, with ``delta = lambda_c / (8 (1 + alpha))``, so fine levels, where a large
    magnified motion would alias, get less; the finest level and the residual get none.
    """
    delta = lambda_c / 8.0 / (1.0 + alpha)
    gains = []
    for level in range(levels + 1):
        lam = float(np.hypot(*shape)) / 3.0 / 2.0 ** (levels - level)
        if level in (0, levels):
            gains.append(0.0)
        else:
            gains.append(float(min(alpha, max(0.0, 2.0 * (lam / delta / 8.0 - 1.0)))))
    return gains


def magnify(
    frames: torch.Tensor,
    fps: float,
    alpha: float,
    low_hz: float = 0.5,
    high_hz: float = 20.0,
    lambda_c: float = 16.0,
    chroma_attenuation: float = 0.1,
) -> torch.Tensor:
    """Magnify the motion of ``frames`` (T, C, H, W), C = 1 (grey) or 3 (RGB), values 0..1 or 0..255."""
    if frames.ndim != 4 or frames.shape[1] not in (1, 3):
        raise ValueError(f"magnify expects (T, 1 or 3, H, W) frames, got {tuple(frames.shape)}")
    colour = frames.shape[1] == 3
    signal = rgb_to_yuv(frames) if colour else frames
    levels = pyramid_levels(tuple(frames.shape[-2:]))
    pyramid = build_laplacian_pyramid(signal, levels + 1)
    gains = level_gains(alpha, lambda_c, tuple(frames.shape[-2:]), levels)
    amplified = None  # collapsed from the coarsest level; kornia pads sides to powers of two, cropped below
    for level in reversed(range(len(pyramid))):
        band = temporal_bandpass(pyramid[level], fps, low_hz, high_hz) * gains[level]
        amplified = band if amplified is None else pyrup(amplified) + band
    amplified = amplified[..., : frames.shape[-2], : frames.shape[-1]]
    if colour:
        amplified = amplified * torch.tensor([1.0, chroma_attenuation, chroma_attenuation], device=frames.device).view(1, 3, 1, 1)
        return yuv_to_rgb(signal + amplified)
    return signal + amplified


class Magnification(Component):
    """A registered magnification method applied to a clip's onset..offset frames."""

    def apply(self, frames: np.ndarray, fps: float, params: dict[str, Any]) -> np.ndarray:
        """``frames`` (T, H, W) grey 0..255, magnified; ``none`` returns them unchanged."""
        return frames


MAGNIFICATIONS: Registry[Magnification] = Registry("magnification")


@MAGNIFICATIONS.register
class NoMagnification(Magnification):
    name = "none"
    description = "frames as they are"


@MAGNIFICATIONS.register
class EulerianMagnification(Magnification):
    name = "evm"
    description = "Eulerian video magnification: Laplacian pyramid + ideal temporal band-pass, amplification alpha"
    # alpha is searched over a few discrete ratios so that cached inputs are reused across trials.
    choices = {"alpha": (4, 8, 16)}
    defaults = {"alpha": 8, "low_hz": 0.5, "high_hz": 20.0, "lambda_c": 16.0}

    def apply(self, frames: np.ndarray, fps: float, params: dict[str, Any]) -> np.ndarray:
        if fps <= 0:
            raise MerautoError(
                f"magnification evm needs the clip's frame rate; sample has fps={fps}", "give the fps column in the manifest"
            )
        if not 0 <= params["low_hz"] < params["high_hz"]:
            raise MerautoError(
                f"magnification evm: cut-offs low_hz={params['low_hz']} and high_hz={params['high_hz']} are not a band",
                "use 0 <= low_hz < high_hz (Hz)",
            )
        device = "cuda" if torch.cuda.is_available() else "cpu"
        clip = torch.from_numpy(np.ascontiguousarray(frames, np.float32))[:, None].to(device)
        out = magnify(clip, fps, float(params["alpha"]), float(params["low_hz"]), float(params["high_hz"]), float(params["lambda_c"]))
        return out[:, 0].clamp(0, 255).cpu().numpy()
