"""Optuna study and storage, Ray Tune execution, budget, resume and progress."""
