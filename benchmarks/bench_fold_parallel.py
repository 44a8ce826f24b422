"""Benchmark (a): one full LOSO evaluation of the STSTNet preset on composite-sized data.

442 clips, 68 subjects, 28x28x3 inputs, a fixed number of epochs (no early stopping), one
model per outer fold. Measured in the same run:

- baseline: a plain per-fold PyTorch loop (DataLoader, nn.Module, torch.optim.AdamW),
- merauto's training engine in ``loop`` mode (members one by one) and ``vmap`` mode (all
  folds as one batched computation), plus what ``auto`` picks on this device.

Prints wall times and the speed-up of each over the baseline, and the number of ATen
operators each dispatches for one epoch of every fold. On CUDA each operator that is not a
view is at least one kernel launch, and launches, not arithmetic, bound models this small, so
the operator ratio is what the batched path can gain on a GPU; it is the same on any device.
The script runs unchanged on CUDA (``--device cuda``), where the batched path is expected to pay.

    python benchmarks/bench_fold_parallel.py --epochs 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from merauto.data.synthetic.generator import composite_skeleton
from merauto.evaluator.dispatch_count import DispatchCounter
from merauto.evaluator.engine import Member, ModelSet, resolve_mode
from merauto.evaluator.fitted import Standardiser
from merauto.evaluator.model import build_model
from merauto.evaluator.protocol import outer_loso
from merauto.search_space.presets import PRESETS

CLASSES = ("negative", "positive", "surprise")


def composite_sized_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flow-like inputs with a class signal, on the composite's subjects and labels."""
    plans = composite_skeleton()
    labels = np.array([CLASSES.index(p.label) for p in plans])
    subjects = np.array([p.subject for p in plans])
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (len(plans), 3, 28, 28)).astype(np.float32)
    x[:, 0, 10:18, 10:18] += labels[:, None, None] * 0.3
    return x, labels, subjects


def plain_loop(config, x, labels, folds, epochs: int, device: torch.device) -> list[np.ndarray]:  # noqa: ANN001
    """What research code usually does: one model, one DataLoader, one optimiser per fold."""
    probs = []
    for k, (train, test) in enumerate(folds):
        stats = Standardiser.fit({"flow": x}, train)
        mean, std = stats.mean["flow"][:, None, None], stats.std["flow"][:, None, None]
        train_x, test_x = torch.from_numpy((x[train] - mean) / std), torch.from_numpy((x[test] - mean) / std)
        torch.manual_seed(k)
        model = build_model(config, {"flow": (3, 28, 28)}, len(CLASSES)).to(device)
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.training.lr, weight_decay=config.training.weight_decay)
        loader = DataLoader(TensorDataset(train_x, torch.from_numpy(labels[train])), batch_size=config.training.batch_size, shuffle=True)
        model.train()
        for _ in range(epochs):
            for xb, yb in loader:
                loss = torch.nn.functional.cross_entropy(model({"flow": xb.to(device)}), yb.to(device))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        model.eval()
        with torch.no_grad():
            probs.append(torch.softmax(model({"flow": test_x.to(device)}), 1).cpu().numpy())
    return probs


def engine(config, x, labels, folds, epochs: int, device: torch.device, mode: str) -> list[np.ndarray]:  # noqa: ANN001
    """merauto's evaluator core: every fold's model in one ModelSet."""
    members = [Member(train, k) for k, (train, _) in enumerate(folds)]
    models = ModelSet(config, {"flow": x}, labels, members, len(CLASSES), device, mode)
    for _ in range(epochs):
        models.train_epoch([True] * len(members))
    return models.predict_proba(list(range(len(folds))), [test for _, test in folds])


def timed(function, *args) -> tuple[float, list[np.ndarray]]:  # noqa: ANN001, ANN002
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20, help="fixed epochs per fold")
    parser.add_argument("--folds", type=int, default=68, help="outer folds to train (68 = full LOSO)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = PRESETS["ststnet"]
    x, labels, subjects = composite_sized_data(0)
    folds = outer_loso(subjects)[: args.folds]
    print(f"STSTNet preset, {len(x)} clips, {len(folds)} LOSO folds, {args.epochs} epochs, device {device}, {args.threads} thread(s)")

    baseline_s, _ = timed(plain_loop, config, x, labels, folds, args.epochs, device)
    print(f"{'plain per-fold loop (baseline)':<40} {baseline_s:8.1f} s   1.00x")
    results = {}
    for mode in ("loop", "vmap"):
        seconds, probs = timed(engine, config, x, labels, folds, args.epochs, device, mode)
        results[mode] = (seconds, probs)
        print(f"{'merauto engine, ' + mode:<40} {seconds:8.1f} s   {baseline_s / seconds:.2f}x")
    auto = resolve_mode("auto", device)
    print(f"{'merauto engine, auto (= ' + auto + ')':<40} {results[auto][0]:8.1f} s   {baseline_s / results[auto][0]:.2f}x")
    gap = max(float(np.abs(a - b).max()) for a, b in zip(results["loop"][1], results["vmap"][1], strict=True))
    print(f"largest probability difference between loop and vmap: {gap:.2e}")

    print(f"ATen operators dispatched for one epoch of all {len(folds)} folds (setup and prediction included):")
    counts = {}
    runs = {"plain per-fold loop": (plain_loop, ()), **{f"merauto engine, {mode}": (engine, (mode,)) for mode in ("loop", "vmap")}}
    for name, (function, mode) in runs.items():
        with DispatchCounter() as ops:
            function(config, x, labels, folds, 1, device, *mode)
        counts[name] = ops.total
        print(f"{name:<40} {ops.total:8d}   {counts['plain per-fold loop'] / ops.total:.2f}x fewer")


if __name__ == "__main__":
    main()
