"""The overrides that only ``tools/train.py`` and ``tools/test.py`` apply.

* :mod:`.dist` (``init_dist_without_cuda``).
* ``checkpoint_errors_name_the_file``: while the tool runs, MMEngine's
  loader of local checkpoint paths is
  :func:`qwenclip_mm.engine.checkpoint.load_from_local`, which loads as
  MMEngine does (torch's default ``weights_only``, so
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` still counts) but raises errors
  that name the file and say whether it is truncated or holds objects
  outside the allow-list. MMEngine 0.10.7 lets torch's messages (``failed
  finding central directory``, ``Weights only load failed``) through
  without the path. Outside the tools MMEngine's loader and its errors are
  left as they are.
"""
import contextlib

from mmengine.runner import CheckpointLoader

from . import apply_overrides, dist

TOOL_OVERRIDES = (dist.OVERRIDE, )


@contextlib.contextmanager
def loader_with_named_errors():
    """Load local checkpoints with errors that name the file, inside."""
    from ..engine.checkpoint import load_from_local
    original = CheckpointLoader._get_checkpoint_loader('')
    CheckpointLoader.register_scheme('', load_from_local, force=True)
    try:
        yield
    finally:
        CheckpointLoader.register_scheme('', original, force=True)


@contextlib.contextmanager
def tool_overrides():
    """Apply the overrides of the tools around a tool's ``main()``.

    A failure inside (any exception, or ``SystemExit`` with a non-zero
    code) makes this rank skip the exit barrier of :mod:`.dist`.
    """
    apply_overrides(TOOL_OVERRIDES)
    try:
        with loader_with_named_errors():
            yield
    except SystemExit as e:
        if e.code not in (None, 0):
            dist.mark_failed()
        raise
    except BaseException:
        dist.mark_failed()
        raise
