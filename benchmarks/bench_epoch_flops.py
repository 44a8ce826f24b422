"""How close one epoch of the STSTNet preset's lock-step LOSO training comes to this machine's FLOP rate.

One torch thread, the composite-sized synthetic set, and the 68 models a real trial trains in lock-step:
one inner-fold model per outer fold (``--models inner``, as ``nested._plan`` builds them) or each fold's
test model on all its training rows (``--models refit``), one :class:`~merauto.evaluator.engine.ModelSet`,
every member active. Measured in the same process:

- the epoch: its seconds (``train_epoch``, median of ``--rounds``), FLOPs (``torch.utils.flop_counter``)
  and ATen operators dispatched (``DispatchCounter``), so GFLOP/s achieved and microseconds per operator;
- the same layers in isolation (the preset's own modules, batch size and shapes, forward and backward in a
  tight loop): the three branch convolutions (FLOP rate), batch norm + ReLU and max-pooling (no FLOPs
  counted, but time), one whole model step, and a large matmul as the machine's practical peak; each row
  also gives its time times the epoch's model-steps, i.e. what it accounts for in an epoch. Two rows are
  model-level proposals: the branches' convolutions as one conv of their summed width, and the whole step
  with the equal-kernel branches merged into one branch of that width (the same function and FLOPs);
- variants of the epoch, each its own ModelSet trained for the same epochs as the baseline, timed
  round-robin with it: channels-last inputs and convolution weights, oneDNN (mkldnn) off, the step of
  :class:`LeanModelSet` (fewer Python-level operations per lock-step, a proposal for the engine),
  ``torch.compile`` of the per-member call (cold: inductor's caches off unless ``--compile-cache``), and
  (``--variants ...,vmap``, slow on the CPU) the vmap mode.
  The last column says whether a variant's weights after those epochs equal the baseline's bit for bit,
  and where not, the largest difference outside the convolution biases (each feeds batch norm here: its
  true gradient is zero and Adam scales its rounding noise up to the learning rate per step).

Every timing shares the machine with whatever else runs: variants and isolated layers are interleaved
round by round (order reversed every other round), a variant's speed-up is the median of its per-round
ratios to the baseline, and the load average is printed with each table.

    python benchmarks/bench_epoch_flops.py --rounds 4
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from merauto.data.cache import FeatureCache
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import inputs_for
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.errors import TrialDiverged
from merauto.evaluator.dispatch_count import DispatchCounter
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.limits import check_limits
from merauto.evaluator.model import build_model
from merauto.evaluator.nested import EvalData, _plan, fold_seeds, study_folds
from merauto.evaluator.optim import OPTIMISERS
from merauto.evaluator.settings import EvaluationSettings
from merauto.pipeline.config import PipelineConfig
from merauto.search_space.presets import PRESETS

VARIANTS = ("baseline", "channels_last", "mkldnn_off", "lean_step", "compile", "vmap")
DEFAULT_VARIANTS = "baseline,channels_last,mkldnn_off,lean_step,compile"


class LeanModelSet(ModelSet):
    """The ``loop`` step with fewer Python-level operations, bit-identical results (measured here, a proposal).

    Each member is a real module whose parameters and buffers share storage with the stacked tensors (no
    ``functional_call`` re-parametrisation of every tensor on every call); its gradients are taken with
    respect to its own slices (no select-backward scattering each member's gradient into zeros of all
    members' shape, and no adding those up); the step's batch is standardised once for all members.
    Steps with augmentation or auxiliary terms, and vmap, take the engine's own path.
    """

    def _replica(self, member: int) -> tuple[nn.Module, list[torch.Tensor]]:
        replicas = self.__dict__.setdefault("_replicas", {})
        if member not in replicas:
            model = copy.deepcopy(self.base)
            for name, stacked in self.params.items():
                owner, _, leaf = name.rpartition(".")
                model.get_submodule(owner)._parameters[leaf] = nn.Parameter(stacked[member].detach())
            for name, stacked in self.buffers.items():
                owner, _, leaf = name.rpartition(".")
                model.get_submodule(owner)._buffers[leaf] = stacked[member]  # a view: batch norm updates the stack
            replicas[member] = (model.train(), [model.get_parameter(name) for name in self.params])
        return replicas[member]

    def _step(self, stepping: list[int], orders: dict[int, torch.Tensor], positions: torch.Tensor) -> None:
        if self.mode != "loop" or self.augmenter is not None or self.terms:
            return super()._step(stepping, orders, positions)
        check_limits()
        rows = torch.stack([orders[m][positions % len(orders[m])] for m in stepping]).to(self.device)
        head_mask = self._head_masks(stepping, stepping, len(positions))
        x = self._standardise({name: value[rows] for name, value in self.x.items()}, stepping)
        labels = self.y[rows]
        member_grads = []
        for i, m in enumerate(stepping):
            model, params = self._replica(m)
            logits, features = model({n: v[i] for n, v in x.items()}, None if head_mask is None else head_mask[i], with_features=True)
            loss = self._loss(m, rows[i], logits.float(), features.float(), [(1.0, labels[i])])
            if not torch.isfinite(loss):
                raise TrialDiverged(f"training loss became non-finite at epoch {self.epochs_done[m] + 1} of model {m}")
            member_grads.append(torch.autograd.grad(loss, params, allow_unused=True))
        ids = torch.tensor(stepping, device=self.device)
        grads: dict[str, torch.Tensor | None] = {}
        for j, name in enumerate(self.params):
            if member_grads[0][j] is None:
                grads[name] = None
                continue
            grads[name] = torch.zeros_like(self.params[name])
            grads[name][ids] = torch.stack([g[j] for g in member_grads])
        with torch.no_grad():
            self._optimise(stepping, grads)


@dataclass
class Variant:
    """One way of running the epoch: its model set, the context each epoch runs in, and what was timed."""

    name: str
    models: ModelSet
    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    seconds: list[float] = field(default_factory=list)
    warmup_s: float = 0.0
    ops: int | None = None
    failed: str | None = None

    def epoch(self) -> float:
        with self.context():
            started = time.perf_counter()
            self.models.train_epoch([True] * self.models.size)
            return time.perf_counter() - started


def to_channels_last(models: ModelSet, config: PipelineConfig) -> ModelSet:
    """Image inputs and every member's convolution weights in channels-last layout (so are the activations)."""
    models.x = {n: x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for n, x in models.x.items()}
    for name, stacked in models.params.items():
        if stacked.dim() == 5:  # (members, out, in, kh, kw): each member's slice channels-last
            models.params[name] = stacked.detach().permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3).requires_grad_(True)
    models.optimiser = OPTIMISERS.get(config.training.optimiser).build(models.params, config.training.weight_decay)
    return models


