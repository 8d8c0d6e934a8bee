"""Fixes for the releases of today's OpenMMLab stack that QwenCLIP needs.

Each fix is small, targeted and idempotent, and is applied when
``qwenclip_mm`` is imported (before ``mmpretrain.models`` is loaded):

* :func:`allow_mmengine_checkpoints`: torch >= 2.6 loads checkpoints with
  ``weights_only=True``. MMEngine 0.10.7 checkpoints hold its
  ``HistoryBuffer`` and numpy arrays and scalars, so ``--resume``,
  ``load_from`` and ``tools/test.py CKPT`` fail with ``UnpicklingError``.
  We allow-list exactly those types; any other global in a pickle (such as
  a crafted ``os.system`` call) is still refused by torch.
* :func:`disable_broken_multimodal_import`: with ``pycocotools`` installed,
  mmpretrain imports its BLIP/Flamingo/... models, which import names that
  transformers >= 4.52 removed, and ``import mmpretrain.models`` crashes.
  We then register mmpretrain's placeholders for them instead (QwenCLIP
  needs none of them).
* :func:`resolve_packages_without_pkg_resources`: setuptools >= 82 has no
  ``pkg_resources``, which MMEngine 0.10.7 uses to find the configs of an
  installed package; configs inheriting ``mmpretrain::...`` bases fail.
  We resolve packages with ``importlib`` instead.
* :func:`init_dist_without_cuda`: MMEngine 0.10.7's ``pytorch`` launcher
  calls ``torch.cuda.set_device`` before ``init_process_group`` whatever the
  backend, so ``torchrun tools/train.py --launcher pytorch`` fails on a host
  without CUDA even with ``env_cfg.dist_cfg.backend='gloo'``. There we
  initialise the process group directly, and at exit meet the other ranks
  at a barrier, then destroy it: with torch 2.14's gloo, a rank that exits
  while another rank still works (rank 0 saving a checkpoint) can abort
  ("terminate called without an active exception").
"""
import atexit
import datetime
import importlib.metadata
import importlib.util
import os.path as osp
import pickle
import sys
import warnings

import numpy as np
import torch

_MULTIMODAL_MAX_TRANSFORMERS = (4, 52)


def _numpy_safe_globals() -> list:
    """Return the numpy callables and types numpy arrays/scalars pickle to."""
    try:
        multiarray = np._core.multiarray
    except AttributeError:  # numpy < 2
        multiarray = np.core.multiarray
    dtype_classes = [
        type(np.dtype(t)) for t in np.sctypeDict.values()
        if isinstance(t, type)
    ]
    return [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
        *sorted(set(dtype_classes), key=lambda c: c.__name__)
    ]


def history_buffer_method(obj, name: str):
    """Stand-in for ``getattr`` when unpickling an MMEngine checkpoint.

    ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. Allowing the real ``getattr`` would
    let a pickle read any attribute of any allowed object; this only hands
    out those statistics methods.

    Raises:
        pickle.UnpicklingError: For anything else.
    """
    from mmengine.logging import HistoryBuffer
    # The defaults are registered lazily, on the first HistoryBuffer made.
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only '
        'HistoryBuffer statistics methods are allowed')


def mmengine_safe_globals() -> list:
    """The exact non-tensor globals that MMEngine 0.10.7 writes in checkpoints.

    Returns:
        list: Classes and functions (or ``(function, name)`` pairs) to pass
        to ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer
    return [
        HistoryBuffer, (history_buffer_method, 'builtins.getattr'),
        *_numpy_safe_globals()
    ]


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read MMEngine checkpoints."""
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(mmengine_safe_globals())


def _version_tuple(version: str) -> tuple:
    parts = []
    for piece in version.split('.')[:2]:
        digits = ''.join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def disable_broken_multimodal_import() -> bool:
    """Keep ``import mmpretrain.models`` working with recent transformers.

    Returns:
        bool: True if mmpretrain's multimodal models were switched to their
        placeholders.
    """
    from mmpretrain.utils import dependency
    if not dependency.WITH_MULTIMODAL:
        return False
    transformers_version = importlib.metadata.version('transformers')
    if _version_tuple(transformers_version) < _MULTIMODAL_MAX_TRANSFORMERS:
        return False
    # ``mmpretrain.models.multimodal`` reads this flag when it is imported.
    dependency.WITH_MULTIMODAL = False
    return True


def _is_installed(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def _get_installed_path(package: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise importlib.metadata.PackageNotFoundError(
            f'package {package!r} is not installed (needed to resolve a '
            f'"{package}::" config base)')
    return osp.dirname(spec.origin)


def resolve_packages_without_pkg_resources() -> None:
    """Make MMEngine's ``pkg::path`` config bases work without setuptools."""
    from mmengine.config import config as mmengine_config
    mmengine_config.is_installed = _is_installed
    mmengine_config.get_installed_path = _get_installed_path


#: Longest wait at exit for the other gloo ranks to finish their work.
_EXIT_BARRIER_SECONDS = 300
_exit_state = {'uncaught_exception': False}


def _record_uncaught_exception(original_hook):

    def hook(*args):
        _exit_state['uncaught_exception'] = True
        return original_hook(*args)

    return hook


def _destroy_process_group() -> None:
    """At exit: wait for the other ranks, then destroy the process group.

    A gloo rank that exits while another still works (rank 0 writing the
    last checkpoint) can abort in gloo's threads, so a rank that ends
    normally first meets the others at a barrier. After an uncaught
    exception it does not wait: the others may never come.
    """
    dist = torch.distributed
    if not dist.is_initialized():
        return
    if (dist.get_backend() == 'gloo'
            and not _exit_state['uncaught_exception']):
        try:
            dist.monitored_barrier(
                timeout=datetime.timedelta(seconds=_EXIT_BARRIER_SECONDS))
        except RuntimeError:
            pass  # a rank failed or timed out; exit anyway
    dist.destroy_process_group()


def init_dist_without_cuda() -> None:
    """Let MMEngine's ``pytorch`` launcher start where there is no GPU."""
    from mmengine.device import get_device
    from mmengine.dist import utils
    if getattr(utils._init_dist_pytorch, 'without_cuda', False):
        return
    original = utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        # MMEngine's own branches serve NPU, MLU, MUSA and CUDA devices.
        if get_device() not in ('cpu', 'mps') or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        torch.distributed.init_process_group(backend=backend, **kwargs)
        sys.excepthook = _record_uncaught_exception(sys.excepthook)
        atexit.register(_destroy_process_group)

    _init_dist_pytorch.without_cuda = True
    utils._init_dist_pytorch = _init_dist_pytorch


def apply_all() -> None:
    """Apply every fix of this module (safe to call more than once)."""
    # mmcv-lite has no compiled ops by design; its warning about them on
    # every import is noise for QwenCLIP, which uses none.
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    allow_mmengine_checkpoints()
    disable_broken_multimodal_import()
    resolve_packages_without_pkg_resources()
    init_dist_without_cuda()


apply_all()
