"""Recall@K and rank metrics for image-text retrieval.

Every query (an image for image-to-text, a text for text-to-image) has a
score for each item of the gallery and one or more positives in it (an
image with five captions, or every image of the same class). All metrics
derive from one number per query: the 1-based rank of its best-ranked
positive. A query is a hit at K when that rank is at most K, i.e. when ANY
positive is among the top K, which is how MMPretrain's ``RetrievalRecall``
counts.

Ties are broken pessimistically: a positive that ties with negatives is
ranked after all of them, so the rank is ``1 +`` the number of negatives
scoring at least as high as the best positive. A model that gives every
item the same score thus gets no hits, instead of hits that depend on the
order of the gallery (as with ``torch.topk``, whose order among ties is
unspecified). Without ties the ranks are the ones ``torch.topk`` gives.

The ranks are computed ``chunk_size`` queries at a time with whole-chunk
tensor operations (no sort, no per-query loop over the gallery), so the
working memory is bounded by ``chunk_size x gallery`` on top of the scores
themselves.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dist import get_world_size
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS
from mmpretrain.structures import format_label

#: K values: one int or a sequence of them.
TopK = Union[int, Sequence[int]]
#: Scores of Q queries over a gallery of G: one (Q, G) tensor or Q 1-D rows.
Scores = Union[torch.Tensor, Sequence[torch.Tensor]]
#: Positives of Q queries: a bool (Q, G) mask, or per query its gallery
#: indices as an int, a list of ints or a 1-D integer tensor.
Positives = Union[torch.Tensor, Sequence[Union[int, Sequence[int],
                                               torch.Tensor]]]


def _check_topk(topk: TopK) -> tuple:
    """Return ``topk`` as a tuple, refusing anything but positive ints."""
    topk = (topk, ) if isinstance(topk, int) else tuple(topk)
    if not topk:
        raise ValueError('`topk` must name at least one K, got an empty '
                         'sequence.')
    for k in topk:
        if not isinstance(k, int) or k <= 0:
            raise ValueError(f'Every K in `topk` must be an int > 0, got '
                             f'{k!r} in topk={topk}.')
    return topk


def _score_chunk(scores: Scores, start: int, end: int, gallery: int,
                 buffer: Optional[torch.Tensor]) -> torch.Tensor:
    """Scores of queries ``start:end`` as a CPU matrix.

    Rows given one per query are stacked into ``buffer`` (reused across
    chunks); a matrix is sliced, which copies only if it is not on the CPU.
    """
    if isinstance(scores, torch.Tensor):
        return scores[start:end].cpu()
    rows = scores[start:end]
    for offset, row in enumerate(rows):
        if row.shape != (gallery, ):
            raise ValueError(
                f'pred_score of sample {start + offset} has shape '
                f'{tuple(row.shape)}, expected ({gallery},): every query '
                f'must score the same gallery as sample 0.')
        if row.dtype != buffer.dtype:
            # Stacking would cast silently, and float64 scores rounded to
            # float32 can tie.
            raise ValueError(
                f'pred_score of sample {start + offset} is {row.dtype} but '
                f'sample 0 is {buffer.dtype}; give every row one dtype.')
    return torch.stack([row.cpu() for row in rows], out=buffer[:end - start])


def _positive_coords(positives: Positives, start: int, gallery: int) -> tuple:
    """(query, gallery index) pairs of the positives of queries ``start...``.

    Args:
        positives (Tensor | Sequence): A bool mask of shape (C, G), or one
            entry of gallery indices per query.
        start (int): Index of the first of these queries, for messages.
        gallery (int): Gallery size G.

    Returns:
        tuple[Tensor, Tensor]: Row (0..C-1) and column of every positive,
        each pair once.
    """
    if isinstance(positives, torch.Tensor) and positives.dtype == torch.bool:
        return positives.cpu().nonzero(as_tuple=True)
    # Tensors (what the metric stores) skip format_label's slower checks.
    indices = [
        p.cpu()
        if isinstance(p, torch.Tensor) and p.dim() == 1 else format_label(p)
        for p in positives
    ]
    # Checked before concatenating, which would turn a bool row (a mask
    # given per query) into indices 0 and 1 without a word.
    if any(dtype == torch.bool or dtype.is_floating_point
           for dtype in {idx.dtype
                         for idx in indices}):
        bad = next(i for i, idx in enumerate(indices)
                   if idx.dtype == torch.bool or idx.is_floating_point())
        raise TypeError(
            f'gt_label of sample {start + bad} must hold integer gallery '
            f'indices, got {indices[bad].dtype} values '
            f'{indices[bad].tolist()}.')
    counts = torch.tensor([len(idx) for idx in indices])
    cols = torch.cat(indices).long()
    out_of_range = (cols < 0) | (cols >= gallery)
    if out_of_range.any():
        # Positives are concatenated query by query, so the number of
        # entries before the first bad one tells whose it is.
        first_bad = int(out_of_range.nonzero()[0])
        sample = int(
            torch.searchsorted(counts.cumsum(0), first_bad, right=True))
        raise ValueError(
            f'gt_label of sample {start + sample} holds gallery index '
            f'{int(cols[first_bad])}, outside the gallery of {gallery} items '
            f'(valid indices: 0..{gallery - 1}).')
    rows = torch.repeat_interleave(torch.arange(len(indices)), counts)
    # A positive listed twice must count once when ties are subtracted.
    pairs = (rows * gallery + cols).unique()
    return pairs // gallery, pairs % gallery


def _chunk_ranks(chunk: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                 start: int, at_least_best: torch.Tensor) -> torch.Tensor:
    """Best-positive ranks of one chunk of queries.

    Args:
        chunk (torch.Tensor): CPU scores of shape (C, G).
        rows (torch.Tensor): Query (0..C-1) of each positive.
        cols (torch.Tensor): Gallery index of each positive.
        start (int): Index of the chunk's first query, for messages.
        at_least_best (torch.Tensor): Bool buffer of shape (C, G), written.

    Returns:
        torch.Tensor: Long tensor of shape (C,).
    """
    num_rows = len(chunk)
    if chunk.is_floating_point():
        # max propagates NaN, so the row maxima reveal any NaN score, which
        # would otherwise compare False and rank its query first.
        nan_rows = chunk.amax(dim=1).isnan()
        if nan_rows.any():
            first = int(nan_rows.nonzero()[0])
            raise ValueError(f'pred_score of sample {start + first} '
                             f'contains NaN.')
    num_pos = torch.bincount(rows, minlength=num_rows)
    if not num_pos.all():
        first = int((num_pos == 0).nonzero()[0])
        raise ValueError(
            f'Sample {start + first} has no positive in the gallery of '
            f'{chunk.shape[1]} items; every query needs at least one.')
    pos_scores = chunk[rows, cols]
    best = pos_scores.new_empty(num_rows).scatter_reduce_(
        0, rows, pos_scores, 'amax', include_self=False)
    torch.ge(chunk, best[:, None], out=at_least_best)
    # numpy's vectorised int32 sum counts the True entries of each row
    # about 20x faster than torch's CPU reduction over bool, and is exact
    # for any gallery under 2**31 items.
    num_at_least = torch.from_numpy(at_least_best.numpy().sum(
        axis=1, dtype=np.int32)).long()
    # Positives tied with the best are the only positives counted above;
    # taking them out leaves the negatives ranked ahead (pessimistic ties).
    num_pos_tied = torch.bincount(
        rows[pos_scores >= best[rows]], minlength=num_rows)
    return num_at_least - num_pos_tied + 1


def best_positive_ranks(scores: Scores,
                        positives: Positives,
                        chunk_size: int = 1024) -> torch.Tensor:
    """Rank of the best-ranked positive of every query (1-based).

    A positive tied with negatives is ranked after them (pessimistic ties).
    The work runs on the CPU, ``chunk_size`` queries at a time; a matrix on
    another device is copied over one chunk at a time.

    Args:
        scores (Tensor | Sequence[Tensor]): Scores of shape (Q, G), higher
            is more similar, as one tensor or one 1-D tensor per query. Any
            real dtype; integer scores are compared exactly.
        positives (Tensor | Sequence): Either a bool tensor of shape (Q, G),
            True at positives, or per query its positive gallery indices
            (an int, a list of ints or a 1-D integer tensor).
        chunk_size (int): Queries processed at a time; bounds the working
            memory to about ``chunk_size x G`` scores. Defaults to 1024.

    Returns:
        torch.Tensor: Long tensor of shape (Q,), values in ``1..G``.

    Raises:
        ValueError: If there are no queries, the shapes disagree, a query
            has no positive, a positive index is outside the gallery or a
            score is NaN.
        TypeError: If positive indices are not integers.

    Examples:
        >>> import torch
        >>> scores = torch.tensor([[0.9, 0.5, 0.1],
        ...                        [0.2, 0.2, 0.6]])
        >>> best_positive_ranks(scores, [[1, 2], 0])
        tensor([2, 3])
    """
    num_queries = len(scores)
    if num_queries == 0:
        raise ValueError('Retrieval metrics need at least one query, got 0.')
    if len(positives) != num_queries:
        raise ValueError(f'Got {num_queries} score rows but positives for '
                         f'{len(positives)} queries.')
    if chunk_size <= 0:
        raise ValueError(f'`chunk_size` must be > 0, got {chunk_size}.')
    if isinstance(scores, torch.Tensor) and scores.dim() != 2:
        raise ValueError(f'`scores` must have shape (queries, gallery), got '
                         f'{tuple(scores.shape)}.')
    gallery = scores[0].shape[-1]
    if (isinstance(positives, torch.Tensor) and positives.dtype == torch.bool
            and positives.shape != (num_queries, gallery)):
        raise ValueError(f'A bool `positives` mask must have shape '
                         f'{(num_queries, gallery)} like the scores, got '
                         f'{tuple(positives.shape)}.')

    # Buffers reused by every chunk: allocating fresh chunk-sized tensors
    # costs more (in page faults) than the comparisons themselves.
    buffer_rows = min(chunk_size, num_queries)
    score_buffer = None if isinstance(scores, torch.Tensor) else torch.empty(
        buffer_rows, gallery, dtype=scores[0].dtype)
    at_least_best = torch.empty(buffer_rows, gallery, dtype=torch.bool)
    ranks = torch.empty(num_queries, dtype=torch.long)
    for start in range(0, num_queries, chunk_size):
        end = min(start + chunk_size, num_queries)
        chunk = _score_chunk(scores, start, end, gallery, score_buffer)
        rows, cols = _positive_coords(positives[start:end], start, gallery)
        ranks[start:end] = _chunk_ranks(chunk, rows, cols, start,
                                        at_least_best[:end - start])
    return ranks


def rank_metrics(ranks: torch.Tensor,
                 topk: TopK = (1, 5, 10)) -> Dict[str, float]:
    """Recall@K and rank statistics from best-positive ranks.

    Args:
        ranks (torch.Tensor): 1-based rank of each query's best positive,
            as returned by :func:`best_positive_ranks`.
        topk (int | Sequence[int]): The K of each Recall@K. Defaults to
            (1, 5, 10).

    Returns:
        dict: ``Recall@K`` for each K and their mean ``mean_recall`` (all in
        percent), and ``mean_rank`` and ``median_rank`` (the median of an
        even number of queries is the mean of the two middle ranks).

    Examples:
        >>> import torch
        >>> rank_metrics(torch.tensor([1, 2, 7, 30]), topk=(1, 5))
        {'Recall@1': 25.0, 'Recall@5': 50.0, 'mean_recall': 37.5, \
'mean_rank': 10.0, 'median_rank': 4.5}
    """
    topk = _check_topk(topk)
    ranks = ranks.double()
    metrics = {
        f'Recall@{k}': (ranks <= k).double().mean().item() * 100
        for k in topk
    }
    metrics['mean_recall'] = sum(metrics.values()) / len(topk)
    metrics['mean_rank'] = ranks.mean().item()
    metrics['median_rank'] = ranks.quantile(0.5).item()
    return metrics


def retrieval_recall(scores: Scores,
                     positives: Positives,
                     topk: TopK = (1, 5, 10),
                     chunk_size: int = 1024) -> Dict[str, float]:
    """Recall@K, mean recall and mean/median rank of a score matrix.

    The evaluator-free entry point: :func:`best_positive_ranks` followed by
    :func:`rank_metrics`; see them for the arguments.

    Args:
        scores (Tensor | Sequence[Tensor]): Scores of shape (Q, G).
        positives (Tensor | Sequence): Bool mask (Q, G) or per-query
            positive gallery indices.
        topk (int | Sequence[int]): The K of each Recall@K. Defaults to
            (1, 5, 10).
        chunk_size (int): Queries processed at a time. Defaults to 1024.

    Returns:
        dict: ``Recall@K`` per K, ``mean_recall``, ``mean_rank``,
        ``median_rank``.

    Examples:
        >>> import torch
        >>> scores = torch.tensor([[0.9, 0.5, 0.1],
        ...                        [0.2, 0.2, 0.6]])
        >>> retrieval_recall(scores, [[1, 2], 0], topk=(1, 2))
        {'Recall@1': 0.0, 'Recall@2': 50.0, 'mean_recall': 25.0, \
'mean_rank': 2.5, 'median_rank': 2.5}
    """
    # Checked first so a bad K fails before the costly ranking.
    topk = _check_topk(topk)
    return rank_metrics(
        best_positive_ranks(scores, positives, chunk_size), topk)


class _RankMetric(BaseMetric):
    """Base of the metrics that rank ``chunk_size`` queries at a time.

    The constructor that :class:`ImageTextRetrievalMetric`,
    ``ZeroShotClassificationMetric`` and ``ImageToImageRetrievalMetric``
    share: it checks and keeps ``topk`` and ``chunk_size``. A subclass sets ``default_topk``, the K values used when
    ``topk`` is None.

    Args:
        topk (int | Sequence[int], optional): The K values. Defaults to
            None, i.e. the class's ``default_topk``.
        chunk_size (int): Queries ranked at a time. Defaults to 1024.
        collect_device (str): Device used to collect results across ranks,
            'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to
            None, which uses the class's ``default_prefix``.

    Raises:
        ValueError: If a K is not a positive int or ``chunk_size <= 0``.
    """
    #: The K values used when ``topk`` is None.
    default_topk: Tuple[int, ...] = (1, 5, 10)

    def __init__(self,
                 topk: Optional[TopK] = None,
                 chunk_size: int = 1024,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if chunk_size <= 0:
            raise ValueError(f'`chunk_size` must be > 0, got {chunk_size}.')
        self.topk = _check_topk(self.default_topk if topk is None else topk)
        self.chunk_size = chunk_size
        super().__init__(collect_device=collect_device, prefix=prefix)


@METRICS.register_module()
class ImageTextRetrievalMetric(_RankMetric):
    """Recall@K, mean recall and mean/median rank for retrieval.

    Made for MMPretrain's ``RetrievalValLoop`` / ``RetrievalTestLoop``,
    which run it once on the image-to-text and once on the text-to-image
    samples of the model's ``predict_all`` and prefix the keys with
    ``i2t/`` and ``t2i/``. Each sample needs ``pred_score`` (scores over the
    whole gallery) and ``gt_label`` (the gallery indices of its positives:
    an int, a list of ints or a tensor). A hit at K means ANY positive is in
    the top K, as in MMPretrain's ``RetrievalRecall``, whose numbers this
    reproduces; positives tied with negatives are ranked after them. Unlike
    ``RetrievalRecall``, it ranks ``chunk_size`` queries at a time with
    tensor operations instead of one query at a time, and it works with
    numpy >= 2.4.

    Args:
        topk (int | Sequence[int], optional): The K of each Recall@K.
            Defaults to None, i.e. (1, 5, 10).
        chunk_size (int): Queries scored at a time in ``compute_metrics``;
            the working memory is about ``chunk_size x gallery`` scores.
            Defaults to 1024.
        collect_device (str): Device used to collect results across ranks,
            'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to
            None, which uses ``'retrieval'``.

    Examples:
        >>> import torch
        >>> from mmengine.evaluator import Evaluator
        >>> from mmpretrain.structures import DataSample
        >>> samples = [
        ...     DataSample(gt_label=[1, 2]).set_pred_score(
        ...         torch.tensor([0.9, 0.5, 0.1])),
        ...     DataSample(gt_label=0).set_pred_score(
        ...         torch.tensor([0.2, 0.2, 0.6])),
        ... ]
        >>> evaluator = Evaluator(
        ...     ImageTextRetrievalMetric(topk=(1, 2)))
        >>> evaluator.process(samples)
        >>> evaluator.evaluate(len(samples))
        {'retrieval/Recall@1': 0.0, 'retrieval/Recall@2': 50.0, \
'retrieval/mean_recall': 25.0, 'retrieval/mean_rank': 2.5, \
'retrieval/median_rank': 2.5}

        In a config:

        .. code:: python

            val_evaluator = dict(
                type='ImageTextRetrievalMetric', topk=(1, 5, 10))
            test_evaluator = val_evaluator
    """
    default_prefix: Optional[str] = 'retrieval'
    default_topk = (1, 5, 10)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store the score row and positive indices of each sample.

        Args:
            data_batch: Unused; the retrieval loops pass None.
            data_samples (Sequence[dict]): Samples with ``pred_score`` and
                ``gt_label``.
        """
        # ``predict_all`` hands out rows of one score matrix. One process
        # keeps them as they are, at no cost; collecting results across
        # ranks pickles them, and a pickled view carries its whole base
        # matrix, once per row, so there every row is copied out.
        compact = get_world_size() > 1
        for sample in data_samples:
            score = sample['pred_score'].detach().cpu()
            self.results.append((score.clone() if compact else score,
                                 format_label(sample['gt_label'])))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute Recall@K, mean_recall, mean_rank and median_rank.

        Args:
            results (list[tuple]): ``(score row, positive indices)`` per
                sample, from all ranks.

        Returns:
            dict: The metrics, recalls in percent.
        """
        scores = [score for score, _ in results]
        positives = [pos for _, pos in results]
        return retrieval_recall(scores, positives, self.topk, self.chunk_size)
