import copy
from contextlib import nullcontext

import pytest
import torch
from mmpretrain.registry import MODELS

import qwenclip_mm.models.vit_checkpoint  # noqa: F401

VIT = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64),
    img_size=32,
    patch_size=8,
    pre_norm=True,
    # Random layers: the recomputation must replay the same masks.
    drop_rate=0.1,
    drop_path_rate=0.2,
    out_type='cls_token')


def _pair():
    torch.manual_seed(0)
    plain = MODELS.build(VIT)
    plain.init_weights()
    cfg = copy.deepcopy(VIT)
    cfg['type'] = 'CheckpointVisionTransformer'
    checkpointed = MODELS.build(cfg)
    checkpointed.load_state_dict(plain.state_dict())
    return plain, checkpointed


def _step(model, images, autocast):
    model.train()
    images = images.clone().requires_grad_()
    torch.manual_seed(1)
    with autocast():
        feat = model(images)[0]
    (feat.float()**2).sum().backward()
    return feat, images.grad, {
        n: p.grad
        for n, p in model.named_parameters()
    }


def test_same_parameter_names():
    plain, checkpointed = _pair()
    assert list(plain.state_dict()) == list(checkpointed.state_dict())


@pytest.mark.parametrize('dtype', [None, torch.bfloat16])
def test_same_outputs_and_gradients(dtype):
    plain, checkpointed = _pair()
    images = torch.randn(3, 3, 32, 32)

    def autocast():
        if dtype is None:
            return nullcontext()
        return torch.autocast('cpu', dtype=dtype)

    feat, image_grad, grads = _step(plain, images, autocast)
    feat_cp, image_grad_cp, grads_cp = _step(checkpointed, images, autocast)
    torch.testing.assert_close(feat_cp, feat)
    torch.testing.assert_close(image_grad_cp, image_grad)
    assert grads_cp.keys() == grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grads_cp[name], grad, msg=name)


def test_keeps_fewer_activations_for_backward():

    def saved_bytes(model):
        saved = []

        def pack(tensor):
            saved.append(tensor.numel() * tensor.element_size())
            return tensor

        model.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(torch.randn(8, 3, 32, 32))
        return sum(saved)

    plain, checkpointed = _pair()
    # Only each layer's input stays; attention and MLP activations go.
    assert saved_bytes(checkpointed) < 0.25 * saved_bytes(plain)


def test_eval_without_grad_matches():
    plain, checkpointed = _pair()
    images = torch.randn(2, 3, 32, 32)
    plain.eval()
    checkpointed.eval()
    with torch.no_grad():
        torch.testing.assert_close(checkpointed(images)[0], plain(images)[0])
