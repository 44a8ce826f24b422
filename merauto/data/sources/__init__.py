"""Adapters of the licensed datasets in the layouts their authors distribute."""
