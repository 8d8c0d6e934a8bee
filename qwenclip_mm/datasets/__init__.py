"""Data sets; importing this package registers them in mmpretrain."""
from .rocov2 import ROCOv2Dataset

__all__ = ['ROCOv2Dataset']
