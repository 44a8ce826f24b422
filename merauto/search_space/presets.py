"""Literature pipelines as points of the search space, enqueued by ``--seed-presets``."""

from __future__ import annotations

from merauto.search_space.config import Choice, PipelineConfig, TrainingConfig

PRESETS: dict[str, PipelineConfig] = {
    # STSTNet (Liong et al., 2019): three shallow parallel conv branches of 3, 5 and 8 channels
    # on the 28x28 onset->apex flow + strain map; max-pool, concatenation, average pool, FC.
    "ststnet": PipelineConfig(
        input=Choice("flow_strain", {"size": 28, "flow_method": "farneback", "flow_channels": "u+v+strain"}),
        topology=Choice("branches", {"n": 3, "width_0": 3, "width_1": 5, "width_2": 8}),
        block=Choice("conv_bn_relu", {"kernel": 3}),
        loss=Choice("cross_entropy", {"label_smoothing": 0.0}),
        face=Choice("none"),
        magnification=Choice("none"),
        roi=Choice("whole"),
        augment=Choice("none"),
        training=TrainingConfig(lr=1e-3, weight_decay=1e-4, batch_size=32, max_epochs=60, class_weighting="balanced", dropout=0.0),
    ),
}
