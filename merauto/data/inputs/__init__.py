"""Input modalities (survey §4.2), one module each: its stream builder and its registered input.

Adding a modality is one new module in this folder: a ``@stream_builder`` for each new stream
kind (with the :class:`~merauto.data.streams.StreamLayout` that says what its values mean) and an
``@INPUTS.register`` :class:`InputKind` naming its streams. The search space, the feature cache,
the model builder (a trunk per stream, by layout), augmentation, ``merauto prepare`` and
``merauto space`` pick it up from the registries.
"""

from __future__ import annotations

import importlib
import pkgutil

from merauto.data.inputs.core import INPUTS, InputKind, pipeline_streams, stream_layouts, upstream_of

# The modalities in the order a study offers them: Optuna refuses a categorical parameter whose
# choices change order between trials, so studies begun earlier resume only if this order holds.
# Any other module of this folder registers after them, in name order.
ORDER = (
    "flow_strain",
    "apex_frame",
    "flow_apex",
    "key_frames",
    "sequence",
    "dynamic_image",
    "lbp_top",
    "landmark_graph",
    "flow_sequence",
    "flow_landmarks",
    "flow_lbp_top",
)
for _name in (*ORDER, *sorted({m.name for m in pkgutil.iter_modules(__path__)} - {"core", *ORDER})):
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["INPUTS", "InputKind", "pipeline_streams", "stream_layouts", "upstream_of"]
