"""Helpers that generate data for tests and offline demos."""
from .synthetic_irma import make_synthetic_irma
from .synthetic_rocov2 import make_synthetic_rocov2, synthetic_corpus

__all__ = ['make_synthetic_irma', 'make_synthetic_rocov2', 'synthetic_corpus']
