"""Helpers that generate data for tests and offline demos."""
from .synthetic_rocov2 import make_synthetic_rocov2, synthetic_corpus

__all__ = ['make_synthetic_rocov2', 'synthetic_corpus']
