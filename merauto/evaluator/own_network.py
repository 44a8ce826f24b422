"""A researcher's own network, trained and scored like a searched pipeline's.

A model factory ``factory(stream_shapes, n_classes)`` returns a :class:`torch.nn.Module` whose
``forward`` maps the standardised input streams (a dict of name -> (batch, *shape) tensors) to
class logits. :class:`OwnNetwork` gives it the interface the trainer
(:class:`~merauto.evaluator.engine.ModelSet`) calls; its logits stand in for the features a
searched network's head reads, so a config with feature dropout or auxiliary heads cannot train it.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

ModelFactory = Callable[[dict[str, tuple[int, ...]], int], nn.Module]


class OwnNetwork(nn.Module):
    """``network`` (logits from a dict of streams) as the trainer calls a searched network."""

    def __init__(self, network: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.network = network
        self.feature_dim = n_classes
        self.aux = nn.ModuleDict()

    def forward(
        self, inputs: dict[str, Tensor], head_mask: Tensor | None = None, with_features: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits, or (logits, logits) ``with_features``; ``head_mask`` is always None (no feature dropout)."""
        logits = self.network(inputs)
        return (logits, logits) if with_features else logits
