"""``import mmpretrain.models`` with ``pycocotools`` and transformers >= 4.52.

With ``pycocotools`` installed, mmpretrain 1.2.0 imports its BLIP,
Flamingo, ... models, whose ``blip/language_model.py`` imports names that
transformers >= 4.52 removed, and ``import mmpretrain.models`` crashes
(``TypeError: NoneType takes no arguments``). There we run
``mmpretrain.models.multimodal`` through its own fallback branch, which
registers mmpretrain's placeholders for those models (QwenCLIP needs none
of them).

Scope: the execution of that one module. ``WITH_MULTIMODAL`` is False only
while it runs, so mmpretrain's multimodal data sets and tokenizers still
import. The check is by feature: the names BLIP imports
(:data:`qwenclip_mm_startup.BLIP_NAMES`).

Import order: ``import qwenclip_mm`` applies it when mmpretrain's models
are not loaded yet. For the other order, ``pip install`` puts
``qwenclip_mm_startup.pth`` in site-packages, which leaves a finder on
``sys.meta_path`` that waits for that one import (see
:mod:`qwenclip_mm_startup`); editable installs do not install it.
"""
import importlib
import sys

import qwenclip_mm_startup
from qwenclip_mm_startup import TARGET, multimodal_import_breaks

from .override import Override


def needed() -> bool:
    """mmpretrain's multimodal models are not loaded yet and would fail."""
    return TARGET not in sys.modules and multimodal_import_breaks()


def import_placeholders() -> None:
    """Import ``mmpretrain.models`` with the multimodal placeholders."""
    qwenclip_mm_startup.install()
    importlib.import_module('mmpretrain.models')


OVERRIDE = Override(
    name='multimodal_placeholders',
    changes='mmpretrain.models.multimodal is executed with '
    'mmpretrain.utils.dependency.WITH_MULTIMODAL = False',
    versions='mmpretrain 1.2.0 with pycocotools and transformers without '
    ', '.join(qwenclip_mm_startup.BLIP_NAMES) + ' in modeling_utils '
    '(>= 4.52)',
    reason='mmpretrain/models/multimodal/blip/language_model.py imports '
    'names transformers removed; import mmpretrain.models crashes',
    scope='one module\'s execution; the flag is restored after it',
    needed=needed,
    apply=import_placeholders)
