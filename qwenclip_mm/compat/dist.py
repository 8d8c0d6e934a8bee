"""MMEngine's ``pytorch`` launcher on a host without CUDA (tools only).

MMEngine 0.10.7's ``_init_dist_pytorch`` calls ``torch.cuda.set_device``
before ``init_process_group`` whatever the backend, so ``torchrun
tools/train.py --launcher pytorch`` fails on a CPU host even with
``env_cfg.dist_cfg.backend='gloo'``. There we initialise the process group
directly and, at exit, meet the other ranks at a barrier before destroying
it: with torch 2.14's gloo, a rank that exits while another still works
(rank 0 saving a checkpoint) can abort ("terminate called without an
active exception").

Scope: ``tools/train.py`` and ``tools/test.py`` apply it through
:func:`qwenclip_mm.compat.tools.tool_overrides`; ``import qwenclip_mm``
does not. A rank whose tool failed (any exception, ``SystemExit`` with a
non-zero code included) does not wait at exit: the others may never come.
"""
import atexit
import datetime

import torch

from .override import Override, installed_version

#: Longest wait at exit for the other gloo ranks to finish their work.
EXIT_BARRIER_SECONDS = 300
_state = {'failed': False}


def mark_failed() -> None:
    """Make this rank leave without waiting for the others at exit."""
    _state['failed'] = True


def destroy_process_group() -> None:
    """At exit: wait for the other ranks, then destroy the process group."""
    dist = torch.distributed
    if not dist.is_initialized():
        return
    if dist.get_backend() == 'gloo' and not _state['failed']:
        try:
            dist.monitored_barrier(
                timeout=datetime.timedelta(seconds=EXIT_BARRIER_SECONDS))
        except RuntimeError:
            pass  # a rank failed or timed out; exit anyway
    dist.destroy_process_group()


def needed() -> bool:
    """MMEngine <= 0.10.7 would call ``torch.cuda.set_device`` here."""
    return (installed_version('mmengine') <= (0, 10, 7)
            and not torch.cuda.is_available())


def init_dist_without_cuda() -> None:
    """Let MMEngine's ``pytorch`` launcher start where there is no GPU."""
    from mmengine.device import get_device
    from mmengine.dist import utils
    original = utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        # MMEngine's own branches serve NPU, MLU, MUSA and CUDA devices.
        if get_device() not in ('cpu', 'mps') or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        torch.distributed.init_process_group(backend=backend, **kwargs)
        atexit.register(destroy_process_group)

    utils._init_dist_pytorch = _init_dist_pytorch


OVERRIDE = Override(
    name='init_dist_without_cuda',
    changes='mmengine.dist.utils._init_dist_pytorch (CPU hosts), plus an '
    'atexit barrier and destroy_process_group for gloo',
    versions='mmengine <= 0.10.7 on a host without CUDA',
    reason='MMEngine calls torch.cuda.set_device before '
    'init_process_group whatever the backend',
    scope='the processes of tools/train.py and tools/test.py only',
    needed=needed,
    apply=init_dist_without_cuda)
