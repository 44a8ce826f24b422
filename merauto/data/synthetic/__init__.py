"""The synthetic dataset: rendered face clips with FACS-like micro-movements, generated into the cache on first use."""
