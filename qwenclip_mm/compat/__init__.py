"""Every override of third-party behaviour that QwenCLIP makes, in one place.

A plugin runs inside other people's processes, so importing
``qwenclip_mm`` changes nothing in torch, MMEngine or mmpretrain beyond
registering its components and the overrides listed here. Each
:class:`Override` says which upstream versions it is for, checks at run
time whether the installed versions need it (by feature where possible,
else by version), says why, and names its scope. The tests in
``tests/test_compat/`` show each one fails without it.

Applied by ``import qwenclip_mm`` (:data:`IMPORT_OVERRIDES`):

* ``mmengine_checkpoint_allow_list`` (:mod:`.checkpoints`)
* ``multimodal_placeholders`` (:mod:`.multimodal`)
* ``config_bases_without_pkg_resources`` (:mod:`.config_bases`)
* ``retrieval_metrics_without_in1d`` (:mod:`.retrieval_metrics`)

Applied only by ``tools/train.py`` and ``tools/test.py``, through
:func:`~.tools.tool_overrides` (:data:`~.tools.TOOL_OVERRIDES`):

* ``init_dist_without_cuda`` and its exit barrier (:mod:`.dist`)
* ``checkpoint_errors_name_the_file`` (:mod:`.tools`)
"""
import importlib
import warnings
from typing import Dict, List

from . import checkpoints, config_bases, multimodal, retrieval_metrics
from .override import Override, installed_version

__all__ = [
    'Override', 'installed_version', 'IMPORT_OVERRIDES', 'apply_overrides',
    'active_overrides'
]

#: In the order they apply: the multimodal one before anything imports
#: ``mmpretrain.models``.
IMPORT_OVERRIDES = (multimodal.OVERRIDE, checkpoints.OVERRIDE,
                    config_bases.OVERRIDE, retrieval_metrics.OVERRIDE)

_active: Dict[str, Override] = {}


def apply_overrides(overrides) -> List[str]:
    """Apply each override the installed versions need.

    Returns:
        list[str]: The names of the overrides applied by this call.
    """
    applied = []
    for override in overrides:
        if override.name in _active or not override.needed():
            continue
        override.apply()
        _active[override.name] = override
        applied.append(override.name)
    return applied


def active_overrides() -> Dict[str, Override]:
    """The overrides applied in this process so far, by name."""
    return dict(_active)


def _import_mmpretrain_models() -> None:
    """Import ``mmpretrain.models`` without mmcv-lite's warning.

    mmcv-lite has no compiled ops by design, and warns so on import; noise
    for QwenCLIP, which uses none. The filter is undone after the import.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore',
            message='Fail to import ``MultiScaleDeformableAttention``')
        importlib.import_module('mmpretrain.models')


apply_overrides(IMPORT_OVERRIDES)
_import_mmpretrain_models()
