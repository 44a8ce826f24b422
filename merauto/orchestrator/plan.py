"""The studies of a search and the fold rungs each one's trials are scored on."""

from __future__ import annotations

from dataclasses import dataclass

from merauto.data.sample_index import SampleIndex
from merauto.evaluator.fidelity import fold_rungs, parse_pruning
from merauto.evaluator.nested import EvalData, study_folds
from merauto.results.run_dir import RunInfo, fold_study_name


def study_rungs(index: SampleIndex, info: RunInfo) -> list[list[int]]:
    """The study's fold rungs: one rung of every fold without pruning."""
    data = EvalData({}, index.labels, index.subjects, index.sources, index.ids, index.classes)
    folds = study_folds(data, info.evaluation)
    pruning = parse_pruning(info.pruning)
    if pruning is None:
        return [list(range(len(folds)))]
    return fold_rungs(folds, index.sources, info.evaluation.seed, pruning.reduction)


@dataclass(frozen=True)
class PlannedStudy:
    """One Optuna study of a search and the fold rungs its trials are scored on."""

    name: str
    rungs: list[list[int]]


def plan_studies(index: SampleIndex, info: RunInfo) -> list[PlannedStudy]:
    """One study over every fold; in ``strict`` mode one independent study per outer fold."""
    if not info.strict:
        return [PlannedStudy(info.study_name, study_rungs(index, info))]
    data = EvalData({}, index.labels, index.subjects, index.sources, index.ids, index.classes)
    folds = study_folds(data, info.evaluation)
    return [PlannedStudy(fold_study_name(info.study_name, k), [[k]]) for k in range(len(folds))]
