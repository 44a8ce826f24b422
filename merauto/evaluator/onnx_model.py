"""A trained network as ONNX: the export, onnxruntime sessions, per-clip latency and the check that
onnxruntime computes what torch computes.

The network (:class:`~merauto.evaluator.model.MultiStreamNet`) reads a dict stream name -> float32
tensor (N, *shape) of standardised inputs and returns logits (N, n_classes). The ONNX model has one
input per stream, named by the stream (sorted names), one output ``logits``, and a dynamic batch
axis ``batch``; its initialisers carry the network's ``state_dict`` names.

Exporter: ``torch.onnx.export(dynamo=True)`` (``torch.export`` then onnxscript's translation), at
opset 18. The TorchScript exporter (``dynamo=False``) was tried first, at opset 17, on one model of
every block, topology, vector trunk, temporal trunk, fusion and margin head: it fails on three of
them, adaptive average pooling to a grid that does not divide the map (``stacked`` with ``pool`` 4
on a 7x7 map: the off_apexnet, dual_inception and rcn presets), the ``graph_conv`` block (it pools
a map whose size it reads at run time) and the landmark ``gcn`` trunk (``triu_indices``). The dynamo
exporter exports all of them, each matching torch to 2e-6 or better. Opset 18 is the lowest it
implements: asked for 17 it converts after the fact and keeps 18 where the conversion fails, as it
does for most of these networks, so a request it could not meet is refused here.

The exporter's optimiser (onnxscript's rewrite rules) takes constants within 1e-8 of 0 for 0 and within
1e-5 of 1 for 1: it drops ``x + 1e-8`` to ``x`` and ``x * (1 + 1e-6)`` to ``x``. A component whose maths needs
such a constant writes it otherwise (the capsule block's ``squash`` scales its eps by 2^16), and
``tests/test_onnx_registry.py`` exports every registered component against torch.

Exported files carry no stack traces or other node metadata (they would name local paths).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from merauto.errors import MerautoError

ONNX_OPSET = 18  # the lowest opset the dynamo exporter implements
OUTPUT = "logits"
BATCH_AXIS = "batch"
EXAMPLE_BATCH = 2  # an example batch of 1 would fix the batch axis at 1
VERIFY_ROWS = 256  # rows per run when comparing onnxruntime with torch
WARMUP_RUNS = 5


def export_onnx(model: nn.Module, stream_shapes: dict[str, tuple[int, ...]], path: Path, opset: int = ONNX_OPSET) -> None:
    """Write ``model`` (standardised streams by name -> logits) to ``path`` as ONNX: inputs named by
    stream (sorted), output ``logits``, dynamic batch axis. The model is exported in eval mode from a
    copy (``model`` is left as it was). A part that cannot be exported raises :class:`MerautoError`
    naming the part (its path in the network and its class) and why."""
    network = copy.deepcopy(model).eval()
    example = {name: torch.zeros(EXAMPLE_BATCH, *stream_shapes[name]) for name in sorted(stream_shapes)}
    batch = torch.export.Dim(BATCH_AXIS)
    try:
        with _quiet():
            program = torch.onnx.export(
                network,
                (),
                None,
                kwargs={"inputs": example},
                input_names=list(example),
                output_names=[OUTPUT],
                dynamic_shapes={"inputs": {name: {0: batch} for name in example}},
                opset_version=opset,
                dynamo=True,
                verbose=False,
            )
    except Exception as error:  # any exporter failure becomes a message naming the part that fails
        part, module, reason = _failing_part(network, example, error)
        raise MerautoError(
            f"cannot export the network to ONNX: its part {part} ({type(module).__module__}.{type(module).__name__}) does not "
            f"export: {reason}",
            "export another trial (merauto export --trial N) whose components export, or make this component traceable by "
            "torch.export (no Python branches on tensor values, no operators without an ONNX translation)",
        ) from None
    proto = program.model_proto
    written = _default_opset(proto)
    if written != opset:
        raise MerautoError(
            f"the ONNX exporter could not write opset {opset} for this network (it wrote opset {written})",
            f"ask for opset {ONNX_OPSET} or later",
        )
    _strip_metadata(proto.graph)
    onnx.save_model(proto, str(path))


def onnx_session(path: Path) -> ort.InferenceSession:
    """An onnxruntime CPU session of ``path`` running on one intra-op and one inter-op thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable models
        raise MerautoError(
            f"onnxruntime cannot load {path}: {_first_line(error)}", "export the pipeline again with merauto export"
        ) from None


