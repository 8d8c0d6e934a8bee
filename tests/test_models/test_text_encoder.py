import json
import os.path as osp
import shutil

import pytest
import torch

from qwenclip_mm.models import Qwen3TextEncoder, last_token_pool


def test_last_token_pool_left_and_right_padding():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float).view(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
    assert last_token_pool(hidden, right).flatten().tolist() == [1., 7.]
    assert last_token_pool(hidden, left).flatten().tolist() == [3., 7.]


def test_loads_local_folder_with_automodel(tiny_qwen3_dir):
    enc = Qwen3TextEncoder(tiny_qwen3_dir, max_length=4096)
    assert type(enc.model).__name__ == 'Qwen3Model'
    # SDPA, with the shared-prompt-prefix path registered on top of it.
    assert enc.model.config._attn_implementation == 'qwenclip_sdpa'
    assert enc.shares_prefix
    assert enc.model.is_init
    assert all(not p.requires_grad for p in enc.model.parameters())
    assert enc.max_length == 4096


def test_dtype_option(tiny_qwen3_dir):
    enc = Qwen3TextEncoder(tiny_qwen3_dir, dtype='bfloat16')
    assert next(enc.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="text_encoder.dtype='int8'"):
        Qwen3TextEncoder(tiny_qwen3_dir, dtype='int8')


def test_lora_mode_trains_only_adapters(tiny_qwen3_dir):
    enc = Qwen3TextEncoder(
        tiny_qwen3_dir,
        train_mode='lora',
        lora_cfg=dict(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj']))
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable and all('lora_' in n for n in trainable)


def test_full_mode_trains_everything(tiny_qwen3_dir):
    enc = Qwen3TextEncoder(tiny_qwen3_dir, train_mode='full')
    assert all(p.requires_grad for p in enc.model.parameters())


@pytest.mark.parametrize('dtype', ['bfloat16', 'float16'])
def test_full_mode_refuses_half_precision_weights(tiny_qwen3_dir, dtype):
    # No fp32 master copy: AdamW's small updates would round away.
    with pytest.raises(
            ValueError,
            match=f"train_mode='full'.*text_encoder.dtype='{dtype}'.*"
            "dtype='float32'.*autocast"):
        Qwen3TextEncoder(tiny_qwen3_dir, train_mode='full', dtype=dtype)


def test_lora_adapters_train_in_fp32_on_a_bf16_llm(tiny_qwen3_dir):
    enc = Qwen3TextEncoder(
        tiny_qwen3_dir,
        dtype='bfloat16',
        train_mode='lora',
        lora_cfg=dict(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj']))
    dtypes = {(p.requires_grad, p.dtype) for p in enc.model.parameters()}
    assert dtypes == {(True, torch.float32), (False, torch.bfloat16)}
    embeds = torch.randn(2, 5, enc.hidden_size, dtype=torch.bfloat16)
    enc(embeds, torch.ones(2, 5, dtype=torch.long)).float().sum().backward()
    grads = [p.grad for p in enc.model.parameters() if p.requires_grad]
    assert all(g is not None and g.dtype == torch.float32 for g in grads)


def test_bad_configuration_names_the_key(tiny_qwen3_dir, tmp_path):
    with pytest.raises(ValueError, match="train_mode='partial'.*frozen"):
        Qwen3TextEncoder(tiny_qwen3_dir, train_mode='partial')
    with pytest.raises(ValueError, match='lora_cfg is required'):
        Qwen3TextEncoder(tiny_qwen3_dir, train_mode='lora')
    with pytest.raises(ValueError, match=r"lora_cfg has unknown keys "
                       r"\['rank'\]: expected arguments of peft.LoraConfig"):
        Qwen3TextEncoder(
            tiny_qwen3_dir, train_mode='lora', lora_cfg=dict(rank=4))
    with pytest.raises(ValueError, match=r"lora_cfg=.*'qkv'.*qkv"):
        Qwen3TextEncoder(
            tiny_qwen3_dir,
            train_mode='lora',
            lora_cfg=dict(r=4, target_modules=['qkv']))
    missing = str(tmp_path / 'no-such-model')
    with pytest.raises(FileNotFoundError,
                       match='text_encoder.pretrained=.*no such folder'):
        Qwen3TextEncoder(missing)


def test_gradient_checkpointing_gives_same_prompt_gradients(
        build_tiny_model):
    grads = []
    for ckpt in (False, True):
        model = build_tiny_model(
            text_encoder=dict(gradient_checkpointing=ckpt)).train()
        llm = model.text_encoder.model
        is_on = getattr(llm, 'is_activation_checkpointing',
                        getattr(llm, 'is_gradient_checkpointing', None))
        assert is_on == ckpt
        feat = model.encode_text(['a small nodule in the right lung', 'ct'])
        feat.sum().backward()
        grads.append(model.prompt_learner.soft_prompt.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[0].abs().sum() > 0


def _with_attention_dropout(model_dir, out_dir, p=0.5):
    """A copy of a Qwen3 checkpoint whose config sets attention dropout."""
    shutil.copytree(model_dir, out_dir)
    path = osp.join(out_dir, 'config.json')
    with open(path) as f:
        config = json.load(f)
    config['attention_dropout'] = p
    with open(path, 'w') as f:
        json.dump(config, f)
    return out_dir


@pytest.mark.parametrize('train_mode, checkpointing', [('frozen', False),
                                                       ('frozen', True),
                                                       ('full', True)])
def test_only_a_trained_llm_uses_dropout(tiny_qwen3_dir, tmp_path,
                                         train_mode, checkpointing):
    enc = Qwen3TextEncoder(
        _with_attention_dropout(tiny_qwen3_dir, str(tmp_path / 'llm')),
        train_mode=train_mode,
        gradient_checkpointing=checkpointing).train()
    attention_calls = []
    enc.model.layers[0].self_attn.register_forward_hook(
        lambda *args: attention_calls.append(1))
    embeds = torch.randn(2, 6, enc.hidden_size, requires_grad=True)
    mask = torch.ones(2, 6, dtype=torch.long)
    first = enc(embeds, mask)
    first.sum().backward()
    assert torch.equal(first, enc(embeds, mask)) == (train_mode == 'frozen')
    # Checkpointing still recomputes the layer in the backward pass (it
    # runs in training mode only): three calls for two forward passes.
    assert len(attention_calls) == (3 if checkpointing else 2)


def test_checkpoints_leave_out_frozen_llm_weights(build_tiny_model, tmp_path):
    from mmengine.runner import load_checkpoint, save_checkpoint
    model = build_tiny_model()
    keys = model.state_dict().keys()
    assert not [k for k in keys if k.startswith('text_encoder.model.')]
    assert 'prompt_learner.soft_prompt' in keys
    with torch.no_grad():
        model.prompt_learner.soft_prompt.add_(1.0)
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint({'state_dict': model.state_dict()}, path)

    fresh = build_tiny_model(seed=1)
    # strict: the frozen weights are not reported missing; they come from
    # the pretrained folder, the trained parts from the checkpoint.
    load_checkpoint(fresh, path, strict=True)
    torch.testing.assert_close(fresh.prompt_learner.soft_prompt,
                               model.prompt_learner.soft_prompt)
    for a, b in zip(fresh.text_encoder.model.parameters(),
                    model.text_encoder.model.parameters()):
        assert torch.equal(a, b)
    # A trained weight that is missing is still reported.
    state = dict(model.state_dict())
    del state['prompt_learner.soft_prompt']
    with pytest.raises(RuntimeError, match='soft_prompt'):
        fresh.load_state_dict(state, strict=True)


def test_lora_checkpoints_keep_adapters_only(build_tiny_model):
    model = build_tiny_model(
        text_encoder=dict(
            train_mode='lora',
            lora_cfg=dict(r=4, target_modules=['q_proj', 'v_proj'])))
    llm_keys = [
        k for k in model.state_dict() if k.startswith('text_encoder.model.')
    ]
    assert llm_keys and all('lora_' in k for k in llm_keys)


def test_save_frozen_weights_keeps_them(build_tiny_model):
    model = build_tiny_model(text_encoder=dict(save_frozen_weights=True))
    assert any(
        k.startswith('text_encoder.model.') for k in model.state_dict())
