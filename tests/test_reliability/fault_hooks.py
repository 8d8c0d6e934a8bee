"""Hooks that inject faults into a real training run.

Configs load them with ``custom_imports`` (this folder on ``PYTHONPATH``);
in-process tests just import this module.
"""
import os.path as osp
import resource
import signal

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class FileSizeLimitHook(Hook):
    """From the start of ``epoch`` on, the disk takes half a checkpoint.

    Sets ``RLIMIT_FSIZE`` to half the size of the last saved checkpoint, so
    the next save writes that much and then fails with ``OSError: [Errno 27]
    File too large``, as a full disk fails with ``ENOSPC``: a real write
    error from the kernel in the middle of the file.
    """

    def __init__(self, epoch: int):
        self.epoch = epoch

    def before_train_epoch(self, runner) -> None:
        if runner.epoch + 1 != self.epoch:
            return
        last = runner.message_hub.get_info('last_ckpt')
        # Without this the kernel kills the process instead (SIGXFSZ).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (osp.getsize(last) // 2, hard))


@HOOKS.register_module()
class InjectNonFiniteHook(Hook):
    """Make the loss, or one parameter's gradient, NaN at one iteration.

    Args:
        at_iter (int): The iteration, counted from 1 as in the logs.
        target (str): ``'loss'`` (the ``loss`` term the model returns) or
            the name of a parameter whose gradient becomes NaN.
    """

    def __init__(self, at_iter: int, target: str = 'loss'):
        self.at_iter = at_iter
        self.target = target
        self._handle = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 != self.at_iter:
            return
        if self.target == 'loss':
            # prepend: runs before the guard's forward hook.
            self._handle = runner.model.register_forward_hook(
                self._nan_loss, prepend=True)
        else:
            param = dict(runner.model.named_parameters())[self.target]
            self._handle = param.register_hook(
                lambda grad: torch.full_like(grad, float('nan')))

    @staticmethod
    def _nan_loss(module, args, output):
        if isinstance(output, dict) and 'loss' in output:
            output['loss'] = output['loss'] * float('nan')
        return output

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
