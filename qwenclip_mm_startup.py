"""Makes ``import mmpretrain.models`` survive recent transformers, whatever
imports first.

Installed with ``qwenclip_mm`` and run at interpreter start by
``qwenclip_mm_startup.pth``, this module only puts :class:`MultimodalFinder`
on ``sys.meta_path``: it imports nothing and does nothing else until
``mmpretrain.models.multimodal`` is imported. See
:mod:`qwenclip_mm.compat.multimodal` for why, and for the checks that decide
whether it changes anything.
"""
import importlib.abc
import importlib.util
import sys

TARGET = 'mmpretrain.models.multimodal'

#: The names mmpretrain 1.2.0's BLIP models import from
#: ``transformers.modeling_utils`` (transformers >= 4.52 removed some).
BLIP_NAMES = ('PreTrainedModel', 'apply_chunking_to_forward',
              'find_pruneable_heads_and_indices', 'prune_linear_layer')


def multimodal_import_breaks() -> bool:
    """Whether mmpretrain would import its multimodal models, and fail.

    True where mmpretrain's multimodal dependencies are installed
    (``pycocotools``) but ``transformers`` lacks names its BLIP models
    import.
    """
    from mmpretrain.utils import dependency
    if not dependency.WITH_MULTIMODAL:
        return False
    try:
        from transformers import modeling_utils
    except ImportError:
        return True
    return not all(hasattr(modeling_utils, name) for name in BLIP_NAMES)


class _PlaceholderLoader(importlib.abc.Loader):
    """Runs ``mmpretrain.models.multimodal`` with its own fallback branch."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        from mmpretrain.utils import dependency
        dependency.WITH_MULTIMODAL = False
        try:
            self.loader.exec_module(module)
        finally:
            dependency.WITH_MULTIMODAL = True


class MultimodalFinder(importlib.abc.MetaPathFinder):
    """Where the multimodal import would break, import mmpretrain's
    placeholders for those models instead.

    Acts once, on ``mmpretrain.models.multimodal``, and then leaves
    ``sys.meta_path``.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        remove()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and multimodal_import_breaks():
            spec.loader = _PlaceholderLoader(spec.loader)
        return spec


def install() -> None:
    """Put :class:`MultimodalFinder` first on ``sys.meta_path`` (once)."""
    if TARGET in sys.modules:
        return
    if not any(isinstance(f, MultimodalFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MultimodalFinder())


def remove() -> None:
    """Take :class:`MultimodalFinder` off ``sys.meta_path``."""
    sys.meta_path[:] = [
        f for f in sys.meta_path if not isinstance(f, MultimodalFinder)
    ]


def installed() -> bool:
    """Whether a :class:`MultimodalFinder` waits on ``sys.meta_path``."""
    return any(isinstance(f, MultimodalFinder) for f in sys.meta_path)
