"""The benchmark shapes are Qwen3-Embedding's published architectures."""
import pytest
import torch
from transformers import Qwen3Model

from qwenclip_mm.testing.qwen3_shapes import (PUBLISHED_PARAMETERS,
                                              QWEN3_EMBEDDING_CONFIGS,
                                              qwen3_embedding_config,
                                              rope_theta)

# Per model: hidden, layers, heads, KV heads, head size, MLP width,
# vocabulary rows, RoPE base, tied embeddings (docs/benchmarks.md table).
PUBLISHED = {
    '0.6b': (1024, 28, 16, 8, 128, 3072, 151669, 1_000_000, True),
    '4b': (2560, 36, 32, 8, 128, 9728, 151665, 1_000_000, True),
    '8b': (4096, 36, 32, 8, 128, 12288, 151665, 1_000_000, False),
}


@pytest.mark.parametrize('shape', sorted(PUBLISHED))
def test_config_fields_are_the_published_ones(shape):
    config = qwen3_embedding_config(shape)
    got = (config.hidden_size, config.num_hidden_layers,
           config.num_attention_heads, config.num_key_value_heads,
           config.head_dim, config.intermediate_size, config.vocab_size,
           rope_theta(config), config.tie_word_embeddings)
    assert got == PUBLISHED[shape]


@pytest.mark.parametrize('shape', sorted(QWEN3_EMBEDDING_CONFIGS))
def test_parameter_count_matches_the_published_one(shape):
    """An independent check: one wrong width, depth or vocabulary row
    count changes the total."""
    config = qwen3_embedding_config(shape)
    with torch.device('meta'):
        model = Qwen3Model(config)
    count = sum(p.numel() for p in model.parameters())
    if not config.tie_word_embeddings:
        count += config.vocab_size * config.hidden_size  # the output head
    assert count == PUBLISHED_PARAMETERS[shape]


def test_unknown_shape_names_the_choices():
    with pytest.raises(ValueError, match=r"shape='2b'.*'0.6b', '4b', '8b'"):
        qwen3_embedding_config('2b')
