"""The text feature cache and the padding statistic of QwenCLIP."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmpretrain.structures import DataSample

from qwenclip_mm.engine.hooks import TextFeatureCacheHook
from qwenclip_mm.models import text_feature_cache
from qwenclip_mm.models.text_feature_cache import (TextFeatureCache,
                                                   text_model_fingerprint)

CAPTIONS = [
    'CT of the chest with a large mass in the upper left lobe.',
    'MRI of the brain.',
    'Chest x-ray, no acute findings, heart size within normal limits, '
    'lungs clear, no pleural effusion or pneumothorax.',
    'CT of the abdomen showing a small cyst in the upper right.',
]
FROZEN = dict(prompt_learner=dict(freeze=True))


def _batch():
    torch.manual_seed(1)
    images = torch.randn(len(CAPTIONS), 3, 32, 32)
    samples = [
        DataSample(text=text, image_id=i) for i, text in enumerate(CAPTIONS)
    ]
    return images, samples


def _count_llm_calls(model):
    calls = []
    model.text_encoder.register_forward_hook(
        lambda module, args, out: calls.append(args[0].shape))
    return calls


def test_loss_reports_padding_fraction(build_tiny_model):
    model = build_tiny_model()
    images, samples = _batch()
    losses = model(images, samples, mode='loss')
    sequences, _ = model.prompt_learner.tokenize(
        CAPTIONS, model.text_encoder.max_length)
    lengths = [len(s) for s in sequences]
    # Padded to the batch's longest sequence, not to max_length.
    expected = 1 - sum(lengths) / (len(lengths) * max(lengths))
    assert max(lengths) < model.text_encoder.max_length
    assert losses['pad_frac'].item() == pytest.approx(expected)
    # Logged next to the loss, not added to it.
    loss, log_vars = model.parse_losses(losses)
    torch.testing.assert_close(loss, losses['loss'])
    assert log_vars['pad_frac'] == pytest.approx(expected)


def test_cached_loss_equals_recomputed_and_skips_the_llm(build_tiny_model):
    plain = build_tiny_model(**FROZEN)
    cached = build_tiny_model(**FROZEN, text_cache=dict())
    calls = _count_llm_calls(cached)
    images, samples = _batch()
    expected = plain(images, samples, mode='loss')
    expected['loss'].backward()

    for epoch in range(2):
        cached.zero_grad()
        losses = cached(images, samples, mode='loss')
        losses['loss'].backward()
        torch.testing.assert_close(losses['loss'], expected['loss'])
        for (name, p), q in zip(cached.text_projection.named_parameters(),
                                plain.text_projection.parameters()):
            torch.testing.assert_close(p.grad, q.grad, msg=name)
    # The LLM ran once, in the first epoch; the second read the cache.
    assert len(calls) == 1 and len(cached.text_cache) == len(CAPTIONS)
    # No LLM position at all, so none was padding.
    assert losses['pad_frac'].item() == 0


def test_only_new_captions_go_through_the_llm(build_tiny_model):
    model = build_tiny_model(**FROZEN, text_cache=dict())
    calls = _count_llm_calls(model)
    plain = build_tiny_model(**FROZEN)
    model.encode_text(CAPTIONS[:2])
    feats = model.encode_text(CAPTIONS[1:] + CAPTIONS[1:2])
    assert [shape[0] for shape in calls] == [2, 2]
    torch.testing.assert_close(
        feats, plain.encode_text(CAPTIONS[1:] + CAPTIONS[1:2]))


def test_cache_ignores_autocast(build_tiny_model):
    model = build_tiny_model(**FROZEN, text_cache=dict())
    plain = build_tiny_model(**FROZEN)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        model.encode_text(CAPTIONS)
    expected, _ = plain._llm_embed(CAPTIONS)
    assert model.text_cache.get(CAPTIONS).dtype == torch.float32
    torch.testing.assert_close(model.text_cache.get(CAPTIONS), expected)


def test_file_round_trip_serves_a_new_model(build_tiny_model, tmp_path):
    file = str(tmp_path / 'cache.pth')
    first = build_tiny_model(**FROZEN, text_cache=dict(file=file))
    feats = first.encode_text(CAPTIONS)
    assert first.text_cache.save() and osp.isfile(file)
    assert not first.text_cache.save()  # nothing new to write

    second = build_tiny_model(**FROZEN, text_cache=dict(file=file))
    calls = _count_llm_calls(second)
    torch.testing.assert_close(second.encode_text(CAPTIONS), feats)
    assert calls == []


@pytest.mark.parametrize(
    'overrides, part',
    [
        (dict(prompt_learner=dict(freeze=True, instruction='Represent: ')),
         'prompt'),
        (dict(
            prompt_learner=dict(
                freeze=True, init_phrase=None, num_soft_tokens=4)),
         'soft_prompt'),
        (dict(text_encoder=dict(max_length=64), **FROZEN), 'max_length'),
        # Cuts the longest caption: its embedding differs (checked below).
        (dict(prompt_learner=dict(freeze=True, max_caption_tokens=8)),
         'prompt'),
        (dict(text_encoder=dict(attn_implementation='eager'), **FROZEN),
         'attn_implementation'),
    ],
    ids=[
        'instruction', 'soft-prompt', 'max-length', 'max-caption-tokens',
        'attn-implementation'
    ])
def test_refuses_cache_of_another_prompt(build_tiny_model, tmp_path,
                                         overrides, part):
    file = str(tmp_path / 'cache.pth')
    maker = build_tiny_model(**FROZEN, text_cache=dict(file=file))
    maker.encode_text(CAPTIONS)
    maker.text_cache.save()

    other = build_tiny_model(**overrides, text_cache=dict(file=file))
    with pytest.raises(
            ValueError,
            match=f'{file}.*another text model.*(differ: |; ){part} \\(file'):
        other.encode_text(CAPTIONS)


def test_refuses_cache_of_another_llm(build_tiny_model, tmp_path):
    from qwenclip_mm.testing.tiny_qwen3 import make_tiny_qwen3
    file = str(tmp_path / 'cache.pth')
    maker = build_tiny_model(**FROZEN, text_cache=dict(file=file))
    maker.encode_text(CAPTIONS)
    maker.text_cache.save()

    other_llm = make_tiny_qwen3(str(tmp_path / 'other-llm'), seed=1)
    other = build_tiny_model(
        **FROZEN,
        text_encoder=dict(pretrained=other_llm),
        text_cache=dict(file=file))
    with pytest.raises(ValueError, match='llm_weights') as err:
        other.encode_text(CAPTIONS)
    assert 'tokenizer' not in str(err.value)


def test_fingerprint_names_what_decides_the_embedding(build_tiny_model):
    model = build_tiny_model(**FROZEN)
    fingerprint = text_model_fingerprint(model.text_encoder,
                                         model.prompt_learner)
    assert set(fingerprint) == {
        'llm_config', 'llm_weights', 'tokenizer', 'prompt', 'soft_prompt',
        'max_length', 'attn_implementation', 'dtype'
    }
    assert fingerprint['dtype'] == 'torch.float32'
    with torch.no_grad():
        model.text_encoder.model.layers[0].mlp.up_proj.weight.add_(1e-3)
    changed = text_model_fingerprint(model.text_encoder, model.prompt_learner)
    assert {k for k in fingerprint
            if fingerprint[k] != changed[k]} == {'llm_weights'}


def test_caption_budget_changes_the_embedding_and_the_fingerprint(
        build_tiny_model):
    full = build_tiny_model(**FROZEN)
    capped = build_tiny_model(
        prompt_learner=dict(freeze=True, max_caption_tokens=8))
    with torch.no_grad():
        assert not torch.allclose(
            full.encode_text(CAPTIONS[2:3]), capped.encode_text(CAPTIONS[2:3]))
    assert full.prompt_learner.fingerprint_fields() == dict(
        instruction_ids=full.prompt_learner.instruction_ids,
        query_prefix='\nQuery:',
        query_prefix_ids=full.prompt_learner.tokenizer(
            '\nQuery:', add_special_tokens=False)['input_ids'],
        eos_id=full.prompt_learner.eos_id,
        pad_id=full.prompt_learner.pad_id,
        num_soft_tokens=full.prompt_learner.num_soft_tokens,
        max_caption_tokens=None)
    assert capped.prompt_learner.fingerprint_fields()[
        'max_caption_tokens'] == 8


def test_loading_weights_refreshes_the_cache(build_tiny_model):
    model = build_tiny_model(**FROZEN, text_cache=dict())
    model.encode_text(CAPTIONS)
    state = model.state_dict()
    state['prompt_learner.soft_prompt'] = state[
        'prompt_learner.soft_prompt'] + 0.5
    model.load_state_dict(state)

    reference = build_tiny_model(**FROZEN)
    reference.load_state_dict(state)
    torch.testing.assert_close(
        model.encode_text(CAPTIONS), reference.encode_text(CAPTIONS))


def test_cache_needs_a_frozen_text_side(build_tiny_model):
    with pytest.raises(ValueError, match='frozen text side'):
        build_tiny_model(text_cache=dict())
    with pytest.raises(ValueError, match="train_mode='full'"):
        build_tiny_model(
            **FROZEN,
            text_encoder=dict(train_mode='full'),
            text_cache=dict())


def test_cache_serves_a_frozen_prompt_that_fsdp_shows_as_trainable(
        build_tiny_model):
    # FSDP (use_orig_params=True) flips requires_grad of a frozen soft
    # prompt that shares a flat parameter with trainable ones.
    model = build_tiny_model(**FROZEN, text_cache=dict())
    model.prompt_learner.soft_prompt.requires_grad_(True)
    plain = build_tiny_model(**FROZEN)
    torch.testing.assert_close(
        model.encode_text(CAPTIONS), plain.encode_text(CAPTIONS))
    assert len(model.text_cache) == len(CAPTIONS)


def test_each_rank_keeps_its_own_file(monkeypatch):
    cache = TextFeatureCache(file='work/cache.pth')
    assert cache.path == 'work/cache.pth'
    monkeypatch.setattr(text_feature_cache, 'get_dist_info', lambda: (1, 4))
    assert cache.path == 'work/cache.rank1.pth'


def test_hook_saves_to_the_work_dir(build_tiny_model, tmp_path):
    model = build_tiny_model(**FROZEN, text_cache=dict())
    runner = SimpleNamespace(
        model=model,
        work_dir=str(tmp_path),
        logger=SimpleNamespace(info=lambda msg: None))
    hook = TextFeatureCacheHook()
    hook.before_run(runner)
    assert model.text_cache.file == str(tmp_path / 'text_feature_cache.pth')
    model.encode_text(CAPTIONS)
    hook.after_train_epoch(runner)
    data = torch.load(model.text_cache.file, weights_only=True)
    assert data['texts'] == CAPTIONS
    assert data['features'].shape == (len(CAPTIONS), 64)

    with pytest.raises(ValueError, match='model has no text feature cache'):
        hook.before_run(SimpleNamespace(model=build_tiny_model()))
