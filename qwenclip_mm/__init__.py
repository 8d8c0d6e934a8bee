"""QwenCLIP for MMPretrain: importing this package registers every part."""
from . import compat  # noqa: F401  (must run before mmpretrain models load)
from . import datasets, engine, evaluation, models  # noqa: F401
from .model_index import register_all
from .version import __version__

register_all()  # `qwenclip_mm::` config bases, mmpretrain's ModelHub

__all__ = ['__version__']
