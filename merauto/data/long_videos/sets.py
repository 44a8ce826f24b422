"""The licensed long-video sets `merauto spot` reads from their distributed layouts, and where
under a data root (or a data config) each is found."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from merauto.data.locations import NATIVE_LAYOUTS, SEARCH_DEPTH, DataConfig, SourceLocation, locate, search_paths
from merauto.data.sources.casme2_lv import read_casme2_lv
from merauto.data.sources.long_video_catalogue import LongVideoCatalogue
from merauto.data.sources.samm_lv import read_samm_lv
from merauto.errors import MerautoError


@dataclass(frozen=True)
class LongVideoSet:
    """A long-video set: its reader and the frame step `merauto spot` takes by default (MEGC baselines' rates)."""

    read: Callable[[SourceLocation], LongVideoCatalogue]
    default_step: int
    videos_folder: str = ""  # where the dataset keeps its videos when the frame folder is absent


LONG_VIDEO_SETS: dict[str, LongVideoSet] = {
    "casme2-lv": LongVideoSet(read_casme2_lv, 1, "rawvideo"),  # 30 fps as recorded
    "samm-lv": LongVideoSet(read_samm_lv, 7),  # 200 fps / 7 = 28.6 fps
}


def _diagnosis(source: str, root: Path) -> MerautoError | None:
    """Which part of the set is missing under ``root`` when the frames or the coding sheet are there without the other."""
    layout = NATIVE_LAYOUTS[source]
    names = {n.lower() for n in layout.frames}
    frames, sheets, videos = [], [], []
    for path in search_paths(root):
        name = path.name.lower()
        if any(fnmatch.fnmatch(name, p.lower()) for p in layout.coding) and path.is_file():
            sheets.append(path)
        elif name in names and layout.holds_subjects(path):
            frames.append(path)
        elif name == LONG_VIDEO_SETS[source].videos_folder and path.is_dir():
            videos.append(path)
    if frames and not sheets:
        return MerautoError(
            f"{layout.title}: frames found at {frames[0]} but no coding sheet {' or '.join(layout.coding)} within {SEARCH_DEPTH} "
            f"folder levels of {root}",
            f"put the coding sheet as distributed ({layout.coding[0].replace('*', '')}) beside {frames[0]}, or give it in a "
            f"--data-config file ({layout.config_table(source)})",
        )
    if videos and not frames:
        return MerautoError(
            f"{layout.title}: {videos[0]} holds the videos, but there is no {layout.frames[0]} folder of their frames under {root}",
            f"copy {layout.frames[0]} from the dataset, or extract each video {videos[0]}/s15/15_0101....avi into "
            f"{videos[0].parent / layout.frames[0]}/s15/15_0101.../img1.jpg, img2.jpg, ... "
            "(e.g. ffmpeg -i VIDEO.avi -start_number 1 FOLDER/img%d.jpg)",
        )
    return None


def locate_long_videos(source: str, root: Path | None, config: DataConfig | None) -> SourceLocation:
    """Where the long-video set ``source`` is: from the config, or found under the root by its distributed names."""
    try:
        return locate(source, root, config)
    except MerautoError as exc:
        found = _diagnosis(source, root) if root is not None and root.is_dir() else None
        raise (found or exc) from None


def read_catalogue(source: str, root: Path | None, config: DataConfig | None) -> LongVideoCatalogue:
    """The set ``source``'s videos and coded intervals, with every problem as a finding (no frame decoded)."""
    return LONG_VIDEO_SETS[source].read(locate_long_videos(source, root, config))
