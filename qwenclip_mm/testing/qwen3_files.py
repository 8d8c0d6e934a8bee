"""Qwen3-Embedding's checkpoint file set, written from a ``tokenizers`` BPE.

Shared by the tiny test checkpoint (:mod:`.tiny_qwen3`, a BPE trained on a
small corpus) and the real-vocabulary one (:mod:`.qwen_vocab`, Qwen's own
BPE ranks): the tokenizer pipeline, added tokens and post-processor of
Qwen3-Embedding's ``tokenizer.json``, its ``tokenizer_config.json`` and a
random ``Qwen3Model`` beside them.
"""
import json
import os
import os.path as osp

import torch
from tokenizers import (AddedToken, Regex, Tokenizer, decoders, normalizers,
                        pre_tokenizers, processors)
from transformers import Qwen3Config, Qwen3Model

# Qwen2/Qwen3's pre-tokenizer split. transformers' ``Qwen2Tokenizer`` rebuilds
# its pipeline from this very pattern when it loads a folder, whatever
# tokenizer.json says, so training with another split would give ids that
# ``AutoTokenizer`` does not reproduce.
PRETOKENIZE_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+"
                     r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)"
                     r'|\s+')

# Qwen3's added tokens in id order, with their ``special`` flag; they follow
# the BPE vocabulary, as 151643.. follow Qwen3's 151643 BPE tokens.
QWEN3_ADDED_TOKENS = (
    ('<|endoftext|>', True),
    ('<|im_start|>', True),
    ('<|im_end|>', True),
    ('<|object_ref_start|>', True),
    ('<|object_ref_end|>', True),
    ('<|box_start|>', True),
    ('<|box_end|>', True),
    ('<|quad_start|>', True),
    ('<|quad_end|>', True),
    ('<|vision_start|>', True),
    ('<|vision_end|>', True),
    ('<|vision_pad|>', True),
    ('<|image_pad|>', True),
    ('<|video_pad|>', True),
    ('<tool_call>', False),
    ('</tool_call>', False),
    ('<|fim_prefix|>', False),
    ('<|fim_middle|>', False),
    ('<|fim_suffix|>', False),
    ('<|fim_pad|>', False),
    ('<|repo_name|>', False),
    ('<|file_sep|>', False),
    ('<tool_response>', False),
    ('</tool_response>', False),
    ('<think>', False),
    ('</think>', False),
)
END_OF_TEXT = '<|endoftext|>'
IM_END = '<|im_end|>'


def qwen3_tokenizer_pipeline(tokenizer: Tokenizer) -> Tokenizer:
    """Give a byte-level BPE ``tokenizer`` Qwen3's text pipeline.

    The normaliser (NFC), the pre-tokenizer (Qwen's split pattern, then
    byte-level) and the decoder are those of Qwen3's published
    ``tokenizer.json``, which transformers' ``Qwen2Tokenizer`` also builds.

    Returns:
        Tokenizer: ``tokenizer``, changed in place.
    """
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(
            Regex(PRETOKENIZE_REGEX), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def add_qwen3_special_tokens(tokenizer: Tokenizer) -> Tokenizer:
    """Append Qwen3's added tokens and Qwen3-Embedding's post-processor.

    The 26 added tokens follow the BPE vocabulary in Qwen3's order; the
    post-processor appends ``<|endoftext|>`` to every text, as
    Qwen3-Embedding's ``tokenizer.json`` does.

    Returns:
        Tokenizer: ``tokenizer``, changed in place.
    """
    tokenizer.add_tokens([
        AddedToken(content, special=special, normalized=False)
        for content, special in QWEN3_ADDED_TOKENS
    ])
    eot_id = tokenizer.token_to_id(END_OF_TEXT)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f'$A:0 {END_OF_TEXT}:0',
        pair=f'$A:0 {END_OF_TEXT}:0 $B:1 {END_OF_TEXT}:1',
        special_tokens=[(END_OF_TEXT, eot_id)])
    return tokenizer


