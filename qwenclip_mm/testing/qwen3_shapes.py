"""Qwen3-Embedding-0.6B/4B/8B architectures, as their config.json state them.

Benchmarks build these with random weights (no download, no disk), so the
shapes must be the published ones to the last field that changes cost or
memory: widths, depths, heads, each model's own vocabulary rows, RoPE base
and embedding tying. Where each value comes from is in
``docs/benchmarks.md`` ("Qwen3-Embedding shapes"); the parameter counts in
:data:`PUBLISHED_PARAMETERS` check them independently.
"""
from typing import Dict

#: Fields of ``Qwen/Qwen3-Embedding-{0.6B,4B,8B}/config.json`` that decide
#: the architecture (the rest are token ids, dtype and version strings).
QWEN3_EMBEDDING_CONFIGS: Dict[str, dict] = {
    '0.6b':
    dict(
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151669,
        max_position_embeddings=32768,
        rope_theta=1000000,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True),
    '4b':
    dict(
        hidden_size=2560,
        intermediate_size=9728,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151665,
        max_position_embeddings=40960,
        rope_theta=1000000,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True),
    '8b':
    dict(
        hidden_size=4096,
        intermediate_size=12288,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151665,
        max_position_embeddings=40960,
        rope_theta=1000000,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False),
}

#: Parameter counts published for the three models (KerasHub's
#: ``qwen3_embedding_{0.6b,4b,8b}_en`` presets: the decoder with its input
#: embedding, plus the output embedding where it is not tied).
PUBLISHED_PARAMETERS = {
    '0.6b': 595_776_512,
    '4b': 4_021_774_336,
    '8b': 8_188_515_328,
}


def qwen3_embedding_config(shape: str, **overrides):
    """A transformers ``Qwen3Config`` of a published Qwen3-Embedding shape.

    Args:
        shape (str): ``'0.6b'``, ``'4b'`` or ``'8b'``.
        **overrides: Config fields to change (e.g. ``num_hidden_layers``
            for a shallower probe).

    Returns:
        transformers.Qwen3Config
    """
    from transformers import Qwen3Config
    if shape not in QWEN3_EMBEDDING_CONFIGS:
        raise ValueError(f'shape={shape!r}; expected one of '
                         f'{sorted(QWEN3_EMBEDDING_CONFIGS)}')
    fields = dict(QWEN3_EMBEDDING_CONFIGS[shape], **overrides)
    theta = fields.pop('rope_theta')
    # transformers >= 5 keeps the RoPE base in rope_parameters; older
    # releases read rope_theta.
    return Qwen3Config(
        rope_theta=theta,
        rope_parameters=dict(rope_type='default', rope_theta=theta),
        **fields)


def rope_theta(config) -> float:
    """The RoPE base of a ``Qwen3Config`` of any transformers release."""
    parameters = getattr(config, 'rope_parameters', None) or {}
    return parameters.get('rope_theta', getattr(config, 'rope_theta', None))
