"""The results store: every finished trial's config, scores and predictions (SQLAlchemy).

Only the search driver writes it (one writer; workers hand results back through Ray).
Test predictions live here and nowhere the sampler or pruner can read.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Engine, Float, Integer, String, Text, create_engine, delete, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from merauto.errors import MerautoError
from merauto.evaluator.nested import TrialOutcome
from merauto.faults import crash_point
from merauto.pipeline.config import PipelineConfig
from merauto.results.run_dir import RESULTS_FILE
from merauto.results.sqlite_files import check_sqlite_writable, sqlite_failure


class _Base(DeclarativeBase):
    pass


class TrialRow(_Base):
    """One finished trial: config, state, objective, outcome (with test predictions) and error."""

    __tablename__ = "trials"

    study: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # "complete", "pruned" (some folds only) or "failed"
    preset: Mapped[str | None] = mapped_column(String(64), nullable=True)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    objective: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_params: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime)


class TrialCostRow(_Base):
    """A finished trial's measured cost beyond its parameter count, and whether it met the run's limits."""

    __tablename__ = "trial_costs"

    study: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    feasible: Mapped[bool] = mapped_column(Boolean)


class TrialTimingRow(_Base):
    """A trial's predicted and measured training time and the work the cost model counted."""

    __tablename__ = "trial_timings"

    study: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str] = mapped_column(String(200))  # cost_model.device_kind: "cpu x1" or a CUDA device's name
    predicted_s: Mapped[float] = mapped_column(Float)
    train_s: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: not trained (predicted over a limit)
    gflop: Mapped[float] = mapped_column(Float)
    mops: Mapped[float] = mapped_column(Float)
    gelements: Mapped[float] = mapped_column(Float)
    work_fraction: Mapped[float] = mapped_column(Float)  # folds trained / folds (below 1 for a trial pruned after a rung)
    busy_s: Mapped[float | None] = mapped_column(Float, nullable=True)  # CPU seconds of training per torch thread (CPU devices)


@dataclass(frozen=True)
class TrialTiming:
    """A trial's row of ``trial_timings``."""

    number: int
    device: str
    predicted_s: float
    train_s: float | None
    gflop: float
    mops: float
    gelements: float
    work_fraction: float
    busy_s: float | None = None  # CPU seconds per torch thread while it trained: its time on an otherwise idle machine

    @property
    def load(self) -> float | None:
        """How much longer training took than the CPU it used (1: an idle machine; 2: it got half the cores it asked for)."""
        return self.train_s / self.busy_s if self.train_s and self.busy_s else None


class PredictionRow(_Base):
    """One outer-test prediction, for SQL users; the full record is ``TrialRow.outcome``."""

    __tablename__ = "test_predictions"

    study: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    fold: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(100))
    y_true: Mapped[int] = mapped_column(Integer)
    y_pred: Mapped[int] = mapped_column(Integer)
    probs: Mapped[str] = mapped_column(Text)


class SelectionRow(_Base):
    """A final estimate as last computed by ``merauto report``: which trial served each fold, and its scores."""

    __tablename__ = "selections"

    study: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)  # "global selection", "per-fold selection", ...
    description: Mapped[str] = mapped_column(Text)
    fold_trials: Mapped[dict[str, int]] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(DateTime)


class RepeatRow(_Base):
    """One rerun of a trial's pipeline with another seed (``merauto repeat``)."""

    __tablename__ = "repeats"

    study: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(Integer, primary_key=True)
    inner_uf1: Mapped[float] = mapped_column(Float)
    outer_uf1: Mapped[float] = mapped_column(Float)
    outer_uar: Mapped[float] = mapped_column(Float)
    outer_accuracy: Mapped[float] = mapped_column(Float)


