"""An exported pipeline: the selected trial refit and written as a self-contained folder (ONNX
and safetensors with their manifest), read back to classify new clips."""
