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
themselves. Scores given one row per query are ranked in place when the
rows are views of one matrix (evenly spaced in one storage), so feeding the
rows of a score matrix costs no more than feeding the matrix.
"""
import bisect
import copy
import itertools
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
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


def _row_pieces(rows: Sequence[torch.Tensor],
                start: int = 0) -> List[torch.Tensor]:
    """Score rows as few (n, G) matrices as possible, without copying.

    A run of rows that are evenly spaced views of one storage, such as the
    rows of a score matrix that ``predict_all`` hands out, becomes one
    matrix viewing that storage; any other row becomes a (1, G) view of
    itself. Stacking 10,000 rows of 10,000 scores instead would copy
    400 MB, which costs more than ranking them.

    Args:
        rows (Sequence[torch.Tensor]): 1-D score rows over one gallery.
        start (int): Index of the first row, for messages.

    Returns:
        list[torch.Tensor]: Detached matrices whose rows, in order, are
        ``rows``.

    Raises:
        ValueError: If row 0 is not 1-D, or a row's shape or dtype differs
            from row 0's.
    """
    first = rows[0]
    if first.dim() != 1:
        raise ValueError(f'pred_score of sample {start} has shape '
                         f'{tuple(first.shape)}, expected one dimension '
                         f'(the gallery).')
    shape, dtype = first.shape, first.dtype
    pieces = []
    # The current run: its first row, the byte step between its rows (None
    # while it has one row) and the address of its last row.
    run_start, step, last_ptr = 0, None, first.data_ptr()
    run_device, run_stride = first.device, first.stride()
    for index in range(1, len(rows)):
        row = rows[index]
        if row.shape != shape:
            raise ValueError(
                f'pred_score of sample {start + index} has shape '
                f'{tuple(row.shape)}, expected {tuple(shape)}: every query '
                f'must score the same gallery as sample {start}.')
        if row.dtype != dtype:
            # Stacking would cast silently, and float64 scores rounded to
            # float32 can tie.
            raise ValueError(
                f'pred_score of sample {start + index} is {row.dtype} but '
                f'sample {start} is {dtype}; give every row one dtype.')
        ptr = row.data_ptr()
        delta = ptr - last_ptr
        if (delta > 0 and step in (None, delta) and row.device == run_device
                and row.stride() == run_stride):
            step, last_ptr = delta, ptr
            continue
        pieces.append(_as_matrix(rows[run_start:index], step))
        run_start, step, last_ptr = index, None, ptr
        run_device, run_stride = row.device, row.stride()
    pieces.append(_as_matrix(rows[run_start:], step))
    return pieces


def _as_matrix(rows: Sequence[torch.Tensor],
               step: Optional[int]) -> torch.Tensor:
    """Rows ``step`` bytes apart in memory as one (n, G) matrix.

    A view of the first row's storage when every row lies inside it; rows
    that only happen to be evenly spaced (separate allocations) are stacked
    instead.
    """
    head = rows[0].detach()
    if len(rows) == 1:
        return head[None]
    item = head.element_size()
    offset = head.storage_offset()
    (stride, ) = head.stride()
    row_step = step // item
    end = offset + (len(rows) - 1) * row_step + (len(head) - 1) * stride + 1
    if step % item == 0 and end * item <= head.untyped_storage().nbytes():
        return head.as_strided((len(rows), len(head)), (row_step, stride),
                               offset)
    return torch.stack([row.detach() for row in rows])


def _score_pieces(scores: Scores) -> List[torch.Tensor]:
    """``scores`` as a list of (n, G) matrices (see :func:`_row_pieces`)."""
    if isinstance(scores, torch.Tensor):
        if scores.dim() != 2:
            raise ValueError(f'`scores` must have shape (queries, gallery), '
                             f'got {tuple(scores.shape)}.')
        return [scores.detach()]
    return _row_pieces(scores)


def _score_chunk(pieces: List[torch.Tensor], starts: List[int], start: int,
                 end: int, buffer: Optional[torch.Tensor]) -> torch.Tensor:
    """Scores of queries ``start:end`` as a CPU matrix.

    A chunk inside one piece is a slice of it, copied only if it is not on
    the CPU; a chunk across pieces is gathered into ``buffer`` (reused by
    every chunk).

    Args:
        pieces (list[torch.Tensor]): Score matrices, in query order.
        starts (list[int]): Index of each piece's first query, and the
            number of queries at the end.
        start (int): First query of the chunk.
        end (int): One past its last query.
        buffer (torch.Tensor, optional): A (chunk_size, G) CPU buffer;
            needed when some chunk spans several pieces.
    """
    first = bisect.bisect_right(starts, start) - 1
    last = bisect.bisect_right(starts, end - 1) - 1
    slices = [
        pieces[i][max(start - starts[i], 0):end - starts[i]].cpu()
        for i in range(first, last + 1)
    ]
    if len(slices) == 1:
        return slices[0]
    return torch.cat(slices, out=buffer[:end - start])


def _query_indices(positives) -> torch.Tensor:
    """The positive gallery indices of one query as a 1-D tensor."""
    if isinstance(positives, torch.Tensor) and positives.dim() == 1:
        # Skips format_label's slower checks.
        return positives.cpu()
    if type(positives) in (list, tuple):
        # format_label would cast floats to integers without a word.
        return torch.tensor(positives) if positives else torch.empty(
            0, dtype=torch.long)
    return format_label(positives)


def _positive_indices(positives: Positives,
                      start: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """The positives of each query as one flat array of gallery indices.

    Args:
        positives (Tensor | Sequence): A bool mask of shape (Q, G), an
            integer tensor of shape (Q, P) or (Q, ), or per query its
            gallery indices as an int, a list of ints or a 1-D tensor.
        start (int): Index of the first query, for messages.

    Returns:
        tuple[Tensor, Tensor]: The gallery indices of all queries, query
        after query, and the number of them per query (both long, CPU).

    Raises:
        TypeError: If the indices of a query are not integers.
    """
    if isinstance(positives, torch.Tensor):
        positives = positives.cpu()
        is_bool = positives.dtype == torch.bool
        if is_bool and positives.dim() == 2:
            rows, cols = positives.nonzero(as_tuple=True)
            return cols, torch.bincount(rows, minlength=len(positives))
        if not (is_bool or positives.is_floating_point()
                ) and positives.dim() in (1, 2):
            per_query = positives.reshape(len(positives), -1)
            return per_query.reshape(-1).long(), torch.full(
                (len(positives), ), per_query.shape[1])
    elif all(type(p) is int for p in positives):
        return torch.tensor(positives, dtype=torch.long), torch.ones(
            len(positives), dtype=torch.long)
    elif all(type(p) in (list, tuple) for p in positives):
        # Labels the way the retrieval datasets give them (``gt_text_id``):
        # one conversion for all queries instead of one tensor per query.
        # numpy reads a list of Python ints several times faster than
        # torch.tensor does.
        try:
            cols = np.array(list(itertools.chain.from_iterable(positives)))
        except ValueError:
            cols = None  # nested lists: refused one by one below
        if cols is not None and (cols.dtype.kind in 'iu' or not cols.size):
            return torch.from_numpy(cols.astype(np.int64)), torch.tensor(
                [len(p) for p in positives])
        # Floats and the like: named one by one below.
    # Anything else one query at a time.
    indices = [_query_indices(p) for p in positives]
    # Checked before concatenating, which would turn a bool row (a mask
    # given per query) into indices 0 and 1 without a word.
    for index, idx in enumerate(indices):
        if idx.dtype == torch.bool or idx.is_floating_point():
            raise TypeError(
                f'gt_label of sample {start + index} must hold integer '
                f'gallery indices, got {idx.dtype} values {idx.tolist()}.')
    counts = torch.tensor([len(idx) for idx in indices], dtype=torch.long)
    cols = torch.cat(indices).long() if indices else torch.empty(
        0, dtype=torch.long)
    return cols, counts


def _positive_pairs(cols: torch.Tensor, counts: torch.Tensor,
                    gallery: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(query, gallery index) of every positive, each pair once, by query.

    Raises:
        ValueError: If an index is outside the gallery or a query has no
            positive.
    """
    # numpy, single-threaded: on a few thousand items torch's parallel
    # kernels (sort, indexing) can take 100x longer when the cores are busy.
    cols, counts = cols.numpy(), counts.numpy()
    rows = np.repeat(np.arange(len(counts)), counts)
    out_of_range = (cols < 0) | (cols >= gallery)
    if out_of_range.any():
        first_bad = int(out_of_range.argmax())
        raise ValueError(
            f'gt_label of sample {rows[first_bad]} holds gallery index '
            f'{cols[first_bad]}, outside the gallery of {gallery} items '
            f'(valid indices: 0..{gallery - 1}).')
    if not counts.all():
        raise ValueError(
            f'Sample {int(counts.argmin())} has no positive in the gallery '
            f'of {gallery} items; every query needs at least one.')
    # A positive listed twice must count once when ties are subtracted.
    pairs = np.sort(rows * gallery + cols)
    pairs = torch.from_numpy(pairs[np.r_[True, pairs[1:] != pairs[:-1]]])
    return pairs // gallery, pairs % gallery


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


