"""MMEngine checkpoints under torch's ``weights_only`` loading.

torch >= 2.6 loads with ``weights_only=True`` by default. MMEngine 0.10.7
checkpoints hold its ``HistoryBuffer`` and numpy arrays and scalars, so
``Runner.resume``, ``load_from`` and ``tools/test.py CKPT`` fail with
``UnpicklingError``. We allow-list exactly those
types with ``torch.serialization.add_safe_globals``; any other global in a
pickle (a crafted ``os.system`` call) is still refused, and
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` still switches the check off.

Scope: torch's process-wide allow-list. A context manager
(``torch.serialization.safe_globals``) would need a wrapper around every
MMEngine load, and those loads happen inside the host's own runner calls;
the allow-list only ever adds data types, never a callable that runs code.
"""
import pickle

import numpy as np
import torch

from .override import Override, installed_version


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


def needed() -> bool:
    """torch loads with ``weights_only=True`` and does not allow MMEngine's
    types yet."""
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return False  # torch < 2.4: no weights_only default, no allow-list
    from mmengine.logging import HistoryBuffer
    return (installed_version('torch') >= (2, 6)
            and HistoryBuffer not in torch.serialization.get_safe_globals())


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read MMEngine checkpoints."""
    torch.serialization.add_safe_globals(mmengine_safe_globals())


OVERRIDE = Override(
    name='mmengine_checkpoint_allow_list',
    changes='torch.serialization safe globals: + HistoryBuffer, a getattr '
    'stand-in limited to its statistics methods, numpy arrays and scalars',
    versions='torch >= 2.6 (weights_only=True by default) with mmengine '
    '<= 0.10.7 (pickles HistoryBuffer and numpy objects)',
    reason='MMEngine 0.10.7 has no release for it: resume/load_from fail with '
    'UnpicklingError under torch >= 2.6',
    scope='process-wide allow-list (the loads happen inside the host\'s '
    'runner); data types only',
    needed=needed,
    apply=allow_mmengine_checkpoints)
