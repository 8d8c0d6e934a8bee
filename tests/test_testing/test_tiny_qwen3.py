import os
import unicodedata

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import AutoModel, AutoTokenizer

from qwenclip_mm.testing.tiny_qwen3 import (QWEN3_ADDED_TOKENS,
                                            make_tiny_qwen3)

TRICKY = [
    'CT chest axial view showing a large ascending aortic aneurysm (*).',
    'The “string of pearls” sign — Dawson’s fingers, 15 µm at 37 °C.',
    'Müller\u200btype anomaly: naïve 3 × 1.5 cm, α = 0.05',
    '  leading spaces\tand tabs\n\nand blank lines  ',
    '日本語のテキスト 🙂 emoji, Ωmega',
    "it's the patient's",
    '',
]


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    return make_tiny_qwen3(str(tmp_path_factory.mktemp('tiny_qwen3')))


@pytest.fixture(scope='module')
def tokenizer(folder):
    return AutoTokenizer.from_pretrained(folder)


def test_loads_like_qwen3_embedding(folder, tokenizer):
    model = AutoModel.from_pretrained(folder, trust_remote_code=False)
    assert type(model).__name__ == 'Qwen3Model'
    assert type(tokenizer).__name__ == 'Qwen2Tokenizer'
    assert model.config.model_type == 'qwen3'
    assert not hasattr(model.config, 'auto_map')
    assert not [f for f in os.listdir(folder) if f.endswith('.py')]
    assert model.config.hidden_size == 64
    assert model.config.head_dim == 16
    assert model.config.num_key_value_heads == 2
    assert model.config.tie_word_embeddings
    assert model.dtype == torch.float32
    # Qwen3 pads its embedding matrix beyond the tokenizer to a multiple of 64.
    assert model.config.vocab_size % 64 == 0
    assert 0 <= model.config.vocab_size - len(tokenizer) < 64
    assert model.get_input_embeddings().num_embeddings == (
        model.config.vocab_size)


def test_weights_equal_saved(folder):
    saved = load_file(os.path.join(folder, 'model.safetensors'))
    loaded = AutoModel.from_pretrained(folder).state_dict()
    assert saved.keys() == loaded.keys()
    for name, tensor in saved.items():
        assert torch.equal(tensor, loaded[name]), name


def test_special_tokens(folder, tokenizer):
    first = tokenizer.vocab_size  # added tokens follow the BPE vocabulary
    ids = tokenizer.convert_tokens_to_ids([t for t, _ in QWEN3_ADDED_TOKENS])
    assert ids == list(range(first, first + len(QWEN3_ADDED_TOKENS)))
    assert len(tokenizer) == first + len(QWEN3_ADDED_TOKENS)
    assert tokenizer.pad_token == '<|endoftext|>'
    assert tokenizer.pad_token_id == first
    assert tokenizer.convert_tokens_to_ids('<|im_start|>') == first + 1
    assert tokenizer.eos_token == '<|im_end|>'
    assert tokenizer.eos_token_id == first + 2
    assert tokenizer.bos_token is None
    assert tokenizer.unk_token is None
    assert tokenizer.padding_side == 'left'
    assert tokenizer.model_max_length == 4096
    config = AutoModel.from_pretrained(folder).config
    assert config.pad_token_id == config.bos_token_id == first
    assert config.eos_token_id == first
    # Added tokens are matched in raw text, as in Qwen3.
    assert tokenizer(
        'a<|im_start|>b', add_special_tokens=False).input_ids[1] == first + 1


def test_endoftext_appended_and_left_padding(tokenizer):
    eot = tokenizer.pad_token_id
    with_eot = tokenizer(TRICKY[0]).input_ids
    without = tokenizer(TRICKY[0], add_special_tokens=False).input_ids
    assert with_eot == without + [eot]
    assert eot not in without
    assert tokenizer('').input_ids == [eot]

    batch = tokenizer(['short', TRICKY[0]], padding=True, return_tensors='pt')
    lengths = batch.attention_mask.sum(1).tolist()
    assert lengths == [len(tokenizer('short').input_ids), len(with_eot)]
    # Left padding: the last column is every text's appended <|endoftext|>,
    # and the pads (same id) come first with attention 0.
    assert batch.input_ids[:, -1].tolist() == [eot, eot]
    pad = batch.input_ids.shape[1] - lengths[0]
    assert batch.attention_mask[0, :pad].tolist() == [0] * pad
    assert batch.input_ids[0, :pad].tolist() == [eot] * pad


