"""`merauto prepare`: fill the feature cache ahead of a search and say what was computed and what was cached."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from merauto.data.cache import FeatureCache
from merauto.data.clip import Step
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import FeatureBuilder
from merauto.data.inputs import INPUTS, InputKind
from merauto.data.streams import PREPROCESSING, StreamSpec
from merauto.errors import MerautoError
from merauto.search_space.space import SpaceContext

SPACES = {
    "defaults": "each input's default streams, without preprocessing (what merauto search prepares itself)",
    "full": "every stream a search can sample: each input's and preprocessing step's searched values, combined",
}


def check_space(space: str) -> None:
    """Refuse a ``--space`` that is not one of :data:`SPACES`."""
    if space not in SPACES:
        raise MerautoError(f"--space {space!r} is not a space merauto knows", f"choose one of: {', '.join(SPACES)}")


def _steps(slots: frozenset[str], context: SpaceContext) -> list[dict[str, Step]]:
    """Every combination of the searchable preprocessing steps acting on ``slots``."""
    options = [[(slot, (c.name, params)) for c in PREPROCESSING[slot] if c.available(context) for params in c.grid()] for slot in slots]
    return [dict(combination) for combination in itertools.product(*options)]


def space_streams(space: str, context: SpaceContext, inputs: list[str] | None = None) -> list[StreamSpec]:
    """The streams of ``space`` (see :data:`SPACES`) for the inputs the dataset can give (or those named)."""
    check_space(space)
    kinds: list[InputKind] = [INPUTS.get(name) for name in inputs] if inputs else [k for k in INPUTS if k.available(context)]
    unavailable = [k.name for k in kinds if not k.available(context)]
    if unavailable:
        raise MerautoError(
            f"--inputs {', '.join(unavailable)} cannot run on this dataset (they need landmarks)", "add landmarks.json to every clip"
        )
    specs: set[StreamSpec] = set()
    for kind in kinds:
        if space == "defaults":
            specs.update(kind.streams(kind.resolve({})).values())
            continue
        for params in kind.grid():
            for upstream in _steps(kind.uses(params), context):
                specs.update(kind.streams(params, upstream).values())
    return sorted(specs, key=str)


@dataclass
class PrepareSummary:
    """What one `merauto prepare` did, per stream kind."""

    streams: int
    clips: int
    computed: int
    cached: int
    seconds: float
    by_kind: dict[str, Counter] = field(default_factory=dict)
    registrations: Counter = field(default_factory=Counter)


def run_prepare(
    request: DatasetRequest, cache_dir: Path, space: str, inputs: list[str] | None = None, console: Console | None = None
) -> PrepareSummary:
    """Compute (or find cached) every stream of ``space`` for the dataset of ``request``."""
    console = console or Console(stderr=True)
    check_space(space)  # bad options fail before any data is generated
    unknown = [name for name in inputs or [] if name not in INPUTS]
    if unknown:
        raise MerautoError(f"--inputs {', '.join(unknown)}: no such input", f"choose among: {', '.join(INPUTS.names())}")
    with console.status(f"loading dataset {request.label()} (generated on first use)"):
        index = load_index(request, cache_dir)
    specs = space_streams(space, SpaceContext.of(index), inputs)
    builder = FeatureBuilder(index, FeatureCache(cache_dir))
    for spec in specs:
        builder.check(spec)
    console.print(f"{len(specs)} stream(s) x {len(index)} clips of {index.name} ({space} space), cache {builder.cache.root}")
    started = time.perf_counter()
    with console.status("preparing") as status:
        for i, spec in enumerate(specs, start=1):
            status.update(f"[{i}/{len(specs)}] {spec}")
            builder.stream(spec)
    stats = builder.stats
    return PrepareSummary(
        len(specs), len(index), stats.computed, stats.cached, time.perf_counter() - started, stats.by_kind, stats.registrations
    )


def print_summary(summary: PrepareSummary, console: Console) -> None:
    """A table of computed and cached arrays per stream kind, then the face registration outcomes."""
    table = Table(title=f"{summary.streams} stream(s) x {summary.clips} clips in {summary.seconds:.1f} s")
    for column in ("stream kind", "computed", "cached"):
        table.add_column(column, justify="left" if column == "stream kind" else "right")
    for kind, counts in sorted(summary.by_kind.items()):
        table.add_row(kind, str(counts["computed"]), str(counts["cached"]))
    table.add_row("total", str(summary.computed), str(summary.cached), style="bold")
    console.print(table)
    if summary.registrations:
        outcomes = dict(summary.registrations)
        console.print(f"face registration (clip x detector settings): {outcomes}; face_box and full_frame are fallbacks")
