from .length_grouped_sampler import LengthGroupedSampler

__all__ = ['LengthGroupedSampler']
