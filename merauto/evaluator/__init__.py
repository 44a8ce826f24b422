"""Model factory, training loop, protocols (nested LOSO) and metrics."""
