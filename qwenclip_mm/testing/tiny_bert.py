"""A tiny, randomly initialised BERT checkpoint with a real tokenizer.

The BERT-style text towers of medical CLIPs (BiomedCLIP's PubMedBERT, ...)
read at most 512 tokens: their positions are a learned table of
``max_position_embeddings=512`` rows. :func:`make_tiny_bert` writes a folder
of that kind without downloading anything, in the spirit of
:func:`~qwenclip_mm.testing.tiny_qwen3.make_tiny_qwen3`: an uncased WordPiece
tokenizer whose vocabulary is learned with the ``tokenizers`` library from a
corpus, next to a random ``BertModel`` of the requested size, both saved with
``save_pretrained`` so ``AutoTokenizer`` / ``AutoModel.from_pretrained`` load
them exactly as they load a hub BERT. The same arguments always give the
same files.
"""
import os
from typing import Optional, Sequence

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers, trainers
from tokenizers.models import WordLevel
from transformers import BertConfig, BertModel, BertTokenizer

from .tiny_qwen3 import default_corpus

# BERT's special tokens with the ids 0-4 they have in the default vocabulary
# of transformers' BertTokenizer.
BERT_SPECIAL_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')


def _wordpiece_vocab(corpus: Sequence[str], vocab_size: int) -> dict:
    """Learn an uncased WordPiece vocabulary from ``corpus``.

    Text is normalised and split as transformers' ``BertTokenizer`` does
    (``BertNormalizer`` with lower-casing, ``BertPreTokenizer``). The
    vocabulary holds BERT's special tokens (ids 0-4), every character of the
    corpus both as a word start and as a ``##`` continuation, so any word
    made of them encodes without ``[UNK]``, then the words seen at least
    twice, most frequent first, up to ``vocab_size``. The words are counted
    by the ``tokenizers`` library's ``WordLevelTrainer``, which orders ties
    by the word; ``WordPieceTrainer`` breaks ties between merges in hash
    order, so it learns a different vocabulary on every run.
    """
    counter = Tokenizer(WordLevel(unk_token='[UNK]'))
    counter.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=None,
        lowercase=True)
    counter.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counter.train_from_iterator(
        corpus,
        trainer=trainers.WordLevelTrainer(
            vocab_size=vocab_size, min_frequency=2, show_progress=False))
    chars = sorted({
        c
        for line in corpus for c in counter.normalizer.normalize_str(line)
        if not c.isspace()
    })
    tokens = list(BERT_SPECIAL_TOKENS) + chars + [f'##{c}' for c in chars]
    known = set(tokens)
    words = sorted(counter.get_vocab().items(), key=lambda item: item[1])
    tokens += [word for word, _ in words if word not in known]
    if len(known) > vocab_size:
        raise ValueError(
            f'vocab_size={vocab_size} cannot hold the special tokens and the '
            f'{len(chars)} characters of the corpus (twice, as word starts '
            f'and continuations); expected vocab_size >= {len(known)}')
    return {token: i for i, token in enumerate(tokens[:vocab_size])}


def make_tiny_bert(out_dir: str,
                   corpus: Optional[Sequence[str]] = None,
                   vocab_size: int = 2048,
                   hidden_size: int = 64,
                   num_layers: int = 2,
                   num_heads: int = 4,
                   intermediate_size: int = 128,
                   max_position_embeddings: int = 512,
                   seed: int = 0) -> str:
    """Write a tiny random BERT checkpoint with a trained WordPiece tokenizer.

    The folder holds ``config.json`` and ``model.safetensors`` of a
    ``BertModel`` and the tokenizer files ``BertTokenizer.save_pretrained``
    writes, so ``AutoModel.from_pretrained(out_dir)`` and
    ``AutoTokenizer.from_pretrained(out_dir)`` load it without
    ``trust_remote_code``. As in uncased BERTs, text is lower-cased, every
    sequence is ``[CLS] ... [SEP]`` and ``[PAD]`` is id 0; the tokenizer's
    ``model_max_length`` is ``max_position_embeddings``.

    Args:
        out_dir (str): Folder to write; created if missing, files in it
            overwritten.
        corpus (Sequence[str], optional): Texts to train the WordPiece on.
            Defaults to :func:`~qwenclip_mm.testing.tiny_qwen3.default_corpus`.
        vocab_size (int): Upper bound on the vocabulary: BERT's 5 special
            tokens, the corpus's characters (twice, as word starts and
            ``##`` continuations) and its words seen at least twice; a small
            corpus may stop short of it. Defaults to 2048.
        hidden_size (int): Hidden size. Defaults to 64.
        num_layers (int): Number of encoder layers. Defaults to 2.
        num_heads (int): Attention heads; must divide ``hidden_size``.
            Defaults to 4.
        intermediate_size (int): MLP width. Defaults to 128.
        max_position_embeddings (int): Rows of the learned position table,
            the longest sequence the model can read. Defaults to 512, BERT's.
        seed (int): Seed of the weight initialisation. Defaults to 0.

    Returns:
        str: ``out_dir``.

    Examples:
        >>> from transformers import AutoModel, AutoTokenizer
        >>> folder = make_tiny_bert('/tmp/tiny_bert')
        >>> tokenizer = AutoTokenizer.from_pretrained(folder)
        >>> model = AutoModel.from_pretrained(folder)
        >>> type(model).__name__, model.config.max_position_embeddings
        ('BertModel', 512)
        >>> tokenizer.convert_ids_to_tokens(tokenizer('CT chest').input_ids)
        ['[CLS]', 'ct', 'chest', '[SEP]']
    """
    if hidden_size % num_heads:
        raise ValueError(f'hidden_size={hidden_size} is not a multiple of '
                         f'num_heads={num_heads}')
    corpus = default_corpus() if corpus is None else list(corpus)
    if not corpus:
        raise ValueError('corpus is empty; give at least one text')

    os.makedirs(out_dir, exist_ok=True)
    tokenizer = BertTokenizer(
        vocab=_wordpiece_vocab(corpus, vocab_size),
        do_lower_case=True,
        model_max_length=max_position_embeddings)
    tokenizer.save_pretrained(out_dir)

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        dtype=torch.float32)
    # fork_rng keeps the caller's global RNG state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir
