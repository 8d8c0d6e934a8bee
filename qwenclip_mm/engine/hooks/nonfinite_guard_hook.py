"""Stop training, or skip the update, when a loss term or a gradient is not
finite, and say which one."""
import logging
from functools import partial
from typing import List

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmpretrain.registry import HOOKS

ACTIONS = ('raise', 'skip')
#: How many parameter names an error lists before "and N more".
MAX_NAMES = 5


def _name_list(names: List[str]) -> str:
    shown = ', '.join(names[:MAX_NAMES])
    more = len(names) - MAX_NAMES
    return shown + (f' and {more} more' if more > 0 else '')


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Catch NaN/inf loss terms and gradients before they reach the weights.

    Without it, one NaN loss turns every weight into NaN and a run goes on
    for days producing nothing. The hook checks, before the optimizer step
    is applied:

    * each loss term the model returns in ``mode='loss'`` (the keys
      containing ``'loss'``, which MMEngine sums into the objective), through
      a forward hook on the model, so the message names the term;
    * each trainable parameter's gradient, through a post-accumulate-grad
      hook, i.e. before gradient clipping (which spreads one NaN over every
      gradient), so the message names the parameter.

    With ``action='raise'`` training stops with a ``FloatingPointError``
    naming the iteration and the term or parameters. With ``action='skip'``
    the update is dropped (every gradient is cleared before
    ``optimizer.step``, so no weight, momentum or step count changes; the
    learning-rate schedule moves on) and training continues; the number of
    skipped steps is logged as ``skipped_steps``, kept in checkpoints, and
    each skip is reported with its reason (the logged ``loss`` and
    ``grad_norm``, averaged over the logger's window, show the skipped
    step's NaN for a while). Under distributed training the ranks agree on
    skipping.

    With ``AmpOptimWrapper`` the gradients are scaled, and inf gradients are
    the dynamic loss scaler's signal to skip the step and lower the scale;
    the hook then leaves gradients to the scaler and checks the loss terms.

    Args:
        action (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.
        check_grads (bool): Also check gradients. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'raise', check_grads: bool = True):
        if action not in ACTIONS:
            raise ValueError(f'NonFiniteGuardHook action={action!r} is not '
                             f'supported; expected one of {ACTIONS}')
        self.action = action
        self.check_grads = check_grads
        self._handles = []
        self._grad_flags = []
        self._pending = []
        self._where = 'before the first iteration'
        self._device = None
        self._message_hub = None
        self.skipped = 0

    def before_train(self, runner) -> None:
        if not isinstance(runner.optim_wrapper, OptimWrapper):
            runner.logger.warning(
                'NonFiniteGuardHook supports one OptimWrapper, got '
                f'{type(runner.optim_wrapper).__name__}; it checks nothing.')
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._device = next(model.parameters()).device
        self._message_hub = runner.message_hub
        self._handles.append(
            model.register_forward_hook(self._check_losses, with_kwargs=True))
        scaled = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if self.check_grads and scaled is None:
            for name, param in model.named_parameters():
                if param.requires_grad:
                    self._handles.append(
                        param.register_post_accumulate_grad_hook(
                            partial(self._check_grad, name)))
        self._handles.append(
            runner.optim_wrapper.optimizer.register_step_pre_hook(
                self._before_step))
        if self.action == 'skip':
            self.skipped = runner.message_hub.get_info('skipped_steps', 0)
            runner.message_hub.update_scalar('train/skipped_steps',
                                             self.skipped)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        # MMEngine's logs count iterations and epochs from 1.
        self._where = (f'iteration {runner.iter + 1} '
                       f'(epoch {runner.epoch + 1})')

    def _check_losses(self, module, args, kwargs, output) -> None:
        if kwargs.get('mode') != 'loss' or not isinstance(output, dict):
            return
        terms = {}
        for key, value in output.items():
            if 'loss' not in key:
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            terms[key] = torch.stack([v.detach().float().mean()
                                      for v in values])
        if not terms or torch.isfinite(torch.cat(list(terms.values()))).all():
            return
        bad = ', '.join(
            f"'{key}' = " + ', '.join(f'{v:g}' for v in values.tolist())
            for key, values in terms.items()
            if not torch.isfinite(values).all())
        problem = f'loss term {bad}'
        if self.action == 'raise':
            raise FloatingPointError(
                f'non-finite {problem} at {self._where}. Set '
                "NonFiniteGuardHook(action='skip') to skip such steps.")
        self._pending.append(problem)

    def _check_grad(self, name: str, param: torch.Tensor) -> None:
        # A device tensor, so the check does not wait for the GPU.
        self._grad_flags.append((name, torch.isfinite(param.grad).all()))

    def _before_step(self, optimizer, args, kwargs) -> None:
        if self._grad_flags:
            names, flags = zip(*self._grad_flags)
            self._grad_flags = []
            finite = torch.stack(flags).tolist()
            bad = sorted({n for n, ok in zip(names, finite) if not ok})
            # A non-finite loss makes every gradient non-finite; the loss
            # term is the news.
            if bad and not self._pending:
                self._pending.append(f'gradient of {_name_list(bad)}')
        problem = '; '.join(self._pending)
        self._pending = []
        if self.action == 'skip' and get_world_size() > 1:
            # Skipping on some ranks only would desynchronise the replicas.
            flag = torch.tensor(float(bool(problem)), device=self._device)
            all_reduce(flag, op='max')
            if flag.item() and not problem:
                problem = 'a non-finite value on another rank'
        if not problem:
            return
        if self.action == 'raise':
            raise FloatingPointError(
                f'non-finite {problem} at {self._where} (before the '
                "optimizer step). Set NonFiniteGuardHook(action='skip') to "
                'skip such steps.')
        for group in optimizer.param_groups:
            for param in group['params']:
                param.grad = None
        self._count_skip(problem)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        # A loss scaler skips a step with inf gradients without calling the
        # optimizer, so a bad loss is counted here instead.
        if self._pending and runner.optim_wrapper.should_update():
            self._count_skip('; '.join(self._pending))
            self._pending = []

    def _count_skip(self, problem: str) -> None:
        self.skipped += 1
        self._message_hub.update_info('skipped_steps', self.skipped)
        self._message_hub.update_scalar('train/skipped_steps', self.skipped)
        print_log(
            f'Skipped the update of {self._where}: non-finite {problem} '
            f'({self.skipped} skipped so far).',
            logger='current',
            level=logging.WARNING)

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
