"""The shared prompt prefix is exact: same features, loss and gradients.

Compared on the tiny Qwen3 with Qwen's real vocabulary (so captions merge
with the query prefix as they do in real use), for a batch of very
different caption lengths, in every training mode, with gradient
checkpointing, with SDPA and eager attention, and truncated.

Tolerances (fp32): features and loss within 1e-5 absolute; gradients within
1e-5 absolute plus 1e-4 relative. The shared path computes the prefix's
projections in a batch of one instead of B, and attends over the same keys
in one concatenated tensor, which reorders float32 sums; measured
differences are ~2e-7 on features and ~6e-6 on soft-prompt gradients of
norm ~70 (under 1e-7 relative).
"""
import pytest
import torch
from tricky_captions import TRICKY_CAPTIONS

LORA = dict(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj'])
CAPTIONS = [c for c in TRICKY_CAPTIONS if c][:14] + ['CT ' * 60]


@pytest.fixture
def build(build_real_vocab_model):

    def build_model(**encoder):
        return build_real_vocab_model(text_encoder=encoder).train()

    return build_model


def run(model, captions, share):
    """Features, a loss and the gradients of everything that trains."""
    model.text_encoder.shares_prefix = share
    model.zero_grad()
    images = torch.randn(len(captions), 3, 32, 32,
                         generator=torch.Generator().manual_seed(0))
    text = model.encode_text(captions)
    image = model.encode_image(images)
    ids = torch.arange(len(captions))
    loss = model.head.loss(image, text, ids)['loss']
    loss.backward()
    grads = {
        name: p.grad.clone()
        for name, p in model.named_parameters() if p.grad is not None
    }
    return text.detach(), loss.detach(), grads


def assert_exact(model, captions=CAPTIONS):
    shared = run(model, captions, share=True)
    plain = run(model, captions, share=False)
    torch.testing.assert_close(shared[0], plain[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(shared[1], plain[1], atol=1e-5, rtol=0)
    assert shared[2].keys() == plain[2].keys()
    assert 'prompt_learner.soft_prompt' in shared[2]
    for name, grad in plain[2].items():
        torch.testing.assert_close(
            shared[2][name], grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize('encoder', [
    dict(),
    dict(attn_implementation='eager'),
    dict(gradient_checkpointing=True),
    dict(train_mode='lora', lora_cfg=LORA, gradient_checkpointing=True),
    dict(train_mode='full'),
],
                         ids=['sdpa', 'eager', 'checkpointing', 'lora',
                              'full'])
def test_shared_prefix_is_exact(build, encoder):
    assert_exact(build(max_length=512, **encoder))


def test_shared_prefix_is_exact_when_truncated(build):
    model = build(max_length=40)
    sequences, _ = model.prompt_learner.tokenize(CAPTIONS, 40)
    assert max(len(s) for s in sequences) == 40
    assert_exact(model)


def test_prefix_runs_once_per_batch(build):
    model = build(max_length=512)
    shapes = []
    layer = model.text_encoder.model.layers[0]
    handle = layer.register_forward_pre_hook(
        lambda module, args: shapes.append(tuple(args[0].shape[:2])))
    with torch.no_grad():
        model.encode_text(CAPTIONS)
    handle.remove()
    learner = model.prompt_learner
    sequences, _ = learner.tokenize(CAPTIONS, 512)
    longest = max(len(s) for s in sequences)
    # Instruction, soft slots and '\nQuery' (not ':', which some captions
    # merge with) once, then each caption's own tokens.
    prefix = len(learner.instruction_ids) + learner.num_soft_tokens + 2
    assert shapes == [(1, prefix), (len(CAPTIONS), longest - prefix)]


def test_switch_turns_it_off(build):
    model = build(shared_prefix=False)
    assert not model.text_encoder.shares_prefix
    attn = model.text_encoder.model.config._attn_implementation
    assert attn == 'sdpa'


def test_bf16_close_to_unshared(build):
    model = build(dtype='bfloat16').eval()
    with torch.no_grad():
        model.text_encoder.shares_prefix = True
        shared = model.encode_text(CAPTIONS)
        model.text_encoder.shares_prefix = False
        plain = model.encode_text(CAPTIONS)
    # bf16 keeps 8 bits of mantissa: the two orders of summation agree to
    # its resolution, not to fp32's.
    assert (shared - plain).abs().max().item() < 2e-2