def run_onnx(session: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Logits (N, n_classes) of ``session`` on standardised ``inputs`` (N, ...) by stream name, ``VERIFY_ROWS`` rows at a time."""
    names = [i.name for i in session.get_inputs()]
    if sorted(names) != sorted(inputs):
        raise MerautoError(
            f"the ONNX model reads streams {sorted(names)}, the inputs hold {sorted(inputs)}",
            "export the pipeline again with merauto export instead of editing its files",
        )
    n = len(next(iter(inputs.values())))
    parts = [
        session.run([OUTPUT], {name: np.ascontiguousarray(inputs[name][rows], dtype=np.float32) for name in names})[0]
        for rows in _row_chunks(n)
    ]
    return np.concatenate(parts)


def torch_logits(model: nn.Module, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Logits (N, n_classes) of ``model`` in eval mode on standardised ``inputs``, ``VERIFY_ROWS`` rows at a time."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            n = len(next(iter(inputs.values())))
            parts = [
                model({k: torch.from_numpy(np.ascontiguousarray(v[rows], dtype=np.float32)) for k, v in inputs.items()})
                for rows in _row_chunks(n)
            ]
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy()


def verify_onnx(path: Path, model: nn.Module, inputs: dict[str, np.ndarray], atol: float, rtol: float) -> float:
    """The largest absolute difference between the logits of onnxruntime running ``path`` and of
    torch running ``model`` on the standardised ``inputs``. Raises :class:`MerautoError` naming the
    file, the difference and the tolerance when a logit differs by more than ``atol + rtol * |torch's|``
    (a non-finite one always does)."""
    expected = torch_logits(model, inputs)
    got = run_onnx(onnx_session(path), inputs)
    if got.shape != expected.shape:
        raise MerautoError(f"{path} returns logits of shape {got.shape}, torch {expected.shape}", "export the pipeline again")
    difference = np.abs(got.astype(np.float64) - expected)
    difference[~np.isfinite(difference)] = np.inf
    outside = int((difference > atol + rtol * np.abs(expected)).sum())
    largest = float(difference.max()) if difference.size else 0.0
    if outside:
        raise MerautoError(
            f"{path}: onnxruntime's logits differ from torch's by up to {largest:.3g} ({outside} of {difference.size} values "
            f"beyond the tolerance {atol:g} + {rtol:g} x |torch's logit|)",
            "the ONNX model does not compute what the network does: export another trial (merauto export --trial N) and report "
            "this trial's config (pipeline.json) with this message",
        )
    return largest


def onnx_latency_ms(model: nn.Module, stream_shapes: dict[str, tuple[int, ...]], repeats: int = 50) -> float:
    """Median milliseconds onnxruntime (CPU, one intra-op and one inter-op thread) takes to classify
    one clip with ``model``, exported to a temporary file, after a few warm-up runs."""
    rng = np.random.default_rng(0)
    feed = {name: rng.standard_normal((1, *shape)).astype(np.float32) for name, shape in sorted(stream_shapes.items())}
    with tempfile.TemporaryDirectory(prefix="merauto-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        export_onnx(model, stream_shapes, path)
        session = onnx_session(path)
        for _ in range(WARMUP_RUNS):
            session.run([OUTPUT], feed)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            session.run([OUTPUT], feed)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _row_chunks(n: int) -> list[slice]:
    return [slice(start, min(start + VERIFY_ROWS, n)) for start in range(0, n, VERIFY_ROWS)]


def _default_opset(proto: onnx.ModelProto) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _strip_metadata(graph: onnx.GraphProto) -> None:
    """Drop node metadata (stack traces naming local files, exporter scopes) and doc strings, in subgraphs too."""
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attribute in node.attribute:
            if attribute.HasField("g"):
                _strip_metadata(attribute.g)
            for subgraph in attribute.graphs:
                _strip_metadata(subgraph)
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        del value.metadata_props[:]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's warnings, log lines and printed graphs (missing optional packages, deprecations, the
    graphs of a failed capture) kept off the console: what matters reaches the caller as an exception."""
    logger = logging.getLogger("torch")  # torch's loggers inherit its level and print through their own handlers
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _failing_part(network: nn.Module, example: dict[str, torch.Tensor], error: Exception) -> tuple[str, nn.Module, str]:
    """The deepest part of ``network`` that fails to export on its own, found by exporting each part
    with the arguments it receives in a forward pass: (its path, the module, why), or the whole
    network and ``error``'s reason when every part exports alone."""
    calls: dict[nn.Module, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def record(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        calls.setdefault(module, (args, kwargs))

    hooks = [m.register_forward_pre_hook(record, with_kwargs=True) for m in network.modules()]
    try:
        with torch.no_grad():
            network(example)
    except Exception as failure:  # the network does not even run on inputs of these shapes
        return "the network", network, _first_line(failure)
    finally:
        for hook in hooks:
            hook.remove()
    path, module, reason = "the network", network, _first_line(error)
    while True:
        for child_path, child in _called_parts(module, calls):
            failure = _export_failure(child, *calls[child])
            if failure is not None:
                path, module, reason = child_path if module is network else f"{path}.{child_path}", child, failure
                break
        else:
            return path, module, reason


def _called_parts(module: nn.Module, calls: dict[nn.Module, Any], prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """The submodules ``module`` calls in a forward pass, seen through containers that are never called themselves (``ModuleDict``)."""
    for name, child in module.named_children():
        if child in calls:
            yield prefix + name, child
        else:
            yield from _called_parts(child, calls, f"{prefix}{name}.")


def _export_failure(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """Why ``module`` cannot be exported with these arguments, or ``None`` when it can."""
    try:
        with _quiet():
            torch.onnx.export(module, args, None, kwargs=kwargs, dynamo=True, verbose=False, opset_version=ONNX_OPSET)
    except Exception as error:  # any failure counts
        return _first_line(error)
    return None


def _first_line(error: BaseException) -> str:
    """The innermost cause's first line (the exporter wraps the real reason in generic advice)."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:300] if lines else ''}"