class _RankMetric(BaseMetric):
    """Base of the metrics that rank ``chunk_size`` queries at a time.

    The constructor that :class:`ImageTextRetrievalMetric`,
    ``ZeroShotClassificationMetric`` and ``ImageToImageRetrievalMetric``
    share: it checks and keeps ``topk`` and ``chunk_size``. A subclass
    sets ``default_topk``, the K values used when ``topk`` is None.

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


class _Batch:
    """The samples of one ``process`` call: score rows and positives.

    Scores are kept as CPU matrices (:func:`_row_pieces`), so the rows of
    one score matrix cost nothing to store and need no stacking later;
    positives as one flat index array and a count per sample.

    Args:
        scores (Sequence[torch.Tensor]): ``pred_score`` of each sample.
        positives (Sequence): ``gt_label`` of each sample.
        start (int): Number of samples stored before these, for messages.
    """

    def __init__(self, scores: Sequence[torch.Tensor], positives: Sequence,
                 start: int) -> None:
        self.pieces = [
            piece.cpu() for piece in _row_pieces(scores, start=start)
        ]
        self.cols, self.counts = _positive_indices(positives, start=start)

    def __len__(self) -> int:
        return len(self.counts)

    def __getstate__(self) -> dict:
        # Collecting results across ranks pickles them, and a pickled view
        # carries its whole storage: there, views of a larger tensor are
        # copied out, so only this batch's scores travel.
        state = dict(self.__dict__)
        state['pieces'] = [
            piece if piece.is_contiguous() and piece.untyped_storage().nbytes()
            == piece.numel() * piece.element_size() else piece.contiguous(
            ).clone() for piece in self.pieces
        ]
        return state

    def select(self, indices: List[int]) -> '_Batch':
        """The batch with only the samples at ``indices`` (ascending).

        All of them (the usual case) return the batch itself; otherwise the
        rows kept are regrouped, still without copying runs of rows.
        """
        if len(indices) == len(self):
            return self
        indices = sorted(indices)
        rows = [row for piece in self.pieces for row in piece]
        kept = copy.copy(self)
        kept.pieces = _row_pieces([rows[i] for i in indices])
        keep = torch.zeros(len(self), dtype=torch.bool)
        keep[indices] = True
        kept.cols = self.cols[keep.repeat_interleave(self.counts)]
        kept.counts = self.counts[keep]
        return kept


class _Query:
    """One sample's entry in ``self.results``: its batch and its place."""
    __slots__ = ('batch', 'index')

    def __init__(self, batch: _Batch, index: int) -> None:
        self.batch = batch
        self.index = index


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
    numpy >= 2.4. When the ``pred_score`` rows are rows of one score matrix,
    as ``predict_all`` hands them out, it ranks that matrix in place: no
    per-row copy, no stacking.

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
        """Store the score rows and positive indices of the samples.

        The batch is stored once, compactly (see :class:`_Batch`: rows of
        one score matrix stay a view of it); ``self.results`` gets one
        small entry per sample, so MMEngine's collection across ranks
        drops the samples a sampler repeated, as it does for any metric.

        Args:
            data_batch: Unused; the retrieval loops pass None.
            data_samples (Sequence[dict]): Samples with ``pred_score`` and
                ``gt_label``.
        """
        if not data_samples:
            return
        batch = _Batch([s['pred_score'] for s in data_samples],
                       [s['gt_label'] for s in data_samples],
                       start=len(self.results))
        self.results.extend(_Query(batch, i) for i in range(len(batch)))

    def compute_metrics(self, results: List['_Query']) -> Dict[str, float]:
        """Compute Recall@K, mean_recall, mean_rank and median_rank.

        Args:
            results (list[_Query]): One entry per sample, from all ranks.

        Returns:
            dict: The metrics, recalls in percent.
        """
        if not results:
            raise ValueError(
                'Retrieval metrics need at least one query, got 0.')
        kept = {}
        for query in results:
            kept.setdefault(id(query.batch), (query.batch, []))[1].append(
                query.index)
        pieces, cols, counts = [], [], []
        for batch, indices in kept.values():
            batch = batch.select(indices)
            pieces.extend(batch.pieces)
            cols.append(batch.cols)
            counts.append(batch.counts)
        ranks = _piece_ranks(pieces, torch.cat(cols), torch.cat(counts),
                             self.chunk_size)
        return rank_metrics(ranks, self.topk)
