"""The BERT-style text tower (HFTextEncoder) and QwenCLIP without a prompt."""
import filecmp
import math
import os

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from qwenclip_mm.models import HFTextEncoder
from qwenclip_mm.testing.tiny_bert import make_tiny_bert
from qwenclip_mm.testing.tiny_qwen3 import default_corpus

CAPTIONS = [
    'CT of the chest with a large mass in the upper left lobe.',
    'MRI of the brain, small lesion in the lower right.',
    'Chest x-ray, no acute findings.',
    'CT of the abdomen showing a small cyst in the upper right.',
]
# Far more than 512 tokens: every word is one token of the tiny vocabulary.
LONG_CAPTION = ' '.join(['the lungs are clear'] * 200)


@pytest.fixture(scope='module')
def tiny_bert_dir(tmp_path_factory):
    """A tiny random BERT (512 positions) with a WordPiece tokenizer."""
    return make_tiny_bert(str(tmp_path_factory.mktemp('bert-tiny')))


@pytest.fixture
def build_bert_model(build_tiny_model, tiny_bert_dir):
    """The tiny QwenCLIP with the tiny BERT as text tower, no prompt."""

    def build(seed=0, **text_encoder):
        return build_tiny_model(
            seed=seed,
            prompt_learner=None,
            text_encoder=dict(
                type='HFTextEncoder',
                pretrained=tiny_bert_dir,
                max_length=512,
                local_files_only=True,
                **text_encoder))

    return build


def _bert_weights(model):
    return {
        k: v.detach().clone()
        for k, v in model.text_encoder.model.state_dict().items()
    }


def test_tiny_bert_round_trips_through_from_pretrained(tiny_bert_dir,
                                                       tmp_path):
    from transformers import AutoModel, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(
        tiny_bert_dir, local_files_only=True)
    model = AutoModel.from_pretrained(tiny_bert_dir, local_files_only=True)
    assert type(model).__name__ == 'BertModel'
    assert model.config.max_position_embeddings == 512
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.model_max_length == 512
    ids = tokenizer('CT chest').input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == [
        '[CLS]', 'ct', 'chest', '[SEP]'
    ]
    assert tokenizer.pad_token_id == 0 == model.config.pad_token_id
    # The corpus it was made from encodes without unknown words.
    corpus_ids = tokenizer(default_corpus()).input_ids
    assert all(tokenizer.unk_token_id not in ids for ids in corpus_ids)
    # The same arguments give the same files.
    again = make_tiny_bert(str(tmp_path / 'again'))
    names = sorted(os.listdir(tiny_bert_dir))
    assert names == sorted(os.listdir(again))
    _, mismatch, errors = filecmp.cmpfiles(
        tiny_bert_dir, again, names, shallow=False)
    assert mismatch == [] and errors == []


def test_encoder_truncates_at_512_and_pools(tiny_bert_dir):
    enc = HFTextEncoder(tiny_bert_dir, local_files_only=True)
    assert enc.max_length == 512 and enc.hidden_size == 64
    assert enc.model.pooler is None
    assert not enc.trains_weights
    assert all(not p.requires_grad for p in enc.model.parameters())

    batch = enc.tokenize([CAPTIONS[0], LONG_CAPTION])
    assert batch['input_ids'].shape[1] == 512
    tokens = enc.tokenizer.convert_ids_to_tokens(batch['input_ids'][1])
    assert tokens[0] == '[CLS]' and tokens[-1] == '[SEP]'
    short = int(batch['attention_mask'][0].sum())
    assert short < 512 and batch['attention_mask'][1].sum() == 512
    # Right padding: [CLS] of every caption is at position 0.
    assert batch['attention_mask'][0, :short].all()

    with torch.no_grad():
        pooled, mask = enc.encode_texts([CAPTIONS[0], LONG_CAPTION])
        hidden = enc.model(**batch).last_hidden_state
        alone, _ = enc.encode_texts([CAPTIONS[0]])
    assert pooled.shape == (2, 64) and torch.equal(mask,
                                                   batch['attention_mask'])
    torch.testing.assert_close(pooled, hidden[:, 0])
    # Padding does not change a caption's embedding.
    torch.testing.assert_close(alone[0], pooled[0], atol=1e-5, rtol=1e-5)

    enc.pooling = 'mean'
    with torch.no_grad():
        pooled, _ = enc.encode_texts([CAPTIONS[0], LONG_CAPTION])
    torch.testing.assert_close(pooled[0], hidden[0, :short].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))


def test_bad_settings_name_the_key_and_the_limit(tiny_bert_dir):
    with pytest.raises(ValueError) as info:
        HFTextEncoder(tiny_bert_dir, max_length=1024)
    message = str(info.value)
    for fragment in ('text_encoder.max_length=1024', 'reads at most 512',
                     'max_position_embeddings=512', 'max_length <= 512'):
        assert fragment in message
    with pytest.raises(ValueError, match="pooling='eos'.*'cls', 'mean'"):
        HFTextEncoder(tiny_bert_dir, pooling='eos')
    with pytest.raises(ValueError, match="train_mode='lora'.*'frozen'"):
        HFTextEncoder(tiny_bert_dir, train_mode='lora')
    with pytest.raises(FileNotFoundError,
                       match='no such folder.*BERT-style config.json'):
        HFTextEncoder('/no/such/bert')