def test_ids_match_trained_tokenizer(folder, tokenizer):
    # transformers rebuilds Qwen2Tokenizer's pipeline from its own code and
    # keeps only vocab, merges and post-processor from tokenizer.json: both
    # must still give the same ids.
    trained = Tokenizer.from_file(os.path.join(folder, 'tokenizer.json'))
    texts = TRICKY + ['Instruct: x\nQuery:y<|im_end|>', 'cafe\u0301 1234']
    assert tokenizer(texts).input_ids == [
        e.ids for e in trained.encode_batch(texts)
    ]
    assert tokenizer(TRICKY[0], TRICKY[1]).input_ids == trained.encode(
        TRICKY[0], TRICKY[1]).ids


def test_byte_level_round_trip(tokenizer):
    for text in TRICKY:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert all(0 <= i < tokenizer.vocab_size for i in ids)
        assert tokenizer.decode(ids) == text
    # Byte-level BPE never needs an unknown token; unseen characters fall
    # back to their UTF-8 bytes.
    assert len(tokenizer('\u2603', add_special_tokens=False).input_ids) == 3
    # Qwen's NFC normaliser composes, so decomposed input decodes composed.
    decomposed = 'cafe\u0301'
    ids = tokenizer(decomposed, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == unicodedata.normalize('NFC', decomposed)
    assert tokenizer.decode(
        tokenizer(TRICKY[0]).input_ids, skip_special_tokens=True) == TRICKY[0]


def test_deterministic(tmp_path):
    first = make_tiny_qwen3(str(tmp_path / 'a'), seed=1)
    second = make_tiny_qwen3(str(tmp_path / 'b'), seed=1)
    other_seed = make_tiny_qwen3(str(tmp_path / 'c'), seed=2)
    names = sorted(os.listdir(first))
    assert names == sorted(os.listdir(second))
    assert {
        'config.json', 'model.safetensors', 'tokenizer.json',
        'tokenizer_config.json', 'vocab.json', 'merges.txt'
    } <= set(names)

    def read(folder, name):
        with open(os.path.join(folder, name), 'rb') as f:
            return f.read()

    for name in names:
        assert read(first, name) == read(second, name), name
    assert read(first, 'tokenizer.json') == read(other_seed, 'tokenizer.json')
    assert read(first, 'model.safetensors') != read(other_seed,
                                                    'model.safetensors')


def test_leaves_global_rng_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_tiny_qwen3(str(tmp_path), seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_forward_sdpa_matches_eager(folder, tokenizer):
    batch = tokenizer(['CT chest', TRICKY[1]],
                      padding=True,
                      return_tensors='pt')
    outs = {}
    for impl in ('sdpa', 'eager'):
        model = AutoModel.from_pretrained(folder, attn_implementation=impl)
        assert model.config._attn_implementation == impl
        with torch.no_grad():
            outs[impl] = model(**batch).last_hidden_state
    assert outs['sdpa'].shape == (2, batch.input_ids.shape[1], 64)
    # Compare real tokens only; left-padded rows are undefined under masks.
    real = batch.attention_mask.bool()
    torch.testing.assert_close(outs['sdpa'][real], outs['eager'][real])


def test_custom_corpus_and_sizes(tmp_path):
    corpus = ['pleural effusion', 'pleural thickening', 'effusion'] * 5
    folder = make_tiny_qwen3(
        str(tmp_path / 'roomy'),
        corpus=corpus,
        vocab_size=1000,
        hidden_size=32,
        num_layers=1,
        num_heads=2,
        num_kv_heads=1,
        intermediate_size=48,
        max_position_embeddings=256)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    # A small corpus runs out of merges before the bound.
    assert len(tokenizer) < 1000
    assert tokenizer.convert_ids_to_tokens(
        tokenizer('pleural effusion').input_ids) == [
            'pleural', 'Ġeffusion', '<|endoftext|>'
        ]
    assert tokenizer.model_max_length == 256
    assert (model.config.hidden_size, model.config.num_hidden_layers,
            model.config.num_attention_heads, model.config.num_key_value_heads,
            model.config.head_dim,
            model.config.intermediate_size) == (32, 1, 2, 1, 16, 48)
    assert model.config.vocab_size == -(-len(tokenizer) // 64) * 64

    capped = make_tiny_qwen3(
        str(tmp_path / 'capped'), corpus=corpus, vocab_size=300)
    assert len(AutoTokenizer.from_pretrained(capped)) == 300
    assert AutoModel.from_pretrained(capped).config.vocab_size == 320


@pytest.mark.parametrize('kwargs, message', [
    (dict(hidden_size=60, num_heads=8), 'hidden_size=60'),
    (dict(num_heads=4, num_kv_heads=3), 'num_kv_heads=3'),
    (dict(vocab_size=200), 'vocab_size=200'),
    (dict(corpus=[]), 'corpus is empty'),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_tiny_qwen3(str(tmp_path), **kwargs)
