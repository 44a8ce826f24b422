"""An exported spotter: the selected spotting trial's parameters with thresholds chosen on every
subject (``spotter.json``), and what ``merauto predict --video`` runs with it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from merauto import __version__
from merauto.atomic import write_text_atomic
from merauto.data.long_videos import LongVideo
from merauto.errors import MerautoError
from merauto.evaluator.spotting import Spotted, SpotterParams, VideoSignal, choose_thresholds, spot_video, video_signals
from merauto.results.spot_report import spot_estimates
from merauto.results.spot_store import SpotTrial

SPOTTER_FILE = "spotter.json"


@dataclass(frozen=True)
class ExportedSpotter:
    """A spotter ready for new videos: its parameters, per-type thresholds, frame rate and frame size."""

    params: SpotterParams
    thresholds: dict[str, float]
    fps: float
    frame_size: tuple[int, int]  # (height, width) of the frames it was chosen on
    provenance: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> ExportedSpotter:
        """Read ``folder/spotter.json`` (a clear error when it is missing or broken)."""
        path = Path(folder) / SPOTTER_FILE
        try:
            record = json.loads(path.read_text())
            return cls(
                SpotterParams(**record["params"]), record["thresholds"], record["fps"], tuple(record["frame_size"]), record["provenance"]
            )
        except FileNotFoundError:
            raise MerautoError(f"{folder} holds no {SPOTTER_FILE}", "pass a folder written by merauto spot --export") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise MerautoError(f"{path} is not a spotter export ({exc})", "export it again with merauto spot --export") from None

    def spot(self, frames: np.ndarray) -> tuple[list[Spotted], VideoSignal]:
        """The intervals spotted in ``frames`` (grey, the export's frame size), and the signals they were found in."""
        if frames.shape[1:] != self.frame_size:
            raise MerautoError(
                f"the video's frames are {frames.shape[2]}x{frames.shape[1]}, the spotter's {self.frame_size[1]}x{self.frame_size[0]}",
                "resize the frames to the size the spotter was chosen on (flow magnitudes are in pixels)",
            )
        return spot_video(frames, self.fps, self.params, self.thresholds)


def export_spotter(trials: list[SpotTrial], videos: list[LongVideo], out_dir: Path) -> Path:
    """Write the globally selected trial's spotter with thresholds chosen on every subject of ``videos``."""
    estimate = spot_estimates(trials)[0]
    best = max(trials, key=lambda t: (t.objective, -t.number))
    params = SpotterParams(**best.params)
    thresholds = choose_thresholds(video_signals(videos, params))
    record = {
        "merauto_version": __version__,
        "params": asdict(params),
        "thresholds": thresholds,
        "fps": videos[0].fps,
        "frame_size": list(videos[0].frames.shape[1:]),
        "provenance": {
            "trial": best.number,
            "inner_f1": best.objective,
            "global_selection_test_f1": {kind: estimate.pooled(kind).f1 for kind in ("micro", "macro", "overall")},
            "subjects": sorted({v.subject for v in videos}),
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / SPOTTER_FILE, json.dumps(record, indent=2), "the spotter export")
    return out_dir