def build_variant(name: str, make: Callable[..., ModelSet], config: PipelineConfig, compile_cache: bool) -> Variant:
    if name == "baseline":
        return Variant(name, make())
    if name == "channels_last":
        return Variant(name, to_channels_last(make(), config))
    if name == "mkldnn_off":
        return Variant(name, make(), lambda: torch.backends.mkldnn.flags(enabled=False))
    if name == "lean_step":
        return Variant(name, make(LeanModelSet))
    if name == "compile":
        torch.compiler.config.force_disable_caches = not compile_cache  # cold: what a fresh process pays
        models = make()
        models._call = torch.compile(models._call)  # the per-member forward; AOTAutograd compiles its backward
        return Variant(name, models)
    if name == "vmap":
        return Variant(name, make(mode="vmap"))
    raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")


# ----------------------------------------------------------------------------- isolated layers
@dataclass
class Kernel:
    """A piece of the model (or a matmul) run in a tight loop: its closure and FLOPs per call."""

    name: str
    run: Callable[[], object]
    flops: int
    reps: int
    per_epoch: int  # calls per epoch (model-steps), or 0 where it is not part of the epoch
    seconds: list[float] = field(default_factory=list)

    def time(self) -> None:
        started = time.perf_counter()
        for _ in range(self.reps):
            self.run()
        self.seconds.append((time.perf_counter() - started) / self.reps)


