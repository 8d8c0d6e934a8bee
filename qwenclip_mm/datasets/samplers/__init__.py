from .length_grouped_sampler import LengthGroupedSampler, caption_length

__all__ = ['LengthGroupedSampler', 'caption_length']
