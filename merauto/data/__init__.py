"""Datasets, preprocessing, inputs and the content-addressed feature cache."""
