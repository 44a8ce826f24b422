"""merauto: AutoML for facial micro-expression recognition with honest, nested LOSO evaluation."""

__version__ = "0.1.0"
