"""Model factory: a PipelineConfig and the input shapes give a multi-stream classifier."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from merauto.data.inputs import stream_layouts
from merauto.data.streams import StreamLayout
from merauto.evaluator.blocks import BLOCKS
from merauto.evaluator.fusion import FUSIONS
from merauto.evaluator.landmark_gcn import LandmarkGCN
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.temporal import temporal_trunk
from merauto.evaluator.topologies import TOPOLOGIES, trunk_features
from merauto.spec.config import PipelineConfig


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


def vector_trunk(dim: int, kind: str = "mlp", width: int = 64, layout: StreamLayout | None = None, gcn_layers: int = 1) -> nn.Module:
    """The trunk of a (D,) feature-vector stream (LBP-TOP, landmark graph): one hidden layer
    (``mlp``), none (``linear``: the classifier is linear in the features), or on a landmark
    graph stream (per its ``layout``) ``gcn_layers`` graph convolutions over the landmarks (``gcn``)."""
    if kind == "mlp":
        return nn.Sequential(nn.Linear(dim, width), nn.ReLU(inplace=True))
    if kind == "linear":
        return nn.Identity()
    if kind == "gcn":
        if layout is None or not layout.landmark_graph:
            raise ValueError("the gcn vector trunk reads landmark graph streams only")
        return LandmarkGCN(dim, gcn_layers)
    raise ValueError(f"unknown vector trunk {kind!r}")


def build_model(
    config: PipelineConfig,
    stream_shapes: dict[str, tuple[int, ...]],
    n_classes: int,
    aux: Mapping[str, Callable[[int], nn.Module]] | None = None,
) -> MultiStreamNet:
    """The network of ``config``: the topology's trunk on (C, H, W) streams, :func:`vector_trunk` on (D,) ones
    (its kind is the input's ``vector_trunk`` parameter, a GCN's depth its ``gcn_layers``), and on sequence streams the input's ``temporal``
    trunk (:mod:`merauto.evaluator.temporal`); configs written before these parameters get the MLP and
    frames stacked as channels. The streams' features meet in the config's fusion; ``aux`` builds
    auxiliary heads from the fused feature width."""
    block = BLOCKS.get(config.block.name)
    block_params = block.resolve(config.block.params)
    topology = TOPOLOGIES.get(config.topology.name)
    topology_params = topology.resolve(config.topology.params)
    temporal = str(config.input.params.get("temporal", "channels"))
    vector_kind = str(config.input.params.get("vector_trunk", "mlp"))
    gcn_layers = int(config.input.params.get("gcn_layers", 1))
    layouts = stream_layouts(config) if temporal != "channels" or vector_kind == "gcn" else {}

    def make_block(in_channels: int, out_channels: int, kernel: int | None = None) -> nn.Module:
        return block.build(in_channels, out_channels, block_params if kernel is None else {**block_params, "kernel": kernel})

    def cnn_trunk(channels: int) -> nn.Module:
        return topology.build(channels, make_block, topology_params)

    trunks: dict[str, nn.Module] = {}
    dims = []
    for name, shape in sorted(stream_shapes.items()):
        layout = layouts.get(name)
        if len(shape) == 1:
            trunk = vector_trunk(shape[0], vector_kind, layout=layouts.get(name), gcn_layers=gcn_layers)
        elif layout is not None and layout.evenly_spaced:
            trunk = temporal_trunk(temporal, shape, layout, cnn_trunk)
        else:
            trunk = cnn_trunk(shape[0])
        dims.append(trunk_features(trunk, shape))
        trunks[name] = trunk
    fusion_kind = FUSIONS.get(config.fusion.name)
    fusion = fusion_kind.build(dims, fusion_kind.resolve(config.fusion.params))
    with torch.no_grad():
        feature_dim = fusion([torch.zeros(1, d) for d in dims]).shape[1]
    loss = LOSSES.get(config.loss.name)
    head = loss.head(feature_dim, n_classes, loss.resolve(config.loss.params))
    heads = {name: make(feature_dim) for name, make in (aux or {}).items()}
    return MultiStreamNet(trunks, feature_dim, head, config.training.dropout, fusion, heads)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
