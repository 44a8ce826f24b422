"""Defaults of the search space that commands read before the registries are loaded."""

from __future__ import annotations

MAX_EPOCHS = 80  # default upper bound of the sampled maximum number of epochs (--max-epochs)
STARTUP_TRIALS = 10  # TPE samples at random until the study holds this many trials, presets included (--startup-trials)
RELATIVE_TRIAL_LIMIT = 8.0  # --max-trial-seconds auto: a proposal may be predicted to train this many times the reference preset
