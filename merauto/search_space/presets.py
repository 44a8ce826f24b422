"""Literature pipelines as points of the search space, enqueued by ``--seed-presets``.

Each is the nearest config the space expresses; the comment says what differs from the paper.
Training settings are merauto's (the space's), not the papers'. Parameter counts are for three
classes and are asserted in ``tests/test_search_space.py``.
"""

from __future__ import annotations

from merauto.pipeline.config import Choice, PipelineConfig, TrainingConfig

FLOW = Choice("flow_strain", {"size": 28, "flow_method": "farneback", "flow_channels": "u+v+strain"})
TRAINING = TrainingConfig(lr=1e-3, weight_decay=1e-4, batch_size=32, max_epochs=60, class_weighting="balanced", dropout=0.0)


def _preset(input_choice: Choice, topology: Choice, block: Choice) -> PipelineConfig:
    """A preset with no preprocessing step, cross-entropy and :data:`TRAINING`."""
    return PipelineConfig(
        input=input_choice,
        topology=topology,
        block=block,
        loss=Choice("cross_entropy", {"label_smoothing": 0.0}),
        face=Choice("none"),
        magnification=Choice("none"),
        roi=Choice("whole"),
        augment=Choice("none"),
        training=TRAINING,
    )


PRESETS: dict[str, PipelineConfig] = {
    # STSTNet (Liong et al., 2019): three shallow parallel conv branches of 3, 5 and 8 channels
    # on the 28x28 onset->apex flow + strain map; max-pool, concatenation, average pool, FC.
    # 1683 parameters, as in the paper. Every branch's kernel is 3x3, as in the paper.
    "ststnet": _preset(
        FLOW,
        Choice("branches", {"n": 3, "width_0": 3, "width_1": 5, "width_2": 8, "kernel_0": 3, "kernel_1": 3, "kernel_2": 3}),
        Choice("conv_bn_relu", {"kernel": 3}),
    ),
    # OFF-ApexNet (Gan et al., 2019): onset->apex optical flow u and v, each in its own stream of
    # two 5x5 conv layers (6 and 16 filters) with max-pooling, then fully connected layers.
    # Here: one stream on u, v and strain together; stacked widths double, so 8 then 16 filters
    # (the second layer matches); batch norm after each conv; the 7x7 maps average-pooled to 4x4
    # and flattened (spatial layout kept, as the paper's FC layers read it) into one linear layer
    # instead of the FC layers. Parameters: conv1 3*8*25+8 + bn 16 = 624,
    # conv2 8*16*25+16 + bn 32 = 3248, linear 16*16*3+3 = 771: 4643.
    "off_apexnet": _preset(FLOW, Choice("stacked", {"depth": 2, "width": 8, "pool": 4}), Choice("conv_bn_relu", {"kernel": 5})),
    # Dual-Inception (Zhou et al., 2019): two streams, on the horizontal and on the vertical
    # optical flow, each of two inception modules with pooling, concatenated and classified.
    # Here: one stream on u, v and strain together, two inception modules of 16 then 32 channels
    # (four equal branches, 1x1 reductions to half a branch) each with 2x2 max-pooling, the 7x7
    # maps average-pooled to 4x4 and flattened. Parameters: module 1 (3->16) 24 + 96 + 224 + 24
    # = 368, module 2 (16->32) 152 + 388 + 900 + 152 = 1592, linear 32*16*3+3 = 1539: 3499.
    "dual_inception": _preset(
        FLOW, Choice("stacked", {"depth": 2, "width": 16, "pool": 4}), Choice("inception", {"large": "5x5", "reduction": 2})
    ),
    # RCN (Xia et al., 2020, "Revealing the invisible with model and data shrinking"): recurrent
    # convolutional layers on optical flow, shrunk (few, narrow layers, small inputs) for
    # composite-database recognition. Here: two recurrent conv layers of 8 then 16 channels,
    # T = 3 weight-shared iterations (Liang and Hu's RCL), on the 28x28 flow + strain map; the
    # paper's parameter-free enhancement modules are not in the space. Parameters per layer:
    # feed-forward conv, recurrent conv (no bias), 4 batch norms: 3*8*9+8 + 8*8*9 + 64 = 864,
    # 8*16*9+16 + 16*16*9 + 128 = 3600; the 7x7 maps average-pooled to 4x4 and flattened,
    # linear 16*16*3+3 = 771: 5235.
    "rcn": _preset(FLOW, Choice("stacked", {"depth": 2, "width": 8, "pool": 4}), Choice("recurrent_conv", {"kernel": 3, "steps": 3})),
    # LBP-TOP baseline (Li et al., 2013, SMIC; Zhao and Pietikainen, 2007): LBP-TOP histograms
    # of a block grid with a linear SVM. Here: 5x5 blocks (the space's finest), radius 1, 59
    # uniform patterns per plane, and a linear softmax classifier instead of the SVM (no
    # trunk; the topology and block are unused, there is no image stream). Parameters:
    # 3*25*59 = 4425 features, linear 4425*3+3: 13278.
    "lbp_top_linear": _preset(
        Choice("lbp_top", {"blocks": 5, "vector_trunk": "linear"}),
        Choice("stacked", {"depth": 2, "width": 16, "pool": 1}),
        Choice("conv_bn_relu", {"kernel": 3}),
    ),
}