def test_full_mode_refuses_bf16_weights(tiny_bert_dir):
    with pytest.raises(
            ValueError,
            match="train_mode='full'.*text_encoder.dtype='bfloat16'"):
        HFTextEncoder(tiny_bert_dir, train_mode='full', dtype='bfloat16')


def test_qwenclip_refuses_mismatched_text_sides(build_tiny_model,
                                                build_bert_model,
                                                tiny_bert_dir):
    with pytest.raises(ValueError, match='HFTextEncoder text encoder '
                       'tokenises the raw captions.*prompt_learner=None'):
        build_tiny_model(
            text_encoder=dict(type='HFTextEncoder', pretrained=tiny_bert_dir))
    with pytest.raises(ValueError, match='prompt_learner=None but the '
                       'Qwen3TextEncoder text encoder encodes prompt'):
        build_tiny_model(prompt_learner=None)
    with pytest.raises(ValueError, match='text_cache is only supported with '
                       'a prompt learner'):
        build_tiny_model(
            prompt_learner=None,
            text_cache=dict(),
            text_encoder=dict(type='HFTextEncoder', pretrained=tiny_bert_dir))


@pytest.mark.parametrize('train_mode', ['full', 'frozen'])
def test_one_training_step(build_bert_model, train_mode):
    model = build_bert_model(train_mode=train_mode).train()
    assert model.prompt_learner is None
    assert model.text_side_trains == (train_mode == 'full')
    before = _bert_weights(model)
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='AdamW', lr=1e-2,
                                   weight_decay=0.05)))
    images = torch.randn(4, 3, 32, 32)
    samples = [
        DataSample(text=text, image_id=i)
        for i, text in enumerate(CAPTIONS[:3] + [LONG_CAPTION])
    ]
    losses = model(images, samples, mode='loss')
    assert math.isfinite(losses['loss'].item())
    # Three short captions padded to the long one's 512 tokens.
    assert 0.5 < losses['pad_frac'].item() < 0.75
    losses['loss'].backward()
    assert model.text_projection.proj[0].weight.grad is not None
    optim.step()
    after = _bert_weights(model)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    if train_mode == 'full':
        assert 'encoder.layer.0.attention.self.query.weight' in changed
        assert 'embeddings.position_embeddings.weight' in changed
    else:
        assert changed == []
        assert all(p.grad is None for p in model.text_encoder.parameters())


@pytest.mark.parametrize('train_mode', ['frozen', 'full'])
def test_only_a_trained_tower_uses_dropout(tiny_bert_dir, train_mode):
    # The tiny BERT has BERT's hidden and attention dropout of 0.1.
    enc = HFTextEncoder(tiny_bert_dir, train_mode=train_mode).train()
    assert enc.model.config.hidden_dropout_prob > 0
    with torch.no_grad():
        first, _ = enc.encode_texts(CAPTIONS)
        second, _ = enc.encode_texts(CAPTIONS)
    assert torch.equal(first, second) == (train_mode == 'frozen')
    assert enc.training and enc.model.training == (train_mode == 'full')


def test_features_and_predictions(build_bert_model):
    model = build_bert_model().eval()
    images = torch.randn(2, 3, 32, 32)
    samples = [
        DataSample(
            text=CAPTIONS[:2], gt_text_id=[0, 1], gt_image_id=[0, 0]),
        DataSample(text=[CAPTIONS[2]], gt_text_id=[2], gt_image_id=[1]),
    ]
    with torch.no_grad():
        feats = model.extract_feat(images, samples)
        i2t, t2i = model(images, samples, mode='predict')
    assert feats['text_feat'].shape == (3, 16)
    torch.testing.assert_close(feats['text_feat'].norm(dim=1), torch.ones(3))
    torch.testing.assert_close(
        torch.stack([s.pred_score for s in t2i]),
        feats['text_feat'] @ feats['image_feat'].t())
    assert len(i2t) == 2 and i2t[0].gt_label == [0, 1]


@pytest.mark.parametrize('train_mode', ['full', 'frozen'])
def test_checkpoint_round_trip(build_bert_model, tmp_path, train_mode):
    from mmengine.runner import load_checkpoint, save_checkpoint
    model = build_bert_model(train_mode=train_mode).eval()
    keys = model.state_dict().keys()
    bert_keys = [k for k in keys if k.startswith('text_encoder.model.')]
    assert not [k for k in keys if k.startswith('prompt_learner.')]
    # Frozen BERT weights come from the pretrained folder, not checkpoints.
    assert bool(bert_keys) == (train_mode == 'full')
    assert not [k for k in bert_keys if '.pooler.' in k]
    with torch.no_grad():
        for param in model.text_encoder.parameters():
            param.add_(0.5 if train_mode == 'full' else 0.)
        expected = model.encode_text(CAPTIONS)
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint({'state_dict': model.state_dict()}, path)

    fresh = build_bert_model(seed=1, train_mode=train_mode).eval()
    load_checkpoint(fresh, path, strict=True, logger='silent')
    with torch.no_grad():
        torch.testing.assert_close(fresh.encode_text(CAPTIONS), expected)
