"""Losses: each learns a separable toy problem; margin heads predict without their margin."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from merauto.evaluator.losses import LOSSES, CosineHead, LossInputs, batch_hard_triplet, supervised_contrastive
from merauto.evaluator.model import build_model
from merauto.pipeline.config import Choice
from merauto.search_space.presets import PRESETS

VARIANTS = [(name, {}) for name in LOSSES.names()] + [("focal", {"adaptive": True}), ("arcface", {"easy_margin": True})]


def _toy(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three linearly separable classes in 2-D, unbalanced (24/16/8)."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.tensor([0] * (n // 2) + [1] * (n // 3) + [2] * (n - n // 2 - n // 3))
    centres = torch.tensor([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.0]])
    return centres[y] + 0.3 * torch.randn(n, 2, generator=generator), y


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=[f"{n}{'-' + '-'.join(p) if p else ''}" for n, p in VARIANTS])
def test_each_loss_decreases_on_a_separable_toy_problem(name: str, params: dict) -> None:
    loss = LOSSES.get(name)
    resolved = loss.resolve(params)
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(2, 16), nn.ReLU())
    head = loss.head(16, 3, resolved)
    criterion = loss.build(resolved)
    x, y = _toy()
    weights = torch.tensor([0.5, 1.0, 2.0])  # class weighting is honoured by every classification term
    optimiser = torch.optim.AdamW([*trunk.parameters(), *head.parameters()], lr=1e-2)
    history = []
    for _ in range(60):
        features = trunk(x)
        value = criterion(head(features), features, [(1.0, y)], weights, dict(head.named_parameters()))
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
        history.append(value.item())
    assert history[-1] < 0.75 * history[0]  # supervised contrastive has a floor near weight x log(positives)
    with torch.no_grad():
        assert (head(trunk(x)).argmax(1) == y).float().mean() > 0.9


@pytest.mark.parametrize("name", ["cosface", "arcface"])
def test_margin_heads_predict_scaled_cosines_without_the_margin(name: str) -> None:
    config = replace(PRESETS["ststnet"], loss=Choice(name, LOSSES.get(name).resolve({"scale": 16.0})))
    model = build_model(config, {"flow": (3, 28, 28)}, 3).eval()
    assert isinstance(model.head, CosineHead)
    with torch.no_grad():
        logits, features = model({"flow": torch.randn(5, 3, 28, 28)}, with_features=True)
    cosine = F.normalize(features, dim=1) @ F.normalize(model.head.weight, dim=1).T
    torch.testing.assert_close(logits, 16.0 * cosine)
    y = logits.argmax(1)  # the margin makes the true class harder while training only
    criterion = LOSSES.get(name).build(config.loss.params)
    margin_loss = criterion(logits, features, [(1.0, y)], torch.ones(3), dict(model.head.named_parameters()))
    assert margin_loss > F.cross_entropy(logits, y)


def test_embedding_terms_are_zero_without_a_valid_pair() -> None:
    features = torch.randn(3, 4)
    distinct = torch.tensor([0, 1, 2])
    assert batch_hard_triplet(features, distinct, 0.2) == 0
    assert batch_hard_triplet(features, torch.zeros(3, dtype=torch.long), 0.2) == 0  # no negative
    assert supervised_contrastive(features, distinct, 0.1) == 0


def test_mixup_weights_classification_terms_and_takes_embedding_terms_on_the_first_target() -> None:
    loss = LOSSES.get("triplet")
    criterion = loss.build(loss.resolve({}))
    logits, features = torch.randn(6, 3), torch.randn(6, 4)
    a, b = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([1, 2, 0, 2, 0, 1])
    weights, head = torch.ones(3), {}
    mixed = criterion(logits, features, [(0.7, a), (0.3, b)], weights, head)
    ce = [criterion.classification(LossInputs(logits, features, t, weights, head)) for t in (a, b)]
    embedding = criterion.embedding(LossInputs(logits, features, a, weights, head))
    torch.testing.assert_close(mixed, 0.7 * ce[0] + 0.3 * ce[1] + embedding)
