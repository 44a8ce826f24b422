"""From an annotated clip (a folder of numbered frames plus frame numbers) to a :class:`Sample`.

Every adapter (coding sheets, folder layouts, the generic manifest) describes its clips as
:class:`ClipSpec` and builds them here, so frame numbers become positions, typos are clipped
and problems are reported the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from merauto.data.checks import findings as kinds
from merauto.data.checks.findings import Finding
from merauto.data.frames import frame_number, ordered_frames
from merauto.data.sample_index import Sample
from merauto.errors import MerautoError


def frame_value(text: str | None) -> int | None:
    """A frame-number cell: empty, '/', 'n/a', negative and other non-numbers mean unannotated."""
    if text is None:
        return None
    try:
        value = int(float(text.strip()))
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass(frozen=True)
class ClipSpec:
    """One clip as its annotation describes it: ids, label, frame folder and frame numbers.

    ``where`` names the annotation (file and row) in messages; onset/offset ``None`` mean the
    clip's first/last frame; apex ``None`` means unannotated (it is then estimated).
    """

    id: str
    source: str
    subject: str
    label: str
    raw_label: str
    folder: Path
    onset: int | None
    apex: int | None
    offset: int | None
    fps: float
    where: str
    action_units: str = ""


def _position(numbers: list[int], wanted: int | None, default: int, what: str, spec: ClipSpec, notes: list[Finding]) -> int:
    """Position of onset/offset frame number ``wanted`` in the clip, clipped to the frames present."""
    if wanted is None:
        return default
    if wanted in numbers:
        return numbers.index(wanted)
    nearest = min(range(len(numbers)), key=lambda i: abs(numbers[i] - wanted))
    notes.append(
        Finding(
            spec.source,
            spec.id,
            kinds.CLIPPED_RANGE,
            f"{spec.where}: {what} frame {wanted} is not among frames {numbers[0]}..{numbers[-1]} of {spec.folder}; "
            f"clipped to {numbers[nearest]}",
            "correct the frame number in the annotation if the clip should be longer",
        )
    )
    return nearest


def build_sample(spec: ClipSpec) -> tuple[Sample | None, list[Finding]]:
    """The sample of ``spec`` (``None`` if it cannot be used) and everything found on the way."""

    def error(kind: str, message: str, fix: str) -> tuple[None, list[Finding]]:
        return None, [Finding(spec.source, spec.id, kind, f"{spec.where}: {message}", fix, error=True)]

    if not spec.folder.is_dir():
        return error(
            kinds.MISSING_FOLDER,
            f"frame folder {spec.folder} does not exist",
            "restore the sample's folder from the original dataset, or point merauto at the right folder (--data-root / --data-config)",
        )
    try:
        frames = ordered_frames(spec.folder)
        numbers = [frame_number(f) for f in frames]
    except MerautoError as exc:
        return error(kinds.UNREADABLE_FRAME, exc.problem, exc.fix or "")
    if len(frames) < 2:
        return error(
            kinds.TOO_FEW_FRAMES,
            f"{spec.folder} holds {len(frames)} frame(s); a clip needs at least two numbered frames",
            "restore the clip's frames from the original dataset",
        )
    if len(set(numbers)) < len(numbers):
        twice = sorted({n for n in numbers if numbers.count(n) > 1})[:3]
        return error(
            kinds.DUPLICATE_FRAME,
            f"{spec.folder} holds several frames numbered {twice} (e.g. raw and cropped copies mixed)",
            "keep one copy of each frame in the folder",
        )
    notes: list[Finding] = []
    onset = _position(numbers, spec.onset, 0, "onset", spec, notes)
    offset = _position(numbers, spec.offset, len(frames) - 1, "offset", spec, notes)
    if offset <= onset:
        return error(
            kinds.BAD_RANGE,
            f"offset frame {numbers[offset]} is not after onset frame {numbers[onset]} in {spec.folder}",
            "correct the onset/offset frame numbers in the annotation",
        )
    apex = numbers.index(spec.apex) if spec.apex in numbers else None
    if spec.apex is not None and (apex is None or not onset <= apex <= offset):
        inside = numbers[onset] <= spec.apex <= numbers[offset]
        reason = "is missing from" if inside else f"lies outside the clip (onset..offset {numbers[onset]}..{numbers[offset]}) in"
        notes.append(
            Finding(
                spec.source,
                spec.id,
                kinds.ESTIMATED_APEX,
                f"{spec.where}: apex frame {spec.apex} {reason} {spec.folder}; it will be estimated from optical flow",
                "correct the apex frame number in the annotation",
            )
        )
        apex = None
    elif spec.apex is None:
        notes.append(
            Finding(
                spec.source,
                spec.id,
                kinds.ESTIMATED_APEX,
                f"{spec.where}: apex not annotated; it will be estimated from optical flow",
            )
        )
    sample = Sample(
        id=spec.id,
        dataset=spec.source,
        subject=spec.subject,
        label=spec.label,
        frames=tuple(frames),
        onset=onset,
        apex=apex,
        offset=offset,
        fps=spec.fps,
        raw_label=spec.raw_label,
        action_units=spec.action_units,
        frame_numbers=tuple(numbers),
        warnings=tuple(n.message for n in notes),
    )
    return sample, notes


def folder_clip(
    folder: Path, onset: int | None, apex: int | None, label: str, offset: int | None = None, where: str = "", sample_id: str | None = None
) -> Sample:
    """A new clip (not in any dataset) from a folder of numbered frames: onset at frame ``onset``
    (default: the first), apex at ``apex`` (default: estimated), offset at ``offset`` (default: the last).

    ``where`` names the annotation in messages (a CSV file and line, whose columns are then named);
    empty, the folder and frame numbers came from the command line (a clip folder, ``--onset``, ``--apex``). ``sample_id``
    defaults to the folder.
    """

    def cell(what: str, value: object) -> str:
        return f"{where}, column {what} ({value})" if where else f"--{what} {value}"

    if not Path(folder).is_dir():
        named = cell("folder", folder) if where else f"clip folder {folder}"  # a positional argument, not an option
        raise MerautoError(f"{named}: no such folder", "pass a folder of the clip's numbered frames")
    frames = ordered_frames(folder)
    if len(frames) < 2:
        raise MerautoError(
            f"{f'{where}: ' if where else ''}{folder} holds {len(frames)} frame(s); a clip needs at least two numbered frames",
            "pass a folder of the clip's frames",
        )
    numbers = [frame_number(f) for f in frames]

    def position(number: int | None, default: int, what: str) -> int:
        if number is None:
            return default
        if number not in numbers:
            raise MerautoError(
                f"{cell(what, number)}: {folder} has frames {numbers[0]}..{numbers[-1]}", "pass a frame number present in the folder"
            )
        return numbers.index(number)

    first = position(onset, 0, "onset")
    last = position(offset, len(frames) - 1, "offset")
    if last <= first:
        raise MerautoError(
            f"{cell('offset', numbers[last])}: the offset is not after the onset (frame {numbers[first]})",
            "pass an offset frame after the onset frame",
        )
    peak = position(apex, first, "apex") if apex is not None else None
    if peak is not None and not first <= peak <= last:
        raise MerautoError(
            f"{cell('apex', apex)}: the apex lies outside the clip (onset..offset {numbers[first]}..{numbers[last]})",
            "pass an apex frame between the onset and the offset",
        )
    return Sample(
        id=str(folder) if sample_id is None else sample_id,
        dataset="new",
        subject="",
        label=label,
        frames=tuple(frames),
        onset=first,
        apex=peak,
        offset=last,
        fps=0.0,
        frame_numbers=tuple(numbers),
    )
