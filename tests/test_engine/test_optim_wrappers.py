"""FSDPOptimWrapper: MMEngine's clip_grad interface, global-norm clipping.

The two-process FSDP checks are in tests/test_models/test_distributed.py;
here, one process, where the global norm is the local one.
"""
import math

import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import OPTIM_WRAPPERS

from qwenclip_mm.engine import FSDPOptimWrapper, sharded_clip_grad_norm_


def _params_with_grads(seed=0):
    g = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.zeros(shape)) for shape in ((3, 4), (5, ),
                                                             (0, ), (2, ))]
    for p in params[:3]:
        p.grad = torch.randn(p.shape, generator=g) * 3
    # params[3] has no gradient (frozen or unused) and is skipped.
    return params


@pytest.mark.parametrize('norm_type', [2.0, 1.0, math.inf])
@pytest.mark.parametrize('max_norm', [0.5, 1e6])
def test_equals_torch_without_process_group(norm_type, max_norm):
    ours, ref = _params_with_grads(), _params_with_grads()
    total = sharded_clip_grad_norm_(ours, max_norm, norm_type)
    # An FSDP rank's shard of a parameter may be empty; torch's function
    # refuses empty gradients for the max norm, ours skips them.
    expected = torch.nn.utils.clip_grad_norm_(
        [p for p in ref if p.numel()], max_norm, norm_type)
    torch.testing.assert_close(total, expected)
    for a, b in zip(ours, ref):
        if b.grad is None:
            assert a.grad is None
        else:
            torch.testing.assert_close(a.grad, b.grad)


def test_nonfinite_norm():
    params = _params_with_grads()
    params[0].grad[0, 0] = float('nan')
    with pytest.raises(RuntimeError, match='norm of order 2.0 .* is nan'):
        sharded_clip_grad_norm_(params, 1.0, error_if_nonfinite=True)


def test_wrapper_from_config_clips_and_logs_global_norm():
    model = nn.Linear(4, 3)
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type='FSDPOptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            clip_grad=dict(max_norm=0.01)))
    assert isinstance(wrapper, FSDPOptimWrapper)
    assert wrapper.clip_func is sharded_clip_grad_norm_
    loss = model(torch.randn(8, 4)).pow(2).sum()
    wrapper.backward(loss)
    norm = torch.linalg.vector_norm(
        torch.cat([p.grad.flatten() for p in model.parameters()]))
    wrapper._clip_grad()
    clipped = torch.linalg.vector_norm(
        torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert clipped == pytest.approx(0.01, rel=1e-4)
    assert wrapper.message_hub.get_scalar('train/grad_norm').current() == \
        pytest.approx(norm.item(), rel=1e-6)


def test_value_clipping_is_unchanged():
    model = nn.Linear(4, 3)
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type='FSDPOptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            clip_grad=dict(type='value', clip_value=0.1)))
    assert wrapper.clip_func is torch.nn.utils.clip_grad_value_
