"""Training many small models of one architecture together (fold-parallel) or one by one.

A :class:`ModelSet` holds M members: models of the same config, each with its own training
rows, seed and fitted statistics (normalisation, class weights), with their parameters
stacked along a leading member axis. An epoch of a member is ceil(n / batch) steps of exactly
``batch`` rows of a seeded permutation of its rows (the last batch wraps around), or with
``training.sampling = "balanced"`` of n rows drawn with replacement, each class equally often
in expectation. A step updates only the members marked active; the others keep weights,
optimiser state and batch-norm statistics bit for bit, and consume no random numbers. With a
weight average (``training.averaging``) each member is evaluated with its averaged weights:
inner validation, snapshots, test predictions and exported weights.

``vmap`` runs all members as one batched computation (torch.func); ``loop`` runs them one
after another. They share every other line, so they give the same predictions up to
floating-point tolerance. ``auto`` picks ``vmap`` on CUDA, where one tiny model leaves the
device idle, and ``loop`` on the CPU, where these models are compute-bound.

The config's task and strategy may add auxiliary terms to each member's loss (an auxiliary
head, a domain adversary, a teacher's soft targets); they read the member's batch rows only.
A distilling set first trains its teachers: a :class:`ModelSet` of the teacher config with
the same members (rows and seeds).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, stack_module_state

from merauto.errors import MerautoError, TrialDiverged
from merauto.evaluator.augment import build_augmenter
from merauto.evaluator.fitted import Inputs, Standardiser, class_weights, sampling_weights
from merauto.evaluator.heads import TASKS, AuxBatch, AuxHead, AuxTerm, RowTargets
from merauto.evaluator.limits import check_limits
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.model import build_model
from merauto.evaluator.optim import AVERAGING, OPTIMISERS, SCHEDULES
from merauto.evaluator.own_network import ModelFactory, OwnNetwork
from merauto.evaluator.settings import MODES
from merauto.evaluator.strategies import STRATEGIES, Checkpoint
from merauto.pipeline.config import PipelineConfig

INFERENCE_ROWS = 256  # rows per forward pass at inference


def resolve_mode(mode: str, device: torch.device) -> str:
    """The fold-batching mode ``mode`` means on ``device``: ``auto`` is vmap on CUDA and loop elsewhere."""
    if mode not in MODES:
        raise ValueError(f"unknown fold batching mode {mode!r}; choose from {MODES}")
    if mode == "auto":
        return "vmap" if device.type == "cuda" else "loop"
    return mode


@dataclass(frozen=True)
class Member:
    """One model to train: its training rows and its seed."""

    rows: np.ndarray
    seed: int


class ModelSet:
    """M models of ``config`` trained in lock-step with per-member active masks (see module doc)."""

    def __init__(
        self,
        config: PipelineConfig,
        inputs: Inputs,
        labels: np.ndarray,
        members: Sequence[Member],
        n_classes: int,
        device: torch.device,
        mode: str = "auto",
        amp: bool = False,
        targets: RowTargets | None = None,
        init: Checkpoint | None = None,
        build: ModelFactory | None = None,
    ) -> None:
        """``targets``: the rows' auxiliary targets (default: one source, no action units);
        ``init``: the weights a fine-tuning strategy starts every member from; ``build``: a researcher's
        model factory (:mod:`merauto.evaluator.own_network`) instead of the config's network."""
        self.config = config
        self.device = device
        self.mode = resolve_mode(mode, device)
        self.amp = amp and device.type == "cuda"  # bfloat16 autocast of the forward pass, on CUDA only
        self.members = list(members)
        self.size = len(self.members)
        training = config.training

        self.standardisers = [Standardiser.fit(inputs, m.rows) for m in self.members]
        weights = [class_weights(labels[m.rows], n_classes, training.class_weighting) for m in self.members]
        self.class_weights = weights
        ones = np.ones(n_classes, np.float32)
        self.weight_tensor = torch.from_numpy(np.stack([ones if w is None else w for w in weights])).to(device)

        targets = targets if targets is not None else RowTargets.of(np.zeros(len(labels), np.int64))
        self.terms = self._terms(inputs, labels, n_classes, targets)
        heads = {name: term.head for name, term in self.terms.items() if term.head is not None}
        shapes = {name: tuple(array.shape[1:]) for name, array in inputs.items()}
        initialises = STRATEGIES.get(config.strategy.name).initialises
        if initialises and init is None:
            raise MerautoError(f"strategy {config.strategy.name} needs starting weights", "pass --init-checkpoint or --pretrain-dataset")
        if build is not None and (heads or training.dropout > 0):
            raise MerautoError(
                "a network of your own reads no auxiliary heads and no feature dropout",
                "train it with the task single, the strategy scratch and dropout 0",
            )
        models = []
        for member in self.members:
            torch.manual_seed(member.seed)
            own = None if build is None else OwnNetwork(build(shapes, n_classes), n_classes)
            models.append(build_model(config, shapes, n_classes, heads) if own is None else own)
            if initialises:
                init.apply(models[-1])
        self.feature_dim = models[0].feature_dim
        self.base = copy.deepcopy(models[0]).to("meta")
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().to(device).requires_grad_(True) for k, v in params.items()}
        self.buffers = {k: v.to(device) for k, v in buffers.items()}
        self.optimiser = OPTIMISERS.get(training.optimiser).build(self.params, training.weight_decay)
        self.schedule = SCHEDULES.get(training.schedule)
        averaging, averaging_params = AVERAGING.resolved(training.averaging_choice())
        self.average = averaging.build(self.params, self.buffers, averaging_params, training.max_epochs)
        draws = [sampling_weights(labels[m.rows], training.sampling) for m in self.members]
        self.draw_weights = [None if w is None else torch.from_numpy(w) for w in draws]
        self.steps = torch.zeros(self.size, dtype=torch.float64, device=device)
        self.epochs_done = np.zeros(self.size, dtype=int)

        self.x = {name: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device) for name, a in inputs.items()}
        self.y = torch.from_numpy(labels).to(device)
        self.mean = {n: torch.from_numpy(np.stack([s.mean[n] for s in self.standardisers])).to(device) for n in inputs}
        self.std = {n: torch.from_numpy(np.stack([s.std[n] for s in self.standardisers])).to(device) for n in inputs}
        self.generators = [torch.Generator().manual_seed(m.seed) for m in self.members]
        loss, loss_params = LOSSES.resolved(config.loss)
        self.criterion = loss.build(loss_params)
        self.augmenter = None
        if config.augment.name != "none":  # augmentation works on raw values, before each member standardises them
            zeros = {n: np.zeros(a.shape[1], np.float32) for n, a in inputs.items()}
            ones = {n: np.ones(a.shape[1], np.float32) for n, a in inputs.items()}
            self.augmenter = build_augmenter(config, zeros, ones, device)

    def _terms(self, inputs: Inputs, labels: np.ndarray, n_classes: int, targets: RowTargets) -> dict[str, AuxTerm]:
        """The auxiliary terms of the config's task and strategy (training its teachers first)."""
        task, task_params = TASKS.resolved(self.config.tasks)
        strategy, strategy_params = STRATEGIES.resolved(self.config.strategy)
        teacher = strategy.teacher(self.config, strategy_params)
        teacher_logits = None
        if teacher is not None:
            teachers = ModelSet(teacher, inputs, labels, self.members, n_classes, self.device, self.mode, self.amp, targets)
            for _ in range(teacher.training.max_epochs):
                teachers.train_epoch([True] * teachers.size)
            teacher_logits = torch.zeros(self.size, len(labels), n_classes, device=self.device)
            own = [m.rows for m in self.members]
            for m, logits in enumerate(teachers.predict_logits(list(range(self.size)), own)):
                teacher_logits[m, torch.from_numpy(own[m]).to(self.device)] = logits
        terms = {
            "task": task.term(task_params, targets, self.device),
            "strategy": strategy.term(strategy_params, targets, self.device, teacher_logits),
        }
        return {name: term for name, term in terms.items() if term is not None}

    # ----------------------------------------------------------------------------- forward
    def _standardise(self, raw: dict[str, torch.Tensor], members: list[int]) -> dict[str, torch.Tensor]:
        """Raw batches (m, b, ...) standardised with each member's own statistics."""
        ids = torch.tensor(members, device=self.device)
        out = {}
        for name, x in raw.items():
            shape = (len(members), 1, -1) + (1,) * (x.dim() - 3)
            out[name] = (x - self.mean[name][ids].view(shape)) / self.std[name][ids].view(shape)
        return out

    def _call(
        self, params: dict, buffers: dict, x: dict[str, torch.Tensor], head_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return functional_call(self.base, (params, buffers), (x, head_mask), {"with_features": True})

    def _forward(self, members: list[int], x: dict[str, torch.Tensor], head_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (len(members), b, n_classes) and the features the head read (len(members), b,
        feature_dim) from standardised batches ``x`` of the computed members.

        ``vmap`` always computes every member (the others get placeholder batches), so a
        member's arithmetic never depends on which other members happen to be active;
        ``loop`` computes only ``members`` (and ``x`` holds only theirs). With ``amp`` the
        forward pass runs under bfloat16 autocast and its outputs come back in float32.
        """
        params, buffers = (self.params, self.buffers) if self.base.training else self._evaluated()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            if self.mode == "vmap":
                in_dims = (0, 0, 0, None if head_mask is None else 0)
                logits, features = torch.vmap(self._call, in_dims=in_dims, randomness="error")(params, buffers, x, head_mask)
                ids = torch.tensor(members, device=self.device)
                logits, features = logits[ids], features[ids]
            else:
                outputs = []
                for i, m in enumerate(members):
                    own = {k: v[m] for k, v in params.items()}
                    own_buffers = {k: v[m] for k, v in buffers.items()}  # views: batch norm updates them in place
                    mask = None if head_mask is None else head_mask[i]
                    outputs.append(self._call(own, own_buffers, {n: v[i] for n, v in x.items()}, mask))
                logits, features = torch.stack([o[0] for o in outputs]), torch.stack([o[1] for o in outputs])
        return logits.float(), features.float()

    def _evaluated(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The stacked parameters and buffers members are evaluated with: averaged when the config averages."""
        if self.average is None:
            return self.params, self.buffers
        return self.average.params, self.average.buffers

    # ----------------------------------------------------------------------------- training
    def train_epoch(self, active: Sequence[bool]) -> None:
        """One epoch for every active member."""
        active_ids = [m for m in range(self.size) if active[m]]
        if not active_ids:
            return
        batch = self.config.training.batch_size
        orders = {m: torch.from_numpy(self.members[m].rows)[self._draw(m)] for m in active_ids}
        n_steps = {m: math.ceil(len(self.members[m].rows) / batch) for m in active_ids}
        for step in range(max(n_steps.values())):
            stepping = [m for m in active_ids if step < n_steps[m]]
            self._step(stepping, orders, torch.arange(step * batch, (step + 1) * batch))
        self.epochs_done[active_ids] += 1
        if self.average is not None:
            ids = torch.tensor(active_ids, device=self.device)
            self.average.after_epoch(ids, torch.from_numpy(self.epochs_done[active_ids]).to(self.device))

    def _draw(self, member: int) -> torch.Tensor:
        """Positions in a member's rows of its next epoch, from its own generator: a permutation, or
        (balanced sampling) as many draws with replacement weighted by inverse class frequency."""
        n, weights = len(self.members[member].rows), self.draw_weights[member]
        if weights is None:
            return torch.randperm(n, generator=self.generators[member])
        return torch.multinomial(weights, n, replacement=True, generator=self.generators[member])

    def _placeholder_rows(self, member: int, batch: int) -> torch.Tensor:
        """Rows a non-stepping member is fed under vmap (its output is discarded; no RNG is used)."""
        rows = torch.from_numpy(self.members[member].rows)
        return rows[torch.arange(batch) % len(rows)]

    def _step(self, stepping: list[int], orders: dict[int, torch.Tensor], positions: torch.Tensor) -> None:
        check_limits()
        self.base.train()
        batch = len(positions)
        computed = list(range(self.size)) if self.mode == "vmap" else stepping
        rows = torch.stack(
            [orders[m][positions % len(orders[m])] if m in stepping else self._placeholder_rows(m, batch) for m in computed]
        ).to(self.device)
        head_mask = self._head_masks(computed, stepping, batch)
        raw = {name: x[rows] for name, x in self.x.items()}
        labels = self.y[rows]
        targets = {m: [(1.0, labels[computed.index(m)])] for m in stepping}
        if self.augmenter is not None:  # training batches only, seeded per member and step
            for m in stepping:
                i = computed.index(m)
                torch.manual_seed(self.members[m].seed * 1_000_003 + int(self.steps[m]))
                augmented = self.augmenter({name: value[i] for name, value in raw.items()}, self.y[rows[i]])
                for name in raw:
                    raw[name][i] = augmented.inputs[name]
                targets[m] = augmented.targets
        saved = {k: v.clone() for k, v in self.buffers.items()} if self.mode == "vmap" else None
        names = list(self.params)
        grads: list[torch.Tensor | None] = [None] * len(names)
        # vmap: one graph of every member; loop: one member's graph at a time, so activation
        # memory stays that of one model however many folds the set holds
        for group in [stepping] if self.mode == "vmap" else [[m] for m in stepping]:
            at = [computed.index(m) for m in group]
            x = raw if self.mode == "vmap" else {name: value[at] for name, value in raw.items()}
            mask = head_mask if head_mask is None or self.mode == "vmap" else head_mask[at]
            logits, features = self._forward(group, self._standardise(x, computed if self.mode == "vmap" else group), mask)
            losses = self._losses(group, [rows[computed.index(m)] for m in group], logits, features, targets)
            if not torch.isfinite(losses).all():
                bad = group[int((~torch.isfinite(losses)).nonzero()[0])]
                raise TrialDiverged(f"training loss became non-finite at epoch {self.epochs_done[bad] + 1} of model {bad}")
            step_grads = torch.autograd.grad(losses.sum(), [self.params[k] for k in names], allow_unused=True)
            grads = [g if total is None else total if g is None else total.add_(g) for total, g in zip(grads, step_grads, strict=True)]
        with torch.no_grad():
            if saved is not None:  # batch-norm statistics of members that did not step stay as they were
                idle = torch.tensor([m not in stepping for m in range(self.size)], device=self.device)
                for k, v in self.buffers.items():
                    v[idle] = saved[k][idle]
            self._optimise(stepping, dict(zip(names, grads, strict=True)))

    def _losses(
        self, group: list[int], rows: list[torch.Tensor], logits: torch.Tensor, features: torch.Tensor, targets: dict[int, list]
    ) -> torch.Tensor:
        """The training loss of each member of ``group``. Under ``vmap`` with a plain criterion (no
        auxiliary terms, no mixup) one vmapped call computes them all, so a step launches the same
        number of kernels however many folds train; otherwise member by member."""
        if self.mode == "vmap" and not self.terms and all(len(targets[m]) == 1 and targets[m][0][0] == 1.0 for m in group):
            ids = torch.tensor(group, device=self.device)
            labels = torch.stack([targets[m][0][1] for m in group])
            heads = {k.removeprefix("head."): v[ids] for k, v in self.params.items() if k.startswith("head.")}

            def criterion(logits: torch.Tensor, features: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, head: dict) -> torch.Tensor:
                return self.criterion(logits, features, [(1.0, y)], weights, head)

            return torch.vmap(criterion)(logits, features, labels, self.weight_tensor[ids], heads)
        return torch.stack([self._loss(m, r, logits[i], features[i], targets[m]) for i, (m, r) in enumerate(zip(group, rows, strict=True))])

    def _loss(self, member: int, rows: torch.Tensor, logits: torch.Tensor, features: torch.Tensor, targets: list) -> torch.Tensor:
        """One member's training loss on its batch ``rows``: the criterion plus any auxiliary terms."""
        loss = self.criterion(logits, features, targets, self.weight_tensor[member], self._head(member))
        if self.terms:
            progress = float(self.epochs_done[member]) / self.config.training.max_epochs
            batch = AuxBatch(member, rows, logits, features, progress)
            for name, term in self.terms.items():
                loss = loss + term.loss(batch, self._aux_head(member, name))
        return loss

    def _aux_head(self, member: int, name: str) -> AuxHead:
        """Auxiliary head ``name`` with one member's parameters."""
        prefix = f"aux.{name}."
        params = {k.removeprefix(prefix): v[member] for k, v in self.params.items() if k.startswith(prefix)}
        return lambda x: functional_call(self.base.aux[name], params, (x,))

    def _head(self, member: int) -> dict[str, torch.Tensor]:
        """One member's head parameters by name (its loss may read them, e.g. class centres)."""
        return {k.removeprefix("head."): v[member] for k, v in self.params.items() if k.startswith("head.")}

    def _head_masks(self, computed: list[int], stepping: list[int], batch: int) -> torch.Tensor | None:
        """Dropout masks from each stepping member's own generator (ones for placeholders)."""
        p = self.config.training.dropout
        if p <= 0:
            return None
        masks = [
            torch.bernoulli(torch.full((batch, self.feature_dim), 1 - p), generator=self.generators[m]) / (1 - p)
            if m in stepping
            else torch.ones(batch, self.feature_dim)
            for m in computed
        ]
        return torch.stack(masks).to(self.device)

    def _optimise(self, stepping: list[int], grads: dict[str, torch.Tensor | None]) -> None:
        """One optimiser step of the stepping members, each at its own epoch's learning rate."""
        training = self.config.training
        members = torch.tensor(stepping, device=self.device)
        self.steps[members] += 1
        factors = [self.schedule.factor(int(self.epochs_done[m]), training.max_epochs) for m in stepping]
        lr = torch.tensor([training.lr * f for f in factors], dtype=torch.float64, device=self.device)
        self.optimiser.step(members, grads, lr, self.steps[members])
        if self.average is not None:
            self.average.after_step(members, self.steps[members])

    # ----------------------------------------------------------------------------- inference
    @torch.inference_mode()
    def predict_proba(self, members: Sequence[int], rows: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Class probabilities of each given member on its own rows."""
        if not members:
            return []
        out = [torch.softmax(logits, dim=-1).cpu().numpy() for logits in self.predict_logits(members, rows)]
        if not all(np.isfinite(p).all() for p in out):
            raise TrialDiverged("predictions became non-finite")
        return out

    @torch.inference_mode()
    def predict_logits(self, members: Sequence[int], rows: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Logits of each given member on its own rows, ``INFERENCE_ROWS`` rows at a time
        (one member at a time in ``loop`` mode), so memory does not grow with the rows asked for."""
        self.base.eval()
        members = list(members)
        if self.mode == "loop":
            return [torch.cat([self._logits([m], [part])[0] for part in _chunks(r)]) for m, r in zip(members, rows, strict=True)]
        longest = max(len(r) for r in rows)
        own = [np.resize(r, longest) for r in rows]
        logits = torch.cat([self._logits(members, [r[span] for r in own]) for span in _chunks(np.arange(longest))], dim=1)
        return [logits[i, : len(r)] for i, r in enumerate(rows)]

    def _logits(self, members: list[int], rows: list[np.ndarray]) -> torch.Tensor:
        """Logits (len(members), n, classes) of ``members`` on equally long row sets."""
        check_limits()
        computed = list(range(self.size)) if self.mode == "vmap" else members
        own = dict(zip(members, rows, strict=True))
        n = len(rows[0])
        index = torch.stack([torch.from_numpy(own[m]) if m in own else self._placeholder_rows(m, n) for m in computed]).to(self.device)
        logits, _ = self._forward(members, self._standardise({name: x[index] for name, x in self.x.items()}, computed), None)
        return logits

    # ----------------------------------------------------------------------------- state
    def snapshot(self, member: int) -> dict[str, torch.Tensor]:
        """A copy of the weights and buffers one member is evaluated with (its averaged ones when the config averages)."""
        params, buffers = self._evaluated()
        state = {k: v[member].detach().clone() for k, v in params.items()}
        state.update({k: v[member].clone() for k, v in buffers.items()})
        return state

    def restore(self, member: int, state: dict[str, torch.Tensor]) -> None:
        """Make ``state`` one member's weights and buffers, trained and averaged alike."""
        with torch.no_grad():
            for stacked in (self.params, self.buffers, *((self.average.params, self.average.buffers) if self.average is not None else ())):
                for k, v in stacked.items():
                    v[member] = state[k]

    def state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """One member as an ordinary ``nn.Module`` state dict, without its auxiliary heads
        (training-only): what ``build_model(config, shapes, n_classes)`` loads."""
        return {k: v for k, v in self.snapshot(member).items() if not k.startswith("aux.")}

    def fitted_statistics(self, member: int) -> dict[str, Any]:
        """What a member fitted from its training rows, for the record and the leakage test."""
        weights = self.class_weights[member]
        return {"standardiser": self.standardisers[member].to_json(), "class_weights": None if weights is None else weights.tolist()}


def _chunks(rows: np.ndarray) -> list[np.ndarray]:
    """``rows`` in consecutive parts of at most ``INFERENCE_ROWS``."""
    return np.array_split(rows, max(1, math.ceil(len(rows) / INFERENCE_ROWS)))
