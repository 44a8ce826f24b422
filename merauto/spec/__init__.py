"""What every layer shares: registries of components, and the plain-data PipelineConfig."""
