"""`merauto datasets check`: per-source counts and every problem found, grouped by kind."""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from merauto.data.checks.findings import Finding, LoadedDataset

EXAMPLES = 3  # warnings shown per kind
ERRORS_SHOWN = 20  # errors shown per kind


def _source_rows(loaded: LoadedDataset) -> list[tuple[str, list[str]]]:
    index = loaded.index
    sources = sorted({s.dataset for s in index} | set(loaded.expected) | {f.source for f in loaded.findings if f.source in loaded.expected})
    errors = Counter(f.source for f in loaded.errors)
    warned = {source: len({f.sample or f.message for f in loaded.warnings if f.source == source}) for source in sources}
    rows = []
    for source in sources:
        samples = [s for s in index if s.dataset == source]
        counts = Counter(s.label for s in samples)
        expected = loaded.expected.get(source)
        rows.append(
            (
                source,
                [
                    f"{len(samples)}/{expected}" if expected is not None else str(len(samples)),
                    str(len({s.subject for s in samples})),
                    "/".join(str(counts[c]) for c in index.classes),
                    str(sum(len(s.frames) or len(s.precomputed) for s in samples)),
                    str(errors[source]),
                    str(warned[source]),
                ],
            )
        )
    return rows


def _grouped(findings: list[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        groups[finding.kind].append(finding)
    return groups


def print_check(loaded: LoadedDataset, console: Console) -> None:
    """Print the summary table, where each source came from, and the findings by kind."""
    index = loaded.index
    console.print(f"[bold]dataset {index.name}[/]: {len(index.classes)} classes, counted as {'/'.join(index.classes)}", highlight=False)
    for source, origin in loaded.origins.items():
        console.print(f"  {source}: {escape(origin)}", highlight=False)

    precomputed = index.precomputed is not None
    table = Table(box=None, header_style="bold")
    for column in ("source", "samples", "subjects", "classes", "files" if precomputed else "frames", "errors", "warned"):
        table.add_column(column, justify="left" if column == "source" else "right", no_wrap=True)
    rows = _source_rows(loaded)
    for source, cells in rows:
        table.add_row(source, *cells)
    if len(rows) > 1:
        summary = index.summary()
        expected = sum(loaded.expected.values()) if loaded.expected else None
        table.add_row(
            "[bold]total[/]",
            f"{len(index)}/{expected}" if expected is not None else str(len(index)),
            str(summary["subjects"]),
            "/".join(str(summary["classes"][c]) for c in index.classes),
            str(sum(len(s.frames) or len(s.precomputed) for s in index)),
            str(len(loaded.errors)),
            str(sum(int(cells[-1]) for _, cells in rows)),
        )
    console.print(table)

    print_findings(console, loaded.warnings, loaded.errors, "merauto search", "dataset")


def print_findings(console: Console, warnings: list[Finding], errors: list[Finding], command: str, what: str) -> None:
    """Warnings by kind (counted per source, a few examples) and errors by kind (up to :data:`ERRORS_SHOWN`
    each), then whether ``command`` can use the ``what`` (dataset, set)."""
    if warnings:
        console.print(f"[bold]warnings[/] ({command} runs with these):")
        for kind, group in _grouped(warnings).items():
            by_source = Counter(f.source for f in group)
            console.print(f"  {kind}: {len(group)} ({', '.join(f'{s} {n}' for s, n in sorted(by_source.items()))}), e.g.", highlight=False)
            for finding in group[:EXAMPLES]:
                console.print(f"    {escape(finding.line())}", highlight=False)
    if errors:
        console.print(f"[bold red]errors[/] ({command} refuses the {what} until they are fixed):")
        for kind, group in _grouped(errors).items():
            console.print(f"  {kind}: {len(group)}", highlight=False)
            for finding in group[:ERRORS_SHOWN]:
                console.print(f"    {escape(finding.line())}", highlight=False)
            if len(group) > ERRORS_SHOWN:
                console.print(f"    ... and {len(group) - ERRORS_SHOWN} more")
        console.print(f"[bold red]{len(errors)} error(s)[/]: {command} would refuse this {what}")
    else:
        console.print(f"[bold green]ok[/]: {command} can use this {what}")