def counted_flops(function: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops()


def layer_kernels(config: PipelineConfig, shape: tuple[int, ...], n_classes: int, batch: int, steps: int, reps: int) -> list[Kernel]:
    """The preset's own layers at the training batch size, forward and backward, in each memory format."""
    torch.manual_seed(0)
    model = build_model(config, {"flow": shape}, n_classes).train()
    branches = list(model.trunks["flow"].branches)  # each: Sequential(Sequential(conv, bn, relu), max-pool)
    convs = [b[0][0] for b in branches]
    x = torch.randn(batch, *shape)
    labels = torch.randint(0, n_classes, (batch,))
    kernels = []

    def variants(fmt: torch.memory_format) -> tuple[torch.Tensor, list[nn.Module], list[torch.Tensor], list[torch.Tensor]]:
        layers = [copy.deepcopy(b).to(memory_format=fmt) for b in branches]
        xi = x.contiguous(memory_format=fmt)
        conv_out = [b[0][0](xi).detach().requires_grad_(True) for b in layers]
        relu_out = [b[0][2](b[0][1](y)).detach().requires_grad_(True) for b, y in zip(layers, conv_out, strict=True)]
        return xi, layers, conv_out, relu_out

    def conv_step(xi: torch.Tensor, layers: list[nn.Module]) -> Callable[[], object]:
        def run() -> None:
            for b in layers:
                conv = b[0][0]
                y = conv(xi)
                torch.autograd.grad(y, [conv.weight, conv.bias], torch.ones_like(y))  # input needs no gradient, as in training

        return run

    def bn_relu_step(layers: list[nn.Module], inputs: list[torch.Tensor]) -> Callable[[], object]:
        def run() -> None:
            for b, y in zip(layers, inputs, strict=True):
                z = b[0][2](b[0][1](y))
                torch.autograd.grad(z, [y, b[0][1].weight, b[0][1].bias], torch.ones_like(z))

        return run

    def pool_step(layers: list[nn.Module], inputs: list[torch.Tensor]) -> Callable[[], object]:
        def run() -> None:
            for b, r in zip(layers, inputs, strict=True):
                p = b[1](r)
                torch.autograd.grad(p, [r], torch.ones_like(p))

        return run

    label = "+".join(str(c.out_channels) for c in convs)
    for fmt, tag in ((torch.contiguous_format, "NCHW"), (torch.channels_last, "channels-last")):
        xi, layers, conv_out, relu_out = variants(fmt)
        run = conv_step(xi, layers)
        kernels.append(Kernel(f"convs 3->{label} fwd+bwd, {tag}", run, counted_flops(run), reps, steps))
        if tag == "NCHW":
            off = conv_step(xi, layers)

            def off_run(off: Callable[[], object] = off) -> None:
                with torch.backends.mkldnn.flags(enabled=False):
                    off()

            kernels.append(Kernel(f"convs 3->{label} fwd+bwd, oneDNN off", off_run, counted_flops(run), reps, steps))
            merged = nn.Conv2d(shape[0], sum(c.out_channels for c in convs), convs[0].kernel_size, padding=convs[0].padding)
            merged_run = conv_step(xi, [nn.Sequential(nn.Sequential(merged))])
            merged_name = f"one merged conv 3->{merged.out_channels} (proposal)"
            kernels.append(Kernel(merged_name, merged_run, counted_flops(merged_run), reps, steps))
        kernels.append(Kernel(f"batch norm + ReLU fwd+bwd, {tag}", bn_relu_step(layers, conv_out), 0, reps, steps))
        kernels.append(Kernel(f"max-pool 3/3 fwd+bwd, {tag}", pool_step(layers, relu_out), 0, reps, steps))

    def model_step(model: nn.Module, inputs: object) -> Callable[[], object]:
        params = list(model.parameters())

        def run() -> None:
            loss = torch.nn.functional.cross_entropy(model(inputs), labels)
            torch.autograd.grad(loss, params)

        return run

    run = model_step(model, {"flow": x})
    kernels.append(Kernel("whole model step fwd+bwd (nn.Module)", run, counted_flops(run), reps, steps))
    if len({(c.kernel_size, c.padding) for c in convs}) == 1:  # branches that differ only in width are one wider branch
        width = sum(c.out_channels for c in convs)
        merged_model = nn.Sequential(
            nn.Conv2d(shape[0], width, convs[0].kernel_size, padding=convs[0].padding),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            copy.deepcopy(branches[0][1]),
            copy.deepcopy(model.trunks["flow"].pool),
            nn.Flatten(),
            copy.deepcopy(model.head),
        ).train()
        run = model_step(merged_model, x)
        kernels.append(Kernel(f"  same, the branches as one of {width} (proposal)", run, counted_flops(run), reps, steps))
    return kernels


def matmul_kernel(size: int) -> Kernel:
    a, b = torch.randn(size, size), torch.randn(size, size)
    run = lambda: a @ b  # noqa: E731
    return Kernel(f"matmul {size}x{size} (peak)", run, counted_flops(run), 3, 0)


# ----------------------------------------------------------------------------- report
def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="composite", help="synthetic size: tiny, small or composite")
    parser.add_argument("--preset", default="ststnet", help="preset name (its layers must be the branches topology for the isolated rows)")
    parser.add_argument("--models", choices=("inner", "refit"), default="inner", help="one inner model per fold, or each fold's test model")
    parser.add_argument("--cache", default=os.environ.get("MERAUTO_CACHE", "/tmp/merauto-bench-data"), help="data and feature cache")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=4, help="timed epochs per variant, round-robin (after one warm-up epoch each)")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--reps", type=int, default=50, help="calls per round of each isolated layer")
    parser.add_argument("--matmul", type=int, default=2048, help="square matmul size for the peak")
    parser.add_argument("--compile-cache", action="store_true", help="let torch.compile reuse inductor's on-disk cache (default: cold)")
    parser.add_argument("--compile-limit", type=float, default=120.0, help="seconds: a slower torch.compile warm-up is reported, not timed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")  # printed by torch.backends.mkldnn.flags
    warnings.filterwarnings("ignore", message="dynamo_pgo force disabled")  # printed by a cold torch.compile

    cache = Path(args.cache)
    index = load_index(DatasetRequest("synthetic", SyntheticSpec(size=args.size)), cache)
    config = PRESETS[args.preset]
    data = EvalData.of(index, inputs_for(config, index, FeatureCache(cache)))
    settings = EvaluationSettings(seed=args.seed)
    folds = list(enumerate(study_folds(data, settings)))
    if args.models == "inner":
        _, members = _plan(data, folds, settings)
    else:
        members = [Member(fold.train, fold_seeds(args.seed, k)[2]) for k, fold in folds]
    batch = config.training.batch_size
    steps = sum(math.ceil(len(m.rows) / batch) for m in members)  # model-steps per epoch
    device = torch.device("cpu")

    def make(cls: type[ModelSet] = ModelSet, mode: str = "auto") -> ModelSet:
        return cls(config, data.inputs, data.labels, members, data.n_classes, device, mode, targets=data.row_targets())

    shape = data.inputs["flow"].shape[1:]
    print(
        f"synthetic-{args.size}: {len(index)} clips, {len(folds)} LOSO folds; {args.preset} preset, {len(members)} {args.models} models "
        f"({sum(len(m.rows) for m in members)} rows), batch {batch}, {steps} model-steps per epoch; one torch thread;"
        f" oneDNN {'available' if torch.backends.mkldnn.is_available() else 'absent'}, CPU {torch.backends.cpu.get_cpu_capability()}"
    )
    print(load())

    names = args.variants.split(",")
    names = ["baseline"] + [n for n in names if n != "baseline"]  # the reference comes first
    variants = [build_variant(name, make, config, args.compile_cache) for name in names]
    kernels = layer_kernels(config, shape, data.n_classes, batch, steps, args.reps) + [matmul_kernel(args.matmul)]

    for variant in variants:  # warm-up epoch: oneDNN primitives, allocator, and torch.compile's compilation
        try:
            variant.warmup_s = variant.epoch()
        except Exception as error:  # noqa: BLE001 - a variant that cannot run is reported, not fatal
            variant.failed = f"{type(error).__name__}: {str(error).splitlines()[0][:100] if str(error) else ''}"
        if variant.name == "compile" and variant.failed is None and variant.warmup_s > args.compile_limit:
            variant.failed = f"first epoch (compilation) took {variant.warmup_s:.0f} s > {args.compile_limit:.0f} s: not timed"
        print(f"  warm-up {variant.name:<14} {variant.warmup_s:7.1f} s{'  ' + variant.failed if variant.failed else ''}", flush=True)
    if variants[0].failed is not None:
        raise SystemExit(f"the baseline epoch failed: {variants[0].failed}")
    running = [v for v in variants if v.failed is None]
    for kernel in kernels:  # warm-up: oneDNN primitives
        kernel.run()
    for r in range(args.rounds):  # round-robin, the order reversed every other round so drifting load hits all alike
        for variant in running if r % 2 == 0 else running[::-1]:
            variant.seconds.append(variant.epoch())
        for kernel in kernels if r % 2 == 0 else kernels[::-1]:
            kernel.time()

    baseline = variants[0]
    reference = {k: v.detach().clone() for k, v in baseline.models.params.items()}  # before its counted epoch
    with FlopCounterMode(display=False) as flop_counter, DispatchCounter() as ops:
        baseline.epoch()
    baseline.ops = ops.total
    flops = flop_counter.get_total_flops()
    by_op = flop_counter.get_flop_counts().get("Global", {})
    conv_flops = sum(f for op, f in by_op.items() if "convolution" in str(op))
    conv_biases = {f"{n}.bias" for n, m in baseline.models.base.named_modules() if isinstance(m, nn.Conv2d) and m.bias is not None}
    differences = {}
    for variant in running[1:]:
        gaps = {k: float((variant.models.params[k].detach() - reference[k]).abs().max()) for k in reference}
        differences[variant.name] = (max(gaps.values()), max(v for k, v in gaps.items() if k not in conv_biases))
        if variant.name != "compile":  # a dispatch mode around compiled code would trace it again
            with variant.context(), DispatchCounter() as ops:
                variant.models.train_epoch([True] * variant.models.size)
            variant.ops = ops.total

    gflop = flops / 1e9
    epoch_s = median(baseline.seconds)
    print(
        f"\nwork of one epoch: {gflop:.2f} GFLOP ({conv_flops / flops:.1%} convolution, the rest linear), {baseline.ops} ATen operators "
        f"({baseline.ops / steps:.0f} per model-step); load-independent"
    )

    print(f"\nisolated, the preset's layers at batch {batch}, median of {args.rounds} rounds x {args.reps} calls; {load()}")
    print(f"{'':<48}{'us/call':>10}{'GFLOP/s':>10}{'x steps = s/epoch':>19}{'of epoch':>10}")
    rate = {}
    for kernel in kernels:
        seconds = median(kernel.seconds)
        rate[kernel.name] = kernel.flops / seconds / 1e9 if kernel.flops else math.nan
        per_epoch = seconds * kernel.per_epoch
        print(
            f"{kernel.name:<48}{seconds * 1e6:>10.1f}"
            + (f"{rate[kernel.name]:>10.1f}" if kernel.flops else f"{'-':>10}")
            + (f"{per_epoch:>19.2f}{per_epoch / epoch_s:>10.0%}" if kernel.per_epoch else "")
        )
    conv_rate = rate[kernels[0].name]
    peak = rate[kernels[-1].name]

    print(f"\nepochs, {args.rounds} timed rounds round-robin after a warm-up; speed-up: median per-round ratio to the baseline; {load()}")
    print(
        f"{'variant':<15}{'median s':>9}{'min s':>7}{'speed-up':>9}{'GFLOP/s':>9}{'of convs':>9}{'of peak':>8}"
        f"{'ops/epoch':>10}{'us/op':>7}   weights vs baseline"
    )
    for variant in variants:
        if variant.failed is not None:
            print(f"{variant.name:<15} {variant.failed}")
            continue
        seconds = median(variant.seconds)
        speedup = median([b / v for b, v in zip(baseline.seconds, variant.seconds, strict=True)])
        achieved = gflop / seconds
        ops_text = f"{variant.ops:>10d}{seconds / variant.ops * 1e6:>7.1f}" if variant.ops else f"{'n/a':>10}{'':>7}"
        if variant is baseline:
            same = "(reference)"
        else:
            gap, meaningful = differences[variant.name]
            same = "identical" if gap == 0 else f"max |diff| {meaningful:.1e} ({gap:.1e} with conv biases)"
        extra = f"; first epoch {variant.warmup_s:.0f} s (compilation)" if variant.name == "compile" else ""
        print(
            f"{variant.name:<15}{seconds:>9.2f}{min(variant.seconds):>7.2f}{speedup:>8.2f}x{achieved:>9.1f}"
            f"{achieved / conv_rate:>9.1%}{achieved / peak:>8.1%}{ops_text}   {same}{extra}"
        )
    print(
        f"\nbaseline: {gflop / epoch_s:.1f} GFLOP/s in training = {gflop / epoch_s / conv_rate:.1%} of the same convolutions in isolation "
        f"({conv_rate:.1f} GFLOP/s) and {gflop / epoch_s / peak:.1%} of the matmul peak ({peak:.1f} GFLOP/s); "
        f"the epoch's FLOPs at the isolated conv rate would take {gflop / conv_rate:.2f} s of its {epoch_s:.2f} s"
    )
    plain = median(next(k for k in kernels if k.name.startswith("whole model step")).seconds) * steps
    print(f"a plain nn.Module's step x {steps} model-steps = {plain:.2f} s; the engine's epoch: {epoch_s / plain - 1:+.0%} on that")
    print(load())


if __name__ == "__main__":
    main()
