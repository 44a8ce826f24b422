"""``merauto spot score``: MEGC's SF1, AF1 and STRS of a spotted table against a coded one
(:mod:`merauto.evaluator.strs`), with the counts behind them, as tables or as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from merauto.data.long_videos.expression_tables import COLUMNS, read_expressions
from merauto.errors import MerautoError
from merauto.evaluator.spotting_metrics import SpotCounts
from merauto.evaluator.strs import StrsScore, score_tables
from merauto.results.report.tables import print_rows


def score_files(truth: Path, spotted: Path) -> StrsScore:
    """The score of the CSV ``spotted`` (``--spotted``) against the CSV ``truth`` (``--truth``)."""
    coded = read_expressions(truth, "--truth")
    if not coded:
        raise MerautoError(f"--truth {truth} holds no rows", f"pass the coded expressions, one row each ({', '.join(COLUMNS)})")
    return score_tables(coded, read_expressions(spotted, "--spotted"))


def _counts(c: SpotCounts) -> dict[str, Any]:
    return {"tp": c.tp, "fp": c.fp, "fn": c.fn, "precision": c.precision, "recall": c.recall, "f1": c.f1}


def score_record(score: StrsScore) -> dict[str, Any]:
    """The score as plain data: both stages, their counts, each emotion's, and the rows left unscored."""
    return {
        "sf1": score.sf1,
        "af1": score.af1,
        "strs": score.strs,
        "spotting": _counts(score.spotting),
        "analysis": {
            "precision": score.analysis.precision,
            "recall": score.analysis.recall,
            "f1": score.analysis.f1,
            "emotions": {e: _counts(c) for e, c in score.analysis.counts.items()},
        },
        "unscored": {"truth": score.unscored_truth, "spotted": score.unscored_spotted},
    }


def score_json(score: StrsScore) -> str:
    """:func:`score_record` as JSON text."""
    return json.dumps(score_record(score), indent=1)


def print_score(score: StrsScore, console: Console) -> None:
    """The score as tables on ``console``, to 4 decimals as MEGC's script prints it."""
    s, a = score.spotting, score.analysis
    stages = [
        {
            "stage": "spotting F1 (SF1)",
            "value": f"{score.sf1:.4f}",
            "from": f"TP {s.tp} / FP {s.fp} / FN {s.fn}; P {s.precision:.4f}, R {s.recall:.4f}",
        },
        {
            "stage": "analysis F1 (AF1)",
            "value": f"{score.af1:.4f}",
            "from": f"macro P {a.precision:.4f}, macro R {a.recall:.4f} over {len(a.counts)} emotions",
        },
        {"stage": "STRS = SF1 x AF1", "value": f"{score.strs:.4f}", "from": "MEGC's STRS script's definitions"},
    ]
    print_rows(console, "spot-then-recognise score, as MEGC scores it", stages)
    emotions = [
        {"emotion": e, "TP": str(c.tp), "FP": str(c.fp), "FN": str(c.fn), "precision": f"{c.precision:.4f}", "recall": f"{c.recall:.4f}"}
        for e, c in a.counts.items()
    ]
    print_rows(console, "analysis of the spotting's true positives, per coded emotion", emotions)
    if score.unscored_truth or score.unscored_spotted:
        console.print(
            f"not scored, as MEGC's script leaves them out: {score.unscored_truth} coded row(s) of subjects with nothing spotted "
            f"(not false negatives), {score.unscored_spotted} spotted row(s) in videos with no coded row (not false positives)",
            highlight=False,
        )
