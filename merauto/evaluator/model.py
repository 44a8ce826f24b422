"""Model factory: a PipelineConfig and the input shapes give a multi-stream classifier."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from merauto.data.inputs import stream_layouts
from merauto.data.streams import StreamLayout
from merauto.evaluator.blocks import BLOCKS
from merauto.evaluator.fusion import FUSIONS
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.temporal import TEMPORAL_TRUNKS
from merauto.evaluator.topologies import TOPOLOGIES, trunk_features
from merauto.evaluator.vector_trunks import VECTOR_TRUNKS
from merauto.pipeline.config import PipelineConfig
from merauto.pipeline.registry import embedded


class MultiStreamNet(nn.Module):
    """One trunk per input stream; their features are fused (concatenated unless the config
    fuses them otherwise) and classified by the loss's head (a linear layer unless the loss
    needs another).

    Dropout on the features uses ``head_mask`` (already scaled by 1/(1-p)) when given, so a
    trainer can draw masks from its own seeded generator; otherwise ordinary dropout.
    ``aux`` holds auxiliary heads that training reads and prediction does not.
    """

    def __init__(
        self,
        trunks: dict[str, nn.Module],
        feature_dim: int,
        head: nn.Module,
        dropout: float,
        fusion: nn.Module,
        aux: dict[str, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.trunks = nn.ModuleDict(trunks)
        self.fusion = fusion
        self.feature_dim = feature_dim
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = head
        self.aux = nn.ModuleDict(aux or {})

    def forward(
        self, inputs: dict[str, Tensor], head_mask: Tensor | None = None, with_features: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits, or (logits, the features the head read) ``with_features``."""
        features = self.fusion([trunk(inputs[name]) for name, trunk in self.trunks.items()])
        features = features * head_mask if head_mask is not None else self.dropout(features)
        logits = self.head(features)
        return (logits, features) if with_features else logits


def build_model(
    config: PipelineConfig,
    stream_shapes: dict[str, tuple[int, ...]],
    n_classes: int,
    aux: Mapping[str, Callable[[int], nn.Module]] | None = None,
) -> MultiStreamNet:
    """The network of ``config``: the topology's trunk of blocks on (C, H, W) streams, the input's
    vector trunk on (D,) ones and its temporal trunk on evenly spaced sequence streams (both chosen in
    its parameters; a config written before they were chosen gets the MLP and frames stacked as
    channels). The streams' features meet in the config's fusion and go to the loss's head; ``aux``
    builds auxiliary heads from the fused feature width.

    STSTNet's three branches of 3, 5 and 8 channels on a 28x28 flow + strain map have 1683 parameters:

    >>> from merauto.pipeline import Choice, PipelineConfig
    >>> branches = {"n": 3, "width_0": 3, "width_1": 5, "width_2": 8, "kernel_0": 3, "kernel_1": 3, "kernel_2": 3}
    >>> config = PipelineConfig(
    ...     input=Choice("flow_strain"), topology=Choice("branches", branches), block=Choice("conv_bn_relu"), loss=Choice("cross_entropy")
    ... )
    >>> count_parameters(build_model(config, {"flow": (3, 28, 28)}, n_classes=3))
    1683
    """
    block, block_params = BLOCKS.resolved(config.block)
    topology, topology_params = TOPOLOGIES.resolved(config.topology)
    layouts = stream_layouts(config)

    def make_block(in_channels: int, out_channels: int, kernel: int | None = None) -> nn.Module:
        return block.build(in_channels, out_channels, block_params if kernel is None else {**block_params, "kernel": kernel})

    def cnn_trunk(channels: int) -> nn.Module:
        return topology.build(channels, make_block, topology_params)

    trunks: dict[str, nn.Module] = {}
    dims = []
    for name, shape in sorted(stream_shapes.items()):
        layout = layouts.get(name)
        if len(shape) == 1:
            trunk = _vector_trunk(shape[0], layout or StreamLayout(vector=True), config.input.params)
        elif layout is not None and layout.evenly_spaced:
            temporal, temporal_params = embedded(TEMPORAL_TRUNKS, config.input.params)
            trunk = temporal.build(shape, layout, cnn_trunk, temporal_params)
        else:
            trunk = cnn_trunk(shape[0])
        dims.append(trunk_features(trunk, shape))
        trunks[name] = trunk
    fusion_kind, fusion_params = FUSIONS.resolved(config.fusion)
    fusion = fusion_kind.build(dims, fusion_params)
    with torch.no_grad():
        feature_dim = fusion([torch.zeros(1, d) for d in dims]).shape[1]
    loss, loss_params = LOSSES.resolved(config.loss)
    head = loss.head(feature_dim, n_classes, loss_params)
    heads = {name: make(feature_dim) for name, make in (aux or {}).items()}
    return MultiStreamNet(trunks, feature_dim, head, config.training.dropout, fusion, heads)


def _vector_trunk(dim: int, layout: StreamLayout, input_params: dict) -> nn.Module:
    trunk, params = embedded(VECTOR_TRUNKS, input_params)
    if not trunk.accepts(layout):
        raise ValueError(f"the {trunk.name} vector trunk cannot read this stream ({trunk.description})")
    return trunk.build(dim, layout, params)


def count_parameters(model: nn.Module) -> int:
    """Every parameter of ``model``, trainable or not."""
    return sum(p.numel() for p in model.parameters())
