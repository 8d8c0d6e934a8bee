"""A hook that SIGKILLs its own training process at a given iteration.

Imported by end-to-end tests through ``custom_imports`` to simulate a crash
(an OOM kill, a pre-empted node) at a deterministic point mid-epoch.
"""
import os
import signal

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):

    def __init__(self, kill_at: int):
        self.kill_at = kill_at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
