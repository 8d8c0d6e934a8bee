"""Registry nodes of the ``qwenclip_mm`` scope, children of mmpretrain's.

QwenCLIP registers its components in mmpretrain's registries, so configs
run with ``default_scope = 'mmpretrain'``. A config that inherits a base
with ``_base_ = 'qwenclip_mm::...'`` is different: MMEngine marks every
object the base defines with ``_scope_='qwenclip_mm'`` and, when building
it, imports ``qwenclip_mm.registry`` and looks for registry nodes of that
scope. These are those nodes: empty children of mmpretrain's registries
(same names, as in :mod:`mmpretrain.registry`), so a lookup from them climbs
to mmpretrain's node, where QwenCLIP's and mmpretrain's components are, and
on to MMEngine's root.
"""
from mmengine.registry import Registry
from mmpretrain import registry as _mmpretrain_registry

SCOPE = 'qwenclip_mm'

__all__ = list(_mmpretrain_registry.__all__)


def _child(parent: Registry) -> Registry:
    # Importing this module imports the package first, which registers
    # QwenCLIP's components; the parent's locations register mmpretrain's
    # when a lookup starts here (a lookup only imports its own node's).
    return Registry(
        parent.name,
        parent=parent,
        scope=SCOPE,
        locations=[*parent._locations, 'qwenclip_mm'])


for _name in __all__:
    globals()[_name] = _child(getattr(_mmpretrain_registry, _name))
del _name