def qwen3_tokenizer_config(tokenizer: Tokenizer,
                           model_max_length: int) -> dict:
    """Build tokenizer_config.json the way Qwen3 checkpoints ship it.

    Written by hand rather than by ``save_pretrained`` so the folder has the
    layout of the hub checkpoints (``additional_special_tokens``, no
    ``backend`` key), which is what the loading code must cope with.
    """
    added = {
        str(tokenizer.token_to_id(content)): {
            'content': content,
            'lstrip': False,
            'normalized': False,
            'rstrip': False,
            'single_word': False,
            'special': special,
        }
        for content, special in QWEN3_ADDED_TOKENS
    }
    # Qwen3 lists every special added token here except the pad token.
    extra_special = [
        content for content, special in QWEN3_ADDED_TOKENS
        if special and content != END_OF_TEXT
    ]
    return {
        'add_prefix_space': False,
        'added_tokens_decoder': added,
        'additional_special_tokens': extra_special,
        'bos_token': None,
        'clean_up_tokenization_spaces': False,
        'eos_token': IM_END,
        'errors': 'replace',
        'model_max_length': model_max_length,
        'pad_token': END_OF_TEXT,
        'padding_side': 'left',
        'split_special_tokens': False,
        'tokenizer_class': 'Qwen2Tokenizer',
        'unk_token': None,
    }


def write_qwen3_checkpoint(out_dir: str,
                           tokenizer: Tokenizer,
                           vocab_rows: int,
                           hidden_size: int = 64,
                           num_layers: int = 2,
                           num_heads: int = 4,
                           num_kv_heads: int = 2,
                           intermediate_size: int = 128,
                           max_position_embeddings: int = 4096,
                           seed: int = 0) -> str:
    """Write ``tokenizer`` and a random ``Qwen3Model`` as a checkpoint folder.

    The folder has Qwen3-Embedding's file set: ``tokenizer.json``,
    ``vocab.json``, ``merges.txt``, ``tokenizer_config.json``,
    ``config.json`` and ``model.safetensors``.

    Args:
        out_dir (str): Folder to write; created if missing.
        tokenizer (Tokenizer): A tokenizer from
            :func:`add_qwen3_special_tokens`.
        vocab_rows (int): Rows of the embedding table (at least the
            tokenizer's size).
        hidden_size (int): Hidden size. Defaults to 64.
        num_layers (int): Decoder layers. Defaults to 2.
        num_heads (int): Attention heads; must divide ``hidden_size``.
            Defaults to 4.
        num_kv_heads (int): Key/value heads; must divide ``num_heads``.
            Defaults to 2.
        intermediate_size (int): MLP width. Defaults to 128.
        max_position_embeddings (int): Longest sequence, also the
            tokenizer's ``model_max_length``. Defaults to 4096.
        seed (int): Seed of the weight initialisation. Defaults to 0.

    Returns:
        str: ``out_dir``.
    """
    if hidden_size % num_heads:
        raise ValueError(f'hidden_size={hidden_size} is not a multiple of '
                         f'num_heads={num_heads}')
    if num_heads % num_kv_heads:
        raise ValueError(f'num_heads={num_heads} is not a multiple of '
                         f'num_kv_heads={num_kv_heads}')
    if vocab_rows < tokenizer.get_vocab_size():
        raise ValueError(f'vocab_rows={vocab_rows} is below the tokenizer\'s '
                         f'{tokenizer.get_vocab_size()} tokens')
    os.makedirs(out_dir, exist_ok=True)
    tokenizer.save(osp.join(out_dir, 'tokenizer.json'))
    # vocab.json and merges.txt complete the file set Qwen checkpoints ship.
    tokenizer.model.save(out_dir)
    with open(
            osp.join(out_dir, 'tokenizer_config.json'), 'w',
            encoding='utf-8') as f:
        json.dump(
            qwen3_tokenizer_config(tokenizer, max_position_embeddings),
            f,
            indent=2,
            ensure_ascii=False)
        f.write('\n')

    eot_id = tokenizer.token_to_id(END_OF_TEXT)
    config = Qwen3Config(
        vocab_size=vocab_rows,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        head_dim=hidden_size // num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        # Qwen3 base checkpoints, which Qwen3-Embedding is trained from, use
        # <|endoftext|> as bos and eos; the model itself never reads them.
        bos_token_id=eot_id,
        eos_token_id=eot_id,
        pad_token_id=eot_id,
        dtype=torch.float32)
    # fork_rng keeps the caller's global RNG state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3Model(config)
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir
