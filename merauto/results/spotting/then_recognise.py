"""The spot-then-recognise score of a spotting run: its nested spotting of micro-expressions, then a
recognition export's label for every micro-expression it spotted correctly.

Per test subject, the spotter is the per-fold selection's (the trial with the best inner F1 of
that subject's fold, chosen without the subject), and its intervals are those its fold spotted
(stored by the search). Each spotted micro-expression that matches a coded one (IoU >= 0.5, as
MEGC's script matches: :mod:`merauto.evaluator.spotting_metrics`) is classified by the export as a
clip with the spotted onset, apex and offset. As MEGC2023's official STRS script scores the
spot-then-recognise task (:mod:`merauto.evaluator.strs`), the score is the product of two stages:

- spotting F1 (SF1): micro-expression F1, pooled over test subjects;
- analysis F1 (AF1): the harmonic mean of the macro precision and the macro recall of the
  recognised labels of those true positives against their coded labels, over the coded classes
  (a true positive coded as none of the export's classes counts, and is never recognised right);
- STRS = SF1 x AF1, with a subject-bootstrap interval.

The export is fixed before this runs and must not have been trained on these subjects (a
recognition model that saw a test subject would inflate AF1); no test subject informs any choice
here.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console

from merauto.atomic import write_text_atomic
from merauto.data.cache import FeatureCache
from merauto.data.clip_list import NewClip
from merauto.data.long_videos.folders import LongVideo
from merauto.errors import MerautoError
from merauto.evaluator.spotting import Spotted
from merauto.evaluator.spotting_metrics import SpotCounts, matched_pairs, subject_counts
from merauto.evaluator.strs import analyse
from merauto.results.export.pipeline import load_export
from merauto.results.report.tables import print_rows
from merauto.results.spotting.report import per_fold_choice
from merauto.results.spotting.store import SpotTrial

STR_FILE = "spot_then_recognise.json"


@dataclass(frozen=True)
class Recognised:
    """A correctly spotted micro-expression: its subject, video, spotted frames and apex, coded and recognised label."""

    subject: str
    video: str
    start: int
    apex: int
    end: int
    truth: str
    label: str


@dataclass(frozen=True)
class StrScore:
    """Both stages of spot-then-recognise, per test subject."""

    spotting: dict[str, SpotCounts]  # subject -> micro-expression counts
    recognised: list[Recognised]
    classes: tuple[str, ...]  # the export's
    coded: dict[str, tuple[str, ...]]  # subject -> the classes its micro-expressions are coded as

    @property
    def outside_classes(self) -> int:
        """True positives coded as none of the export's classes (scored, as MEGC scores them, and never recognised right)."""
        return sum(r.truth not in self.classes for r in self.recognised)

    def sf1(self, subjects: list[str] | None = None) -> float:
        return sum((self.spotting[s] for s in subjects or self.spotting), SpotCounts()).f1

    def af1(self, subjects: list[str] | None = None) -> float:
        """MEGC's analysis F1 of ``subjects``' true positives (all by default), over the classes those subjects are coded as."""
        subjects = subjects or list(self.spotting)
        pairs = [(r.truth, r.label) for s in subjects for r in self.recognised if r.subject == s]
        return analyse(pairs, (label for s in subjects for label in self.coded[s])).f1

    def strs(self, subjects: list[str] | None = None) -> float:
        return self.sf1(subjects) * self.af1(subjects)

    def interval(self, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
        """95% percentile interval of STRS when whole subjects are resampled with replacement."""
        subjects = sorted(self.spotting)
        rng = np.random.default_rng(seed)
        values = [self.strs([subjects[i] for i in rng.integers(0, len(subjects), len(subjects))]) for _ in range(n_resamples)]
        low, high = np.percentile(values, [2.5, 97.5])
        return float(low), float(high)


def require_labels(videos: list[LongVideo]) -> None:
    """Refuse a set whose micro-expressions carry no class label (nothing to compare the recognised labels with)."""
    micro = [t for v in videos for t in v.truth if t.kind == "micro"]
    if not micro or not any(t.label for t in micro):
        raise MerautoError(
            "--recognise needs the coded class of each micro-expression, and these long videos code none",
            "add a label column to the annotations (the synthetic long videos have one), or drop --recognise",
        )


def _classify(pipeline: object, video: LongVideo, spans: list[Spotted], cache: FeatureCache) -> list[str]:
    """The export's label of each spotted interval of ``video``, each read as a clip of its own frames."""
    with tempfile.TemporaryDirectory(prefix="merauto-str-") as scratch:
        clips = []
        for k, s in enumerate(spans):
            folder = Path(scratch) / f"clip{k}"
            folder.mkdir()
            for n in range(s.interval.start, s.interval.end + 1):
                cv2.imwrite(str(folder / f"img{n + 1:05d}.png"), video.frames[n])
            clips.append(NewClip(folder, s.interval.start + 1, s.apex + 1, s.interval.end + 1))
        return [label for _, label, _ in pipeline.predict_clips(clips, cache)] if clips else []  # type: ignore[attr-defined]


def spot_then_recognise(
    trials: list[SpotTrial], videos: list[LongVideo], export_dir: Path, cache_dir: Path, runtime: str = "torch"
) -> StrScore:
    """Both stages for the per-fold selection of ``trials`` over ``videos``, recognised by the export in ``export_dir``."""
    require_labels(videos)
    pipeline = load_export(export_dir, runtime=runtime)
    cache = FeatureCache(cache_dir)
    spotting, recognised, coded = {}, [], {}
    for subject, trial in per_fold_choice(trials).items():
        found = trial.spotted(subject)
        matched = []
        for video in (v for v in videos if v.subject == subject):
            spotted = [s for s in found.get(video.name, []) if s.interval.kind == "micro"]
            truth = [t for t in video.truth if t.kind == "micro"]
            matched.append(([s.interval for s in spotted], truth))
            pairs = [(spotted[i], truth[j]) for i, j in matched_pairs([s.interval for s in spotted], truth)]
            labels = _classify(pipeline, video, [s for s, _ in pairs], cache)
            recognised += [
                Recognised(subject, video.name, s.interval.start, s.apex, s.interval.end, t.label, label)
                for (s, t), label in zip(pairs, labels, strict=True)
            ]
        spotting[subject] = subject_counts(matched)
        coded[subject] = tuple(t.label for _, truth in matched for t in truth)
    return StrScore(spotting, recognised, tuple(pipeline.classes), coded)


def str_rows(score: StrScore, n_resamples: int = 1000) -> list[dict[str, str]]:
    """The score's table: each stage and their product, over every test subject."""
    spotted = sum(score.spotting.values(), SpotCounts())
    correct = sum(r.label == r.truth for r in score.recognised)
    low, high = score.interval(n_resamples)
    return [
        {
            "stage": "spotting F1 (SF1), micro",
            "value": f"{score.sf1():.3f}",
            "from": f"TP {spotted.tp} / FP {spotted.fp} / FN {spotted.fn}",
        },
        {
            "stage": "analysis F1 (AF1)",
            "value": f"{score.af1():.3f}",
            "from": f"{correct} of {len(score.recognised)} true positives recognised"
            + (f"; {score.outside_classes} coded outside the export's classes" if score.outside_classes else ""),
        },
        {"stage": "STRS = SF1 x AF1", "value": f"{score.strs():.3f} [{low:.3f}, {high:.3f}]", "from": "95% subject-bootstrap interval"},
    ]


def print_str(score: StrScore, console: Console, n_resamples: int = 1000) -> None:
    """The spot-then-recognise score on the terminal."""
    print_rows(console, f"spot, then recognise ({', '.join(score.classes)}): per-fold selection, nested", str_rows(score, n_resamples))


def write_str(score: StrScore, path: Path) -> Path:
    """The score and every recognised true positive as JSON (atomically)."""
    record = {
        "sf1": score.sf1(),
        "af1": score.af1(),
        "strs": score.strs(),
        "classes": list(score.classes),
        "outside_classes": score.outside_classes,
        "coded": {s: list(labels) for s, labels in score.coded.items()},
        "spotting": {s: asdict(c) for s, c in score.spotting.items()},
        "recognised": [asdict(r) for r in score.recognised],
    }
    return write_text_atomic(path, json.dumps(record, indent=1), "the spot-then-recognise score")
