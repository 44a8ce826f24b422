"""The leak canary: each outer fold's test rows corrupted inside that fold only.

docs/protocol.md's invariant says that nothing a choice reads may depend on a fold's test rows. A
search run with a canary proves it end to end: every fold k is evaluated on its own, on data whose
fold-k test rows are corrupted, while the same rows stay clean as training rows of every other
fold. Against a ``control`` run (folds evaluated one by one, nothing corrupted), every value that
reaches Optuna, a pruner, a warm start, ``confirm``/``repeat`` records, a selection or an export
must be byte-identical; only test predictions and test scores may differ.

- ``labels``: every test label shifted to the next class (and action units flipped), so a model's
  test score falls as its true test score rises and a choice made on test scores turns over. The
  test predictions themselves must not change: only a leak that reads test labels changes them
  (say, the epoch or the inner model that scores best on the test subject predicting it).
- ``all``: the shifted labels also permuted across the test rows, and every input stream of the
  test rows replaced by noise.

Spotting's canary corrupts each fold's test subject's long videos in that fold only: ``labels`` moves
every coded interval, ``all`` also replaces the frames by noise (and renames the videos, so signals
kept across trials by video never mix the clean and the corrupted frames).

The canary is a setting of the evaluation (:class:`~merauto.evaluator.settings.EvaluationSettings`),
so it reaches Ray workers, ``repeat`` and ``confirm`` as the protocol does; tests and
``benchmarks/leak_mutations.py`` use it. A search with a corrupting canary measures nothing real.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the option checks import this module: only what they need
    from merauto.data.long_videos.folders import LongVideo

CANARIES = ("control", "labels", "all")
CANARY_SALT = 0xCA7A  # the corruption's own random stream, apart from every seed a model or split draws


def corrupt_rows(
    inputs: dict[str, np.ndarray],
    labels: np.ndarray,
    action_units: np.ndarray | None,
    n_classes: int,
    rows: np.ndarray,
    kind: str,
    seed: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """Copies of ``inputs``, ``labels`` and ``action_units`` with ``rows`` corrupted as canary ``kind`` says
    (``control``: the arrays themselves, unchanged)."""
    if kind not in CANARIES:
        raise ValueError(f"canary {kind!r} is not one of {', '.join(CANARIES)}")
    if kind == "control" or len(rows) == 0:
        return inputs, labels, action_units
    rng = np.random.default_rng([seed, CANARY_SALT])
    labels, shifted = labels.copy(), (labels[rows] + 1) % n_classes
    labels[rows] = shifted if kind == "labels" else rng.permutation(shifted)
    if action_units is not None:
        action_units = action_units.copy()
        action_units[rows] = 1 - (action_units[rows] if kind == "labels" else rng.permutation(action_units[rows]))
    if kind == "all":
        noisy = {}
        for name, array in inputs.items():
            array = array.copy()
            array[rows] = rng.normal(0, 5, array[rows].shape).astype(array.dtype)
            noisy[name] = array
        inputs = noisy
    return inputs, labels, action_units


def corrupt_videos(videos: list[LongVideo], subject: str, kind: str, seed: int) -> list[LongVideo]:
    """``videos`` with ``subject``'s corrupted as canary ``kind`` says (``control``: ``videos`` unchanged)."""
    if kind not in CANARIES:
        raise ValueError(f"canary {kind!r} is not one of {', '.join(CANARIES)}")
    if kind == "control":
        return videos
    rng = np.random.default_rng([seed, CANARY_SALT])
    out = []
    for video in videos:
        if video.subject == subject:
            n = len(video.frames)
            moved = [(i, (i.start + n // 3) % n) for i in video.truth]  # each interval a third of the video later, wrapped
            video = replace(video, truth=tuple(replace(i, start=start, end=min(n - 1, start + i.end - i.start)) for i, start in moved))
            if kind == "all":
                frames = rng.integers(0, 256, video.frames.shape, dtype=np.uint8)
                video = replace(video, name=f"{video.name}#canary", frames=frames)
        out.append(video)
    return out
