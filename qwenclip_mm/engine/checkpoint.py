"""Checkpoint files that are never half-written, and that say what is wrong.

Writing: MMEngine 0.10.7 writes a checkpoint with ``open(path, 'wb')``
straight over the final name, so a crash or a full disk while saving
leaves a truncated file, possibly one that ``last_checkpoint`` points to (a
checkpoint is rewritten under the same name when a new best one is found).
:func:`atomic_write` writes a temporary file beside the target, fsyncs it
and renames it over the target, so the target holds either its old bytes or
the complete new ones. :class:`AtomicLocalBackend` is MMEngine's local file
backend with that write;
:class:`~qwenclip_mm.engine.hooks.AtomicCheckpointHook` saves through it.

Reading: :func:`load_from_local` loads as MMEngine's loader of local paths
does, and, when a file cannot be read, raises an error that names it and
says whether it is truncated or holds objects outside the allow-list of
:mod:`qwenclip_mm.compat.checkpoints`. ``tools/train.py`` and
``tools/test.py`` register it with MMEngine's ``CheckpointLoader`` while
they run (:func:`qwenclip_mm.compat.tools.tool_overrides`), so
``--resume``, ``load_from`` and ``tools/test.py CKPT`` say which file is
bad; importing this module registers nothing there.
"""
import os
import os.path as osp
import pickle
import uuid
from pathlib import Path
from typing import Union

import torch
from mmengine.fileio import LocalBackend, register_backend

#: Marks the temporary files of :func:`atomic_write`; a process killed while
#: writing leaves one behind (see ``AtomicCheckpointHook.before_train``).
TEMP_MARK = '.tmp-'


def temp_path_for(path: str) -> str:
    """A fresh hidden temporary name in the folder of ``path``."""
    folder, name = osp.split(osp.abspath(path))
    return osp.join(folder, f'.{name}{TEMP_MARK}{uuid.uuid4().hex[:12]}')


def fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op on Windows)."""
    if os.name == 'nt':
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file.

    The bytes go to a temporary file in the same folder (so the rename
    cannot cross file systems), which is flushed to disk and then renamed
    over ``path``. If anything fails (a full disk, a quota, a signal), the
    temporary file is removed and ``path`` keeps its previous content.

    Args:
        data (bytes): The complete new content.
        path (str | Path): Destination; its folder is created if needed.

    Raises:
        OSError: The write, flush or rename failed; ``path`` is unchanged.
    """
    path = str(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        # 'xb' honours the umask, unlike tempfile.mkstemp's 0600.
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(folder)


@register_backend('local_atomic')
class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend, writing with :func:`atomic_write`.

    Select it with ``backend_args=dict(backend='local_atomic')`` wherever
    MMEngine takes ``backend_args``.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically."""
        atomic_write(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        atomic_write(obj.encode(encoding), filepath)


def _corrupt(filename: str, error: Exception) -> RuntimeError:
    """The error for a checkpoint file that torch cannot parse."""
    size = osp.getsize(filename)
    first_line = str(error).strip().splitlines()[0] if str(error) else ''
    return RuntimeError(
        f'checkpoint {filename} ({size} bytes) is truncated or corrupt: '
        f'{type(error).__name__}: {first_line}. A crash or a full disk '
        'while saving cuts a checkpoint short (checkpoints written by '
        'AtomicCheckpointHook never are); load an earlier checkpoint '
        'instead, e.g. with --resume PATH.')


def load_from_local(filename: str, map_location=None) -> dict:
    """Load a local checkpoint as MMEngine does, naming bad files.

    Like MMEngine's ``load_from_local`` it leaves ``weights_only`` to
    torch (``True`` by default since torch 2.6, ``False`` under
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``); unlike it, it does not let
    torch's messages (``failed finding central directory``, ``Weights only
    load failed``) through without the path they concern.

    Args:
        filename (str): Checkpoint path.
        map_location: As for :func:`torch.load`.

    Returns:
        dict: The checkpoint.

    Raises:
        FileNotFoundError: No such file.
        pickle.UnpicklingError: The file pickles a global that is not on
            the allow-list (an arbitrary function call, for instance).
        RuntimeError: The file is truncated or otherwise unreadable.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    try:
        return torch.load(filename, map_location=map_location)
    except pickle.UnpicklingError as e:
        if 'Weights only load failed' in str(e):
            # Torch's message also suggests weights_only=False; keep only
            # the line that names the offending global.
            reason = next((line for line in str(e).splitlines()
                           if 'global' in line.lower()), str(e))
            raise pickle.UnpicklingError(
                f'refusing to load checkpoint {filename}: {reason.strip()} '
                'A QwenCLIP/MMEngine checkpoint holds only tensors, numpy '
                'arrays and MMEngine log buffers; anything else in a pickle '
                'can run code on this machine.') from e
        raise _corrupt(filename, e) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise _corrupt(filename, e) from e
