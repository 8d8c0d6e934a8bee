"""QwenCLIP for MMPretrain: importing this package registers every part."""
from . import compat  # noqa: F401  (must run before mmpretrain models load)
from . import datasets, engine, evaluation, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
