"""Time QwenCLIP's retrieval Recall@K against MMPretrain's RetrievalRecall.

Both metrics run the way ``RetrievalValLoop`` runs them: an MMEngine
``Evaluator`` gets one ``DataSample`` per query (``pred_score`` over the
whole gallery, ``gt_label`` the positives' gallery indices), then
``evaluate``. The script asserts that both give the same Recall@K, prints a
table (with, for reference, ``retrieval_recall`` called on the score matrix
directly) and ends with ``speedup: <ratio>x``: RetrievalRecall's time over
ImageTextRetrievalMetric's, both through the Evaluator.

The scores of each query are the positions (0..G-1) of Gaussian noise, plus
a signal on the positives, in sorted order: every row is a permutation, so
there are no ties, where ``torch.topk`` (MMPretrain) and our pessimistic
rule may order items differently.

Example:
    python tools/analysis_tools/benchmark_metrics.py \\
        --num-queries 10000 --gallery 10000 --positives 5
"""
import argparse
import time

import numpy as np
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.evaluation import RetrievalRecall
from mmpretrain.structures import DataSample

from qwenclip_mm.evaluation import ImageTextRetrievalMetric, retrieval_recall

TOPK = (1, 5, 10)
#: Added to the positives' noise so recalls land mid-range, not near 0.
SIGNAL = 2.5


def parse_args():
    parser = argparse.ArgumentParser(
        description='Time Recall@K of ImageTextRetrievalMetric against '
        "MMPretrain's RetrievalRecall on a random score matrix.")
    parser.add_argument('--num-queries', type=int, default=10000)
    parser.add_argument('--gallery', type=int, default=10000)
    parser.add_argument(
        '--positives', type=int, default=5, help='positives per query')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--chunk-size',
        type=int,
        default=1024,
        help='chunk_size of ImageTextRetrievalMetric')
    args = parser.parse_args()
    if args.gallery < max(TOPK):
        parser.error(f'--gallery must be at least {max(TOPK)} for '
                     f'Recall@{max(TOPK)}, got {args.gallery}.')
    if not 0 < args.positives <= args.gallery:
        parser.error(f'--positives must be in 1..{args.gallery} (the '
                     f'gallery), got {args.positives}.')
    return args


def make_data(num_queries, gallery, positives, seed):
    """Return tie-free scores (Q, G) and positive indices (Q, P)."""
    gen = torch.Generator().manual_seed(seed)
    # The P largest of uniform noise are P distinct random items per query.
    keys = torch.rand(num_queries, gallery, generator=gen)
    pos_idx = keys.topk(positives, dim=1).indices
    noise = torch.randn(num_queries, gallery, generator=gen)
    noise.scatter_add_(1, pos_idx, torch.full(pos_idx.shape, SIGNAL))
    # Each item's score is its place in the sorted row: a permutation.
    positions = torch.arange(gallery, dtype=torch.float32)
    scores = torch.empty_like(noise).scatter_(
        1, noise.argsort(dim=1), positions.expand(num_queries, -1))
    return scores, pos_idx


def run_evaluator(metric, samples):
    """Time ``process`` + ``evaluate`` as the retrieval loops call them."""
    evaluator = Evaluator(metric)
    start = time.perf_counter()
    evaluator.process(samples)
    metrics = evaluator.evaluate(len(samples))
    return metrics, time.perf_counter() - start


def main():
    args = parse_args()
    if not hasattr(np, 'in1d'):
        # MMPretrain 1.2.0 calls np.in1d, removed in numpy 2.4; np.isin is
        # its replacement with the same result on 1-D input.
        np.in1d = np.isin
        print(f'note: numpy {np.__version__} has no np.in1d; shimmed '
              'np.in1d = np.isin for RetrievalRecall in this script only.')

    scores, pos_idx = make_data(args.num_queries, args.gallery, args.positives,
                                args.seed)
    samples = [
        DataSample().set_gt_label(pos).set_pred_score(score)
        for score, pos in zip(scores, pos_idx)
    ]
    print(f'{args.num_queries} queries x {args.gallery} gallery, '
          f'{args.positives} positives each, seed {args.seed}, '
          f'torch threads {torch.get_num_threads()}')

    ours, ours_s = run_evaluator(
        ImageTextRetrievalMetric(topk=TOPK, chunk_size=args.chunk_size),
        samples)
    start = time.perf_counter()
    direct = retrieval_recall(scores, pos_idx, TOPK, args.chunk_size)
    direct_s = time.perf_counter() - start
    theirs, theirs_s = run_evaluator(RetrievalRecall(topk=TOPK), samples)

    reference = [theirs[f'retrieval/Recall@{k}'] for k in TOPK]
    rows = [
        ('ImageTextRetrievalMetric (Evaluator)', ours_s,
         [ours[f'retrieval/Recall@{k}'] for k in TOPK]),
        ('retrieval_recall (score matrix)', direct_s,
         [direct[f'Recall@{k}'] for k in TOPK]),
        ('mmpretrain RetrievalRecall (Evaluator)', theirs_s, reference),
    ]
    for name, _, recalls in rows[:2]:
        for k, recall, expected in zip(TOPK, recalls, reference):
            assert abs(recall - expected) <= 1e-4, (
                f'{name} gives Recall@{k} = {recall}, RetrievalRecall '
                f'gives {expected}.')

    recall_head = ''.join(f'R@{k}'.rjust(9) for k in TOPK)
    print(f'{"implementation":<40}{"seconds":>10}{recall_head}')
    for name, seconds, recalls in rows:
        recall_cells = ''.join(f'{r:9.3f}' for r in recalls)
        print(f'{name:<40}{seconds:10.3f}{recall_cells}')
    print(f"mean_rank {ours['retrieval/mean_rank']:.2f}, median_rank "
          f"{ours['retrieval/median_rank']:.1f}; Recall@K equal within 1e-4")
    print(f'speedup: {theirs_s / ours_s:.1f}x')


if __name__ == '__main__':
    main()