class RepeatFoldRow(_Base):
    """One outer fold's inner-validation UF1 in a rerun of a trial (what a per-fold selection over seeds reads)."""

    __tablename__ = "repeat_folds"

    study: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(Integer, primary_key=True)
    fold: Mapped[int] = mapped_column(Integer, primary_key=True)
    inner_uf1: Mapped[float] = mapped_column(Float)


class ConfirmationRow(_Base):
    """A trial re-evaluated by ``merauto confirm``: a candidate of the confirmed selection."""

    __tablename__ = "confirmations"

    study: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)


@dataclass(frozen=True)
class RepeatRecord:
    """One repetition of a trial with another seed: its inner and outer scores."""

    trial: int
    seed: int
    inner_uf1: float
    outer_uf1: float
    outer_uar: float
    outer_accuracy: float


def repeated_scores(records: list[RepeatRecord]) -> dict[str, float | int]:
    """Mean and standard deviation of each score over a trial's repetitions (for an export's provenance)."""
    summary: dict[str, float | int] = {"seeds": len(records)}
    for score in ("inner_uf1", "outer_uf1", "outer_uar"):
        values = [getattr(r, score) for r in records]
        summary[f"{score}_mean"] = statistics.fmean(values)
        summary[f"{score}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return summary


@dataclass(frozen=True)
class StoredTrial:
    """A finished trial as read back from the store."""

    number: int
    state: str
    preset: str | None
    config: PipelineConfig | None
    objective: float | None
    n_params: int | None
    seconds: float | None
    error: str | None
    outcome: TrialOutcome | None
    latency_ms: float | None = None  # measured where an objective or limit needs it
    feasible: bool = True  # within --max-params / --max-latency-ms (infeasible trials are never selected)
    repeat_inner: tuple[float, ...] = ()  # pooled inner-validation UF1 of each stored repetition with a new seed
    repeat_fold_inner: dict[int, dict[int, float]] = field(default_factory=dict)  # by seed: a repetition's inner UF1 per outer fold
    confirmed: bool = False  # a candidate of merauto confirm's re-evaluation

    @property
    def confirmed_score(self) -> float:
        """Mean pooled inner-validation UF1 over the search's seed and every stored repetition."""
        return statistics.fmean([self.objective, *self.repeat_inner])

    def confirmed_fold_score(self, fold: int) -> float:
        """Mean fold-``fold`` inner-validation UF1 over the search's seed and every repetition that stored it."""
        search = next(f.selection.inner_uf1 for f in self.outcome.folds if f.selection.fold == fold)
        return statistics.fmean([search, *(r[fold] for r in self.repeat_fold_inner.values() if fold in r)])


def _add_missing_columns(engine: Engine) -> None:
    """Nullable columns added after a run folder was written (``trial_timings.busy_s``), added to its file."""
    present = {c["name"] for c in inspect(engine).get_columns(TrialTimingRow.__tablename__)}
    if "busy_s" not in present:
        with engine.begin() as connection:
            connection.execute(text(f"ALTER TABLE {TrialTimingRow.__tablename__} ADD COLUMN busy_s FLOAT"))


class ResultsStore:
    """Read and write trial results in ``<run_dir>/results.db``."""

    def __init__(self, run_dir: Path) -> None:
        self.path = (Path(run_dir) / RESULTS_FILE).resolve()
        self.engine = create_engine(f"sqlite:///{self.path}")
        try:
            _Base.metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
        except SQLAlchemyError as exc:
            raise self.error(exc) from None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}  # Ray Tune pickles its searcher; engines do not pickle

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"].parent)

    def error(self, exc: BaseException) -> MerautoError:
        """A clear error for a failed read or write of this store (read-only file or folder, full disk, corrupt file)."""
        return sqlite_failure(self.path, "the results store", exc)

    def check_writable(self) -> None:
        """Write to the store and roll it back: a read-only file or folder fails here, before any trial trains."""
        check_sqlite_writable(self.path, "the results store")

    def record(
        self,
        study: str,
        number: int,
        *,
        state: str,
        config: PipelineConfig | None,
        preset: str | None,
        outcome: TrialOutcome | None = None,
        n_params: int | None = None,
        seconds: float | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
        feasible: bool = True,
    ) -> None:
        """Store one finished trial (replacing an earlier record of the same number).

        ``state`` is ``complete`` (every fold), ``pruned`` (stopped after a rung: its partial
        outcome is kept for analysis but can never be selected; or never trained, with no outcome
        and the reason in ``error``) or ``failed``.
        """
        if state not in ("complete", "pruned", "failed") or (outcome is None and state == "complete") or (outcome and state == "failed"):
            raise ValueError(f"inconsistent trial record: state {state!r} with outcome {outcome is not None}")
        row = TrialRow(
            study=study,
            number=number,
            state=state,
            preset=preset,
            config=config.to_dict() if config else None,
            objective=outcome.objective() if outcome else None,
            n_params=n_params,
            seconds=seconds,
            error=error,
            outcome=outcome.to_json() if outcome else None,
            finished_at=datetime.now(timezone.utc),
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.merge(row)
                session.merge(TrialCostRow(study=study, number=number, latency_ms=latency_ms, feasible=feasible))
                self._merge_predictions(session, study, number, outcome)
                crash_point("store-write")
        except SQLAlchemyError as exc:
            raise self.error(exc) from None

    def _merge_predictions(self, session: Session, study: str, number: int, outcome: TrialOutcome | None) -> None:
        for fold in outcome.folds if outcome else []:
            for i, sample_id in enumerate(fold.test.ids):
                session.merge(
                    PredictionRow(
                        study=study,
                        number=number,
                        sample_id=sample_id,
                        fold=fold.test.fold,
                        subject=fold.test.subjects[i],
                        source=fold.test.sources[i],
                        y_true=fold.test.y_true[i],
                        y_pred=fold.test.y_pred[i],
                        probs=json.dumps(fold.test.probs[i]),
                    )
                )

    def forget(self, study: str, numbers: list[int]) -> None:
        """Drop the records of trials that run again (interrupted between storing and telling Optuna)."""
        if not numbers:
            return
        try:
            with Session(self.engine) as session, session.begin():
                for table in (TrialRow, PredictionRow, TrialCostRow, TrialTimingRow):
                    session.execute(delete(table).where(table.study == study, table.number.in_(numbers)))
        except SQLAlchemyError as exc:
            raise self.error(exc) from None

    def record_timing(self, study: str, timing: TrialTiming) -> None:
        """Store (or replace) a trial's predicted and measured training time."""
        try:
            with Session(self.engine) as session, session.begin():
                session.merge(TrialTimingRow(study=study, **asdict(timing)))
        except SQLAlchemyError as exc:
            raise self.error(exc) from None

    def timings(self, study: str) -> list[TrialTiming]:
        """Every stored timing of ``study``, by trial number."""
        with Session(self.engine) as session:
            rows = session.scalars(select(TrialTimingRow).where(TrialTimingRow.study == study).order_by(TrialTimingRow.number)).all()
            return [
                TrialTiming(r.number, r.device, r.predicted_s, r.train_s, r.gflop, r.mops, r.gelements, r.work_fraction, r.busy_s)
                for r in rows
            ]

    def record_selection(self, study: str, name: str, description: str, fold_trials: dict[int, Any], scores: dict[str, Any]) -> None:
        """Store (or replace) one labelled final estimate (``fold_trials``: fold -> trial number, or an ensemble's {trial: weight})."""
        row = SelectionRow(
            study=study,
            name=name,
            description=description,
            fold_trials={str(k): v for k, v in fold_trials.items()},
            scores=scores,
            computed_at=datetime.now(timezone.utc),
        )
        with Session(self.engine) as session, session.begin():
            session.merge(row)

    def selections(self, study: str) -> list[SelectionRow]:
        with Session(self.engine) as session:
            rows = session.scalars(select(SelectionRow).where(SelectionRow.study == study).order_by(SelectionRow.name)).all()
            session.expunge_all()
            return list(rows)

    def record_repeat(self, study: str, record: RepeatRecord, fold_inner: dict[int, float] | None = None) -> None:
        """Store a repetition, with its inner-validation UF1 per outer fold when given."""
        with Session(self.engine) as session, session.begin():
            for fold, value in (fold_inner or {}).items():
                session.merge(RepeatFoldRow(study=study, number=record.trial, seed=record.seed, fold=fold, inner_uf1=value))
            session.merge(
                RepeatRow(
                    study=study,
                    number=record.trial,
                    seed=record.seed,
                    inner_uf1=record.inner_uf1,
                    outer_uf1=record.outer_uf1,
                    outer_uar=record.outer_uar,
                    outer_accuracy=record.outer_accuracy,
                )
            )

    def repeats(self, study: str) -> list[RepeatRecord]:
        """Every stored repetition of ``study``'s trials, by trial and seed."""
        with Session(self.engine) as session:
            rows = session.scalars(select(RepeatRow).where(RepeatRow.study == study).order_by(RepeatRow.number, RepeatRow.seed)).all()
            return [RepeatRecord(r.number, r.seed, r.inner_uf1, r.outer_uf1, r.outer_uar, r.outer_accuracy) for r in rows]

    def record_confirmation(self, study: str, numbers: list[int]) -> None:
        """Mark ``numbers`` as the candidates of ``study``'s confirmed selection."""
        with Session(self.engine) as session, session.begin():
            for number in numbers:
                session.merge(ConfirmationRow(study=study, number=number))

    def study_names(self) -> list[str]:
        """Every study with at least one stored trial."""
        with Session(self.engine) as session:
            return sorted(session.scalars(select(TrialRow.study).distinct()).all())

    def trials(self, study: str) -> list[StoredTrial]:
        """Every stored trial of ``study``, by trial number."""
        with Session(self.engine) as session:
            rows = session.scalars(select(TrialRow).where(TrialRow.study == study).order_by(TrialRow.number)).all()
            costs = {c.number: c for c in session.scalars(select(TrialCostRow).where(TrialCostRow.study == study)).all()}
            repeats: dict[int, list[float]] = {}
            for r in session.scalars(select(RepeatRow).where(RepeatRow.study == study).order_by(RepeatRow.seed)).all():
                repeats.setdefault(r.number, []).append(r.inner_uf1)
            by_fold: dict[tuple[int, int], dict[int, float]] = {}
            for f in session.scalars(select(RepeatFoldRow).where(RepeatFoldRow.study == study).order_by(RepeatFoldRow.seed)).all():
                by_fold.setdefault((f.number, f.seed), {})[f.fold] = f.inner_uf1
            fold_repeats: dict[int, dict[int, dict[int, float]]] = {}
            for (number, seed), folds in by_fold.items():
                fold_repeats.setdefault(number, {})[seed] = folds
            confirmed = set(session.scalars(select(ConfirmationRow.number).where(ConfirmationRow.study == study)).all())
            return [
                StoredTrial(
                    number=r.number,
                    state=r.state,
                    preset=r.preset,
                    config=PipelineConfig.from_dict(r.config) if r.config else None,
                    objective=r.objective,
                    n_params=r.n_params,
                    seconds=r.seconds,
                    error=r.error,
                    outcome=TrialOutcome.from_json(r.outcome) if r.outcome else None,
                    latency_ms=costs[r.number].latency_ms if r.number in costs else None,
                    feasible=costs[r.number].feasible if r.number in costs else True,
                    repeat_inner=tuple(repeats.get(r.number, ())),
                    repeat_fold_inner=fold_repeats.get(r.number, {}),
                    confirmed=r.number in confirmed,
                )
                for r in rows
            ]
