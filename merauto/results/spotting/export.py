"""An exported spotter: the selected spotting trial's spotter fitted on every subject, with its
thresholds (``spotter.json``, plus the spotter's own files, e.g. a network's weights), and what
``merauto predict --video`` runs with it."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from merauto import __version__
from merauto.atomic import shared_mode, write_text_atomic
from merauto.data.long_videos.folders import LongVideo
from merauto.data.long_videos.frames import face_crops
from merauto.errors import MerautoError
from merauto.evaluator.spotters import SPOTTERS, FittedSpotter, Memo, spot_frames
from merauto.evaluator.spotting import Spotted, VideoSignal
from merauto.results.spotting.report import spot_estimates
from merauto.results.spotting.store import SpotTrial

SPOTTER_FILE = "spotter.json"


@dataclass(frozen=True)
class ExportedSpotter:
    """A spotter ready for new videos: the fitted spotter, its name, frame rate and frame size."""

    spotter: str
    fitted: FittedSpotter
    fps: float
    frame_size: tuple[int, int]  # (height, width) of the frames it was chosen on
    provenance: dict[str, Any]
    preprocessing: dict[str, Any] | None = None  # a licensed set's face crop: {"frame_size": side, "step": every step-th frame}

    @property
    def step(self) -> int:
        """Every how many frames of a new video one is spotted on."""
        return int(self.preprocessing["step"]) if self.preprocessing else 1

    @property
    def thresholds(self) -> dict[str, float]:
        return self.fitted.thresholds

    @classmethod
    def load(cls, folder: Path) -> ExportedSpotter:
        """Read ``folder/spotter.json`` and the spotter's files (a clear error when they are missing or broken)."""
        path = Path(folder) / SPOTTER_FILE
        try:
            record = json.loads(path.read_text())
            name = record.get("spotter", SPOTTERS.default)
            component = SPOTTERS.get(name)
            fitted = component.load(Path(folder), component.resolve(record["params"]), record["thresholds"])
            return cls(name, fitted, record["fps"], tuple(record["frame_size"]), record["provenance"], record.get("preprocessing"))
        except FileNotFoundError:
            raise MerautoError(f"{folder} holds no {SPOTTER_FILE}", "pass a folder written by merauto spot --export") from None
        except (ValueError, KeyError, TypeError, RuntimeError, OSError) as exc:
            raise MerautoError(f"{path} is not a spotter export ({exc})", "export it again with merauto spot --export") from None

    def spot(self, frames: np.ndarray) -> tuple[list[Spotted], VideoSignal]:
        """The intervals spotted in ``frames`` (grey), in their frame indices, and the signals they were found in (one
        value per spotted frame). Frames of a licensed set's spotter are cut to the face and subsampled as its videos were;
        any other spotter's must be of its frame size."""
        if self.preprocessing:
            kept, _ = face_crops(frames, self.fps * self.step, self.preprocessing["frame_size"], self.step)
            spotted, signal = spot_frames(self.fitted, kept, self.fps)
            return [self._full_rate(s, len(frames)) for s in spotted], signal
        if frames.shape[1:] != self.frame_size:
            raise MerautoError(
                f"the video's frames are {frames.shape[2]}x{frames.shape[1]}, the spotter's {self.frame_size[1]}x{self.frame_size[0]}",
                "resize the frames to the size the spotter was chosen on (flow magnitudes are in pixels)",
            )
        return spot_frames(self.fitted, frames, self.fps)

    def _full_rate(self, spotted: Spotted, n: int) -> Spotted:
        """An interval of the kept frames as frame indices of the whole video (its last kept frame's span included)."""
        start, end = spotted.interval.start * self.step, min(n - 1, spotted.interval.end * self.step + self.step - 1)
        return Spotted(replace(spotted.interval, start=start, end=end), spotted.apex * self.step, spotted.score)


def export_spotter(
    trials: list[SpotTrial], videos: list[LongVideo], out_dir: Path, preprocessing: dict[str, Any] | None = None, device: str = "auto"
) -> Path:
    """Write the globally selected trial's spotter fitted on every subject of ``videos`` (replacing an earlier export);
    ``preprocessing`` is how a licensed set's videos were cut to the face and subsampled, for new videos to be read alike."""
    estimate = spot_estimates(trials)[0]
    best = max(trials, key=lambda t: (t.objective, -t.number))
    component = SPOTTERS.get(best.spotter)
    params = component.resolve(best.spotter_params)
    fitted = component.fit(videos, params, Memo(), device)
    record = {
        "merauto_version": __version__,
        "spotter": component.name,
        "params": params,
        "thresholds": fitted.thresholds,
        "fps": videos[0].fps,
        "frame_size": list(videos[0].frames.shape[1:]),
        "preprocessing": preprocessing,
        "provenance": {
            "trial": best.number,
            "inner_f1": best.objective,
            "global_selection_test_f1": {kind: estimate.pooled(kind).f1 for kind in ("micro", "macro", "overall")},
            "subjects": sorted({v.subject for v in videos}),
        },
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".spotter-", dir=out_dir.parent))  # nothing half-written under out_dir
    staging.chmod(shared_mode(0o777))  # mkdtemp's folder is its owner's alone; an export is shared and archived like the run
    try:
        fitted.save(staging)
        write_text_atomic(staging / SPOTTER_FILE, json.dumps(record, indent=2), "the spotter export")
        shutil.rmtree(out_dir, ignore_errors=True)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir
