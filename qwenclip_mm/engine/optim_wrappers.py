"""Optimizer wrappers that clip gradients by their global norm under FSDP.

MMEngine's ``OptimWrapper`` clips with ``torch.nn.utils.clip_grad_norm_``
over the parameters it holds. Under FSDP (``FULL_SHARD`` or
``SHARD_GRAD_OP``) each rank holds only its shard of every gradient, so that
norm is the shard's, a different number on every rank: ranks scale their
shards differently and the update is no longer the clipped global gradient.
The wrappers here compute the norm over all shards (one all-reduce of a
scalar) and scale every shard by the same factor, as
``FullyShardedDataParallel.clip_grad_norm_`` does, while keeping MMEngine's
config interface (``clip_grad=dict(max_norm=...)``) and its ``grad_norm``
log entry::

    optim_wrapper = dict(
        type='FSDPAmpOptimWrapper', dtype='bfloat16', use_fsdp=True,
        optimizer=dict(type='AdamW', lr=1e-4),
        clip_grad=dict(max_norm=1.0))

Only for sharded parameters, where every gradient element lives on exactly
one rank; with DDP, or FSDP's ``NO_SHARD`` / ``HYBRID_SHARD`` (replicated
elements), keep MMEngine's own wrappers.
"""
import math
from typing import Iterable, Optional

import torch
from mmengine import dist
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS


def sharded_clip_grad_norm_(parameters: Iterable[torch.Tensor],
                            max_norm: float,
                            norm_type: float = 2.0,
                            error_if_nonfinite: bool = False,
                            foreach: Optional[bool] = None) -> torch.Tensor:
    """Clip gradient shards by the norm of the whole, all-ranks gradient.

    The same arguments and return value as
    ``torch.nn.utils.clip_grad_norm_``, except that the norm is that of the
    concatenation of every rank's gradients (each rank passes its shards).
    Without an initialised process group it equals
    ``torch.nn.utils.clip_grad_norm_``.

    Args:
        parameters (Iterable[Tensor]): This rank's parameters (shards);
            those without a gradient are skipped.
        max_norm (float): Largest allowed global norm.
        norm_type (float): The p of the p-norm; ``inf`` for the max norm.
            Defaults to 2.
        error_if_nonfinite (bool): Raise if the global norm is nan or inf.
            Defaults to False.
        foreach (bool, optional): Unused; accepted for compatibility.

    Returns:
        Tensor: The global norm before clipping (a float32 scalar).

    Raises:
        RuntimeError: If ``error_if_nonfinite`` and the norm is not finite.
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    device = grads[0].device if grads else torch.device('cpu')
    if norm_type == math.inf:
        local = torch.zeros((), dtype=torch.float32, device=device)
        for grad in grads:
            if grad.numel():
                local = torch.maximum(local, grad.detach().abs().max().float())
        dist.all_reduce(local, op='max')
        total = local
    else:
        local = torch.zeros((), dtype=torch.float32, device=device)
        for grad in grads:
            local += grad.detach().float().norm(norm_type)**norm_type
        dist.all_reduce(local, op='sum')
        total = local**(1.0 / norm_type)
    if error_if_nonfinite and not torch.isfinite(total):
        raise RuntimeError(
            f'The total norm of order {norm_type} of the gradients over all '
            f'ranks is {total.item()}; set error_if_nonfinite=False to clip '
            'anyway.')
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for grad in grads:
        grad.detach().mul_(coef.to(grad.device, grad.dtype))
    return total


class _ShardedClipMixin:
    """Swap MMEngine's norm clipping for :func:`sharded_clip_grad_norm_`."""

    def _use_sharded_clip(self) -> None:
        if getattr(self, 'clip_grad_kwargs', None) and \
                self.grad_name == 'grad_norm':
            self.clip_func = sharded_clip_grad_norm_


@OPTIM_WRAPPERS.register_module()
class FSDPOptimWrapper(_ShardedClipMixin, OptimWrapper):
    """``OptimWrapper`` whose ``clip_grad`` norm is global under FSDP.

    Arguments as :class:`mmengine.optim.OptimWrapper`. Value clipping
    (``clip_grad=dict(type='value', ...)``) is element-wise and unchanged.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._use_sharded_clip()


@OPTIM_WRAPPERS.register_module()
class FSDPAmpOptimWrapper(_ShardedClipMixin, AmpOptimWrapper):
    """``AmpOptimWrapper`` whose ``clip_grad`` norm is global under FSDP.

    Arguments as :class:`mmengine.optim.AmpOptimWrapper` (pass
    ``use_fsdp=True`` for its sharded gradient scaler). Gradients are
    unscaled before clipping, as in the parent class.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._use_sharded_clip()
