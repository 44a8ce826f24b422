"""Datasets (adapters, the synthetic generator, the sample index), preprocessing (face
registration, magnification, regions), input modalities and the content-addressed feature
cache, with the one function that turns a config into its inputs (:func:`inputs_for`)."""

from __future__ import annotations

from merauto._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DATASETS": "datasets",
        "DatasetRequest": "datasets",
        "load_index": "datasets",
        "validate_dataset": "datasets",
        "Sample": "sample_index",
        "SampleIndex": "sample_index",
        "SyntheticSpec": "synthetic.generator",
        "FeatureCache": "cache",
        "default_cache_dir": "cache",
        "FeatureBuilder": "features",
        "inputs_for": "features",
        "INPUTS": "inputs",
        "InputKind": "inputs",
        "pipeline_streams": "inputs",
        "StreamLayout": "streams",
        "StreamSpec": "streams",
        "PREPROCESSING": "streams",
        "stream_builder": "streams",
        "FACES": "preprocessing.face",
        "MAGNIFICATIONS": "preprocessing.magnify",
        "REGIONS": "preprocessing.regions",
    },
)
