"""MMEngine's CheckpointHook, with saves that a crash or a full disk cannot
corrupt."""
import glob
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmpretrain.registry import HOOKS

from ...compat.override import installed_version
from ..checkpoint import TEMP_MARK, atomic_write

#: The MMEngine releases whose ``CheckpointHook._save_checkpoint_with_step``
#: and ``_save_best_checkpoint`` (private) this hook's copies follow.
MMENGINE_VERSIONS = ((0, 10, 0), (0, 10, 7))

#: ``backend_args`` that make MMEngine write through ``atomic_write``.
ATOMIC_BACKEND_ARGS = dict(backend='local_atomic')


class _DeferredRemoval:
    """A file backend whose ``remove``/``rmtree`` only record the path.

    Everything else is forwarded to the wrapped backend.
    """

    def __init__(self, backend):
        self.backend = backend
        self.paths = []

    def remove(self, path) -> None:
        self.paths.append(path)

    rmtree = remove

    def __getattr__(self, name):
        return getattr(self.backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Save checkpoints so that a failed save loses nothing.

    Takes every argument of MMEngine's ``CheckpointHook`` and changes three
    things about how a checkpoint reaches a local disk:

    1. Each file is written to a temporary name, fsynced and renamed over
       its final name (:func:`~qwenclip_mm.engine.checkpoint.atomic_write`),
       so it is either complete or absent, also when a checkpoint is
       rewritten under the same name after a new best score.
    2. ``last_checkpoint``, which ``--resume`` reads, is replaced the same
       way and only after its checkpoint is complete.
    3. A checkpoint that ``max_keep_ckpts`` evicts, and the previous best
       checkpoint, are deleted only after the new one is saved; a failed
       save (for instance ``OSError: No space left on device``) stops
       training with the previous checkpoint, ``last_checkpoint`` and best
       checkpoint intact, so ``--resume`` continues from there. This needs
       room for one checkpoint more than ``max_keep_ckpts`` while saving.

    Temporary files left by a process killed while saving are deleted when
    training starts again. Remote storage (``backend_args`` or an
    ``out_dir`` with a URI prefix) is written as MMEngine writes it (only 3.
    applies), and so are the checkpoint files of ``FlexibleRunner``
    strategies (FSDP, DeepSpeed), which ignore ``backend_args`` (2. and 3.
    apply).

    2. and 3. override private methods of MMEngine's hook, written for
    MMEngine 0.10.x (:data:`MMENGINE_VERSIONS`); with another MMEngine the
    hook warns and saves as ``CheckpointHook`` does (1. still applies).
    """

    @property
    def _safe_order(self) -> bool:
        low, high = MMENGINE_VERSIONS
        return low <= installed_version('mmengine')[:3] <= high

    def before_train(self, runner) -> None:
        if not self._safe_order:
            runner.logger.warning(
                'AtomicCheckpointHook: MMEngine is not 0.10.x; its private '
                'CheckpointHook methods may differ, so checkpoints are '
                'evicted and last_checkpoint written as CheckpointHook does.')
        out_dir = self.out_dir or runner.work_dir
        self._atomic = (
            self.backend_args is None and self.file_client_args is None
            and isinstance(get_file_backend(out_dir), LocalBackend))
        if self._atomic:
            self.backend_args = dict(ATOMIC_BACKEND_ARGS)
        super().before_train(runner)
        if self._atomic and is_main_process():
            self._remove_stale_temporaries(runner)

    def _remove_stale_temporaries(self, runner) -> None:
        for folder in {self.out_dir, runner.work_dir}:
            for path in glob.glob(osp.join(folder, f'.*{TEMP_MARK}*')):
                runner.logger.warning(
                    f'Removing {path}, a checkpoint that was being written '
                    'when an earlier run stopped.')
                os.remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save, then point ``last_checkpoint`` at it, then evict.

        MMEngine deletes the evicted checkpoint first and writes
        ``last_checkpoint`` in place; this is its logic in the safe order.
        """
        if not self._safe_order:
            return super()._save_checkpoint_with_step(runner, step, meta)
        evicted = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                evicted = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        # Sharded (model-parallel) saves involve every rank up to here.
        if not is_main_process():
            return

        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        if self._atomic:
            atomic_write(self.last_ckpt.encode(), pointer)
        else:
            with open(pointer, 'w') as f:
                f.write(self.last_ckpt)
        if evicted is not None:
            self._remove(
                self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(evicted)))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's logic, deleting the previous best only after saving."""
        if not self._safe_order:
            return super()._save_best_checkpoint(runner, metrics)
        backend = self.file_backend
        deferred = self.file_backend = _DeferredRemoval(backend)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        current = {self.last_ckpt, getattr(self, 'best_ckpt_path', None)}
        current.update(getattr(self, 'best_ckpt_path_dict', {}).values())
        for path in deferred.paths:
            if path not in current:
                self._remove(path)

    def _remove(self, path) -> None:
        if not is_main_process():
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            # DeepSpeed saves checkpoints as folders.
            self.file_backend.rmtree(path)
