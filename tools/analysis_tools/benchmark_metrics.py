"""Time QwenCLIP's retrieval Recall@K against MMPretrain's RetrievalRecall.

Both metrics run the way ``RetrievalValLoop`` and ``RetrievalTestLoop`` run
them: the model's ``predict_all`` hands out one ``DataSample`` per query
(``pred_score`` a row of one score matrix, ``gt_label`` the list of the
positives' gallery indices, ``pred_label`` the best item; built here by the
same function, :func:`~qwenclip_mm.models.retrieval_predictions`), then the
loop calls ``evaluator.process(samples, None)`` and
``evaluator.evaluate(size)`` on an MMEngine ``Evaluator``, which turns every
sample into a dict and collects the results. Only those two calls are timed,
for each metric on the same samples. The script checks that both give the same
Recall@K, prints a table (with, for reference, ``retrieval_recall`` called on
the score matrix directly) and ends with ``speedup: <ratio>x``:
RetrievalRecall's time over ImageTextRetrievalMetric's, both through the
Evaluator.

ImageTextRetrievalMetric and the direct call run ``--repeats`` times; the
table shows their median and range. RetrievalRecall, which takes seconds,
runs once.

The scores of each query are the positions (0..G-1) of Gaussian noise, plus
a signal on the positives, in sorted order: every row is a permutation, so
there are no ties, where ``torch.topk`` (MMPretrain) and our pessimistic
rule may order items differently.

Example:
    python tools/analysis_tools/benchmark_metrics.py \\
        --num-queries 10000 --gallery 10000 --positives 5
"""
import argparse
import statistics
import time

import numpy as np
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.evaluation import RetrievalRecall

from qwenclip_mm.evaluation import ImageTextRetrievalMetric, retrieval_recall
from qwenclip_mm.models import retrieval_predictions

TOPK = (1, 5, 10)
#: Added to the positives' noise so recalls land mid-range, not near 0.
SIGNAL = 2.5


def parse_args():
    parser = argparse.ArgumentParser(
        description='Time Recall@K of ImageTextRetrievalMetric against '
        "MMPretrain's RetrievalRecall on a random score matrix, both "
        'through the Evaluator as the retrieval loops call it.')
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
    parser.add_argument(
        '--repeats',
        type=int,
        default=3,
        help='runs of ImageTextRetrievalMetric and of the direct call')
    args = parser.parse_args()
    if args.gallery < max(TOPK):
        parser.error(f'--gallery must be at least {max(TOPK)} for '
                     f'Recall@{max(TOPK)}, got {args.gallery}.')
    if not 0 < args.positives <= args.gallery:
        parser.error(f'--positives must be in 1..{args.gallery} (the '
                     f'gallery), got {args.positives}.')
    if args.repeats < 1:
        parser.error(f'--repeats must be at least 1, got {args.repeats}.')
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


def make_samples(scores, pos_idx):
    """One sample per query, built by the code ``QwenCLIP.predict_all`` uses.

    ``gt_label`` is a list of ints, as the datasets' ``gt_text_id``.
    """
    return retrieval_predictions(scores, pos_idx.tolist())


def run_evaluator(metric, samples):
    """Time ``process`` + ``evaluate`` as the retrieval loops call them."""
    evaluator = Evaluator(metric)
    start = time.perf_counter()
    evaluator.process(samples, None)
    metrics = evaluator.evaluate(len(samples))
    return metrics, time.perf_counter() - start


def repeat(run, times):
    """Results of the last of ``times`` runs, and each run's seconds."""
    seconds = []
    for _ in range(times):
        result, elapsed = run()
        seconds.append(elapsed)
    return result, seconds


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
    samples = make_samples(scores, pos_idx)
    print(f'{args.num_queries} queries x {args.gallery} gallery, '
          f'{args.positives} positives each, seed {args.seed}, '
          f'torch threads {torch.get_num_threads()}')

    def ours():
        return run_evaluator(
            ImageTextRetrievalMetric(topk=TOPK, chunk_size=args.chunk_size),
            samples)

    def direct():
        start = time.perf_counter()
        metrics = retrieval_recall(scores, pos_idx, TOPK, args.chunk_size)
        return metrics, time.perf_counter() - start

    ours_metrics, ours_s = repeat(ours, args.repeats)
    direct_metrics, direct_s = repeat(direct, args.repeats)
    theirs, theirs_s = run_evaluator(RetrievalRecall(topk=TOPK), samples)

    # The same computation fed two ways: every number equal.
    assert ours_metrics == {
        f'retrieval/{k}': v
        for k, v in direct_metrics.items()
    }, (ours_metrics, direct_metrics)
    # RetrievalRecall averages per-query 0/100 hits in another order.
    reference = [theirs[f'retrieval/Recall@{k}'] for k in TOPK]
    for k, expected in zip(TOPK, reference):
        recall = ours_metrics[f'retrieval/Recall@{k}']
        assert abs(recall - expected) <= 1e-9 * max(1, expected), (
            f'ImageTextRetrievalMetric gives Recall@{k} = {recall}, '
            f'RetrievalRecall gives {expected}.')

    recall_head = ''.join(f'R@{k}'.rjust(9) for k in TOPK)
    print(f'{"implementation":<40}{"seconds":>10}{"range":>16}{recall_head}')
    rows = [
        ('ImageTextRetrievalMetric (Evaluator)', ours_s, ours_metrics),
        ('retrieval_recall (score matrix)', direct_s, {
            f'retrieval/{k}': v
            for k, v in direct_metrics.items()
        }),
        ('mmpretrain RetrievalRecall (Evaluator)', [theirs_s], theirs),
    ]
    for name, seconds, metrics in rows:
        spread = (f'{min(seconds):.3f}-{max(seconds):.3f}'
                  if len(seconds) > 1 else '(1 run)')
        recall_cells = ''.join(f'{metrics[f"retrieval/Recall@{k}"]:9.3f}'
                               for k in TOPK)
        print(f'{name:<40}{statistics.median(seconds):10.3f}'
              f'{spread:>16}{recall_cells}')
    print(f"mean_rank {ours_metrics['retrieval/mean_rank']:.2f}, median_rank "
          f"{ours_metrics['retrieval/median_rank']:.1f}; Recall@K identical "
          'to RetrievalRecall (within float rounding, 1e-9 relative)')
    print(f'speedup: {theirs_s / statistics.median(ours_s):.1f}x')


if __name__ == '__main__':
    main()
