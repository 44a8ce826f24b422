"""Registries of the survey's taxonomy and the define-by-run function that samples a PipelineConfig."""
