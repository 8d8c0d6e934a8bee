"""Write a tiny random Qwen3 checkpoint with a trained tokenizer to a folder.

The folder loads like Qwen3-Embedding (``AutoModel.from_pretrained`` /
``AutoTokenizer.from_pretrained``, no ``trust_remote_code``), so configs can
point their ``pretrained`` at it to run the whole pipeline offline. The
script loads the folder back and prints what it holds.

Example:
    python tools/misc/make_tiny_qwen3.py work_dirs/tiny_qwen3 --seed 0
    python tools/misc/make_tiny_qwen3.py work_dirs/tiny_qwen3_128 \\
        --hidden-size 128 --corpus data/rocov2/train_captions.txt
"""
import argparse

from transformers import AutoModel, AutoTokenizer

from qwenclip_mm.testing.tiny_qwen3 import make_tiny_qwen3


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write a tiny randomly initialised Qwen3 checkpoint with '
        'a byte-level BPE tokenizer trained on a small corpus.')
    parser.add_argument('out_dir', help='folder to write')
    parser.add_argument('--seed', type=int, default=0, help='weight seed')
    parser.add_argument(
        '--corpus',
        help='UTF-8 text file, one training text per line (blank lines '
        'skipped); default: the built-in radiology corpus')
    parser.add_argument(
        '--vocab-size',
        type=int,
        default=2048,
        help='upper bound on the tokenizer size, added tokens included')
    parser.add_argument('--hidden-size', type=int, default=64)
    parser.add_argument('--num-layers', type=int, default=2)
    parser.add_argument('--num-heads', type=int, default=4)
    parser.add_argument('--num-kv-heads', type=int, default=2)
    parser.add_argument('--intermediate-size', type=int, default=128)
    parser.add_argument('--max-position-embeddings', type=int, default=4096)
    return parser.parse_args()


def read_corpus(path):
    """Return the non-blank lines of ``path``, without line endings."""
    with open(path, encoding='utf-8') as f:
        texts = [line.rstrip('\r\n') for line in f if line.strip()]
    if not texts:
        raise ValueError(f'corpus file {path} has no non-blank line')
    return texts


def main():
    args = parse_args()
    corpus = read_corpus(args.corpus) if args.corpus else None
    folder = make_tiny_qwen3(
        args.out_dir,
        corpus=corpus,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        num_kv_heads=args.num_kv_heads,
        intermediate_size=args.intermediate_size,
        max_position_embeddings=args.max_position_embeddings,
        seed=args.seed)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    num_params = sum(p.numel() for p in model.parameters())
    print(f'folder: {folder}')
    print(f'tokenizer: {type(tokenizer).__name__}, {len(tokenizer)} tokens '
          f'({tokenizer.vocab_size} BPE + '
          f'{len(tokenizer) - tokenizer.vocab_size} added), pad '
          f'{tokenizer.pad_token}={tokenizer.pad_token_id}, eos '
          f'{tokenizer.eos_token}={tokenizer.eos_token_id}')
    print(f'model: {type(model).__name__}, vocab {model.config.vocab_size}, '
          f'hidden {model.config.hidden_size}, '
          f'{model.config.num_hidden_layers} layers, '
          f'{num_params:,} parameters')


if __name__ == '__main__':
    main()
