"""Make the installed package an OpenMMLab citizen: configs, tools, models.

Like mmpretrain, the installed package carries its configs, tools and
model index in ``qwenclip_mm/.mim/`` (``setup.py`` puts them there: links
to the source tree for an editable install, copies in a wheel). Importing
``qwenclip_mm`` calls :func:`register_all`, which

* lets MMEngine resolve ``_base_ = 'qwenclip_mm::qwenclip/CONFIG.py'`` from a
  config in any folder (its ``MODULE2PACKAGE`` map names the packages whose
  configs ``package::path`` may point into; the objects such a base defines
  are built through :mod:`qwenclip_mm.registry`);
* drops that ``_scope_`` from a dataloader's ``collate_fn`` dict, which
  MMEngine's runners, unlike its registries, pass on to the function
  (``default_collate() got an unexpected keyword argument '_scope_'``);
* registers ``model-index.yml`` with mmpretrain's ``ModelHub``, so that
  ``mmpretrain.list_models('*qwenclip*')``, ``get_model(NAME)`` and the
  inferencers know QwenCLIP's models by name.

MMEngine reads a config's ``_base_`` before its ``custom_imports``, so the
program that loads a ``qwenclip_mm::`` config must have imported
``qwenclip_mm`` first. The tools shipped in the package do
(``python -m qwenclip_mm train CONFIG``, ``mim train qwenclip_mm CONFIG``).
"""
import os.path as osp
from typing import Optional

PACKAGE = 'qwenclip_mm'
PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
MODEL_INDEX = 'model-index.yml'

_state = {'model_index_registered': False}


def mim_root() -> Optional[str]:
    """The folder holding ``configs/``, ``tools/`` and ``model-index.yml``.

    Returns:
        str | None: ``qwenclip_mm/.mim`` of the installed package, or the
        source checkout's root when the package is imported from a clone
        that ``setup.py`` has not run in; None if neither has the files.
    """
    for root in (osp.join(PACKAGE_DIR, '.mim'), osp.dirname(PACKAGE_DIR)):
        if osp.isfile(osp.join(root, MODEL_INDEX)) and osp.isdir(
                osp.join(root, 'configs', 'qwenclip')):
            return root
    return None


def tool_path(name: str) -> str:
    """The path of a tool shipped with the package.

    Args:
        name (str): The tool relative to ``tools/``, with or without
            ``.py``: ``'train'``, ``'test'``,
            ``'analysis_tools/extract_embeddings'``.

    Returns:
        str: The tool's absolute path.

    Raises:
        FileNotFoundError: If there is no such tool.
    """
    root = mim_root()
    if not name.endswith(('.py', '.sh')):
        name += '.py'
    path = osp.join(root, 'tools', name) if root else name
    if root is None or not osp.isfile(path):
        raise FileNotFoundError(
            f'no tool {name!r} in {PACKAGE}: expected {path} (is the package '
            'installed with its .mim folder?)')
    return path


def register_config_scope() -> None:
    """Let MMEngine resolve ``qwenclip_mm::PATH`` config bases."""
    from mmengine.config import utils
    # PKG2PROJECT is the same dict under its deprecated name.
    utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)


def _without_collate_scope(build_dataloader):
    """Wrap a runner's ``build_dataloader`` to drop ``collate_fn._scope_``."""

    def wrapped(dataloader, *args, **kwargs):
        collate_fn = (
            dataloader.get('collate_fn')
            if isinstance(dataloader, dict) else None)
        if isinstance(collate_fn, dict) and '_scope_' in collate_fn:
            dataloader = dataloader.copy()
            dataloader['collate_fn'] = {
                key: value
                for key, value in collate_fn.items() if key != '_scope_'
            }
        return build_dataloader(dataloader, *args, **kwargs)

    wrapped.without_collate_scope = True
    return wrapped


def drop_collate_fn_scope() -> None:
    """Let the runners build a ``collate_fn`` from a ``pkg::`` base."""
    from mmengine.runner import FlexibleRunner, Runner
    for runner in (Runner, FlexibleRunner):
        build = runner.__dict__['build_dataloader'].__func__
        if not getattr(build, 'without_collate_scope', False):
            runner.build_dataloader = staticmethod(
                _without_collate_scope(build))


def register_model_index() -> bool:
    """Register QwenCLIP's model index with mmpretrain's ``ModelHub``.

    Safe to call more than once (``ModelHub`` refuses a name twice).

    Returns:
        bool: True if the index was found and is registered.
    """
    if _state['model_index_registered']:
        return True
    root = mim_root()
    if root is None:
        return False
    from mmpretrain.apis.model import ModelHub
    ModelHub.register_model_index(
        osp.join(root, MODEL_INDEX), config_prefix=root)
    _state['model_index_registered'] = True
    return True


def register_all() -> None:
    """Register the config scope and the model index (idempotent)."""
    register_config_scope()
    drop_collate_fn_scope()
    register_model_index()
