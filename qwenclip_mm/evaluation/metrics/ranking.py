"""Ranks of the best positive per query, and the metrics made of them.

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
themselves. Scores given one row per query are ranked in place when the
rows are views of one matrix (evenly spaced in one storage), so feeding the
rows of a score matrix costs no more than feeding the matrix.
"""
from typing import Dict, List

import numpy as np
import torch

from .ranking_inputs import (Positives, Scores, TopK, _check_topk,
                             _positive_indices, _positive_pairs,
                             _score_chunk, _score_pieces)


def _take(matrix: torch.Tensor, rows: torch.Tensor,
          cols: torch.Tensor) -> torch.Tensor:
    """``matrix[rows, cols]`` for a matrix of any strides.

    ``index_select`` on a flat view of the storage: advanced indexing
    launches parallel work even for a few thousand items, which can cost
    milliseconds per chunk on busy cores.
    """
    row_stride, col_stride = matrix.stride()
    span = ((len(matrix) - 1) * row_stride +
            (matrix.shape[1] - 1) * col_stride + 1)
    flat = matrix.as_strided((span, ), (1, ), matrix.storage_offset())
    return flat.index_select(0, rows * row_stride + cols * col_stride)


def _chunk_ranks(chunk: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                 start: int, at_least_best: torch.Tensor) -> torch.Tensor:
    """Best-positive ranks of one chunk of queries.

    Args:
        chunk (torch.Tensor): CPU scores of shape (C, G).
        rows (torch.Tensor): Query (0..C-1) of each positive; every query
            has at least one.
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
    pos_scores = _take(chunk, rows, cols)
    best = pos_scores.new_empty(num_rows).scatter_reduce_(
        0, rows, pos_scores, 'amax', include_self=False)
    if chunk.dtype == torch.bfloat16:  # a dtype numpy lacks
        torch.ge(chunk, best[:, None], out=at_least_best)
    else:
        # numpy's broadcast comparison runs about twice as fast as torch's
        # on one CPU thread.
        np.greater_equal(
            chunk.numpy(), best.numpy()[:, None], out=at_least_best.numpy())
    # numpy's vectorised int32 sum counts the True entries of each row
    # about 20x faster than torch's CPU reduction over bool, and is exact
    # for any gallery under 2**31 items.
    num_at_least = torch.from_numpy(at_least_best.numpy().sum(
        axis=1, dtype=np.int32)).long()
    # Positives tied with the best are the only positives counted above;
    # taking them out leaves the negatives ranked ahead (pessimistic ties).
    num_pos_tied = torch.bincount(
        rows[pos_scores >= best.index_select(0, rows)],
        minlength=num_rows)
    return num_at_least - num_pos_tied + 1


def _piece_ranks(pieces: List[torch.Tensor], cols: torch.Tensor,
                 counts: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """Best-positive ranks of queries given as score matrices in order.

    What :func:`best_positive_ranks` and the metric run once their input is
    in this form.

    Args:
        pieces (list[torch.Tensor]): Score matrices (n_i, G), one dtype.
        cols (torch.Tensor): Positive gallery indices, query after query.
        counts (torch.Tensor): Number of positives of each query.
        chunk_size (int): Queries ranked at a time.

    Returns:
        torch.Tensor: Long tensor of shape (Q,).
    """
    starts = [0]
    for piece in pieces:
        starts.append(starts[-1] + len(piece))
    num_queries, gallery = starts[-1], pieces[0].shape[1]
    if num_queries == 0:
        raise ValueError('Retrieval metrics need at least one query, got 0.')
    if len(counts) != num_queries:
        raise ValueError(f'Got {num_queries} score rows but positives for '
                         f'{len(counts)} queries.')
    for piece, first in zip(pieces, starts):
        if piece.shape[1] != gallery:
            raise ValueError(
                f'pred_score of sample {first} has shape '
                f'({piece.shape[1]},), expected ({gallery},): every query '
                f'must score the same gallery as sample 0.')
        if piece.dtype != pieces[0].dtype:
            raise ValueError(
                f'pred_score of sample {first} is {piece.dtype} but sample '
                f'0 is {pieces[0].dtype}; give every row one dtype.')
    rows, cols = _positive_pairs(cols, counts, gallery)
    bounds = torch.searchsorted(
        rows, torch.arange(0, num_queries + chunk_size, chunk_size)).tolist()

    # Buffers reused by every chunk: allocating fresh chunk-sized tensors
    # costs more (in page faults) than the comparisons themselves.
    buffer_rows = min(chunk_size, num_queries)
    score_buffer = None if len(pieces) == 1 else torch.empty(
        buffer_rows, gallery, dtype=pieces[0].dtype)
    at_least_best = torch.empty(buffer_rows, gallery, dtype=torch.bool)
    ranks = torch.empty(num_queries, dtype=torch.long)
    for chunk_index, start in enumerate(range(0, num_queries, chunk_size)):
        end = min(start + chunk_size, num_queries)
        chunk = _score_chunk(pieces, starts, start, end, score_buffer)
        lo, hi = bounds[chunk_index], bounds[chunk_index + 1]
        ranks[start:end] = _chunk_ranks(chunk, rows[lo:hi] - start,
                                        cols[lo:hi], start,
                                        at_least_best[:end - start])
    return ranks


def best_positive_ranks(scores: Scores,
                        positives: Positives,
                        chunk_size: int = 1024) -> torch.Tensor:
    """Rank of the best-ranked positive of every query (1-based).

    A positive tied with negatives is ranked after them (pessimistic ties).
    The work runs on the CPU, ``chunk_size`` queries at a time; a matrix on
    another device is copied over one chunk at a time. Rows given one per
    query are not stacked when they are rows of one matrix (views of one
    storage, evenly spaced).

    Args:
        scores (Tensor | Sequence[Tensor]): Scores of shape (Q, G), higher
            is more similar, as one tensor or one 1-D tensor per query. Any
            real dtype; integer scores are compared exactly.
        positives (Tensor | Sequence): Either a bool tensor of shape (Q, G),
            True at positives, or per query its positive gallery indices
            (an int, a list of ints or a 1-D integer tensor; or all of them
            as an integer tensor of shape (Q, P)).
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
    if len(scores) == 0:
        raise ValueError('Retrieval metrics need at least one query, got 0.')
    if len(positives) != len(scores):
        raise ValueError(f'Got {len(scores)} score rows but positives for '
                         f'{len(positives)} queries.')
    if chunk_size <= 0:
        raise ValueError(f'`chunk_size` must be > 0, got {chunk_size}.')
    pieces = _score_pieces(scores)
    gallery = pieces[0].shape[1]
    if (isinstance(positives, torch.Tensor) and positives.dtype == torch.bool
            and positives.shape != (len(scores), gallery)):
        raise ValueError(f'A bool `positives` mask must have shape '
                         f'{(len(scores), gallery)} like the scores, got '
                         f'{tuple(positives.shape)}.')
    return _piece_ranks(pieces, *_positive_indices(positives), chunk_size)


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
