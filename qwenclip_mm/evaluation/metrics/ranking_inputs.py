"""The inputs of the ranking kernel: K values, score rows and positives.

Scores come as one ``(Q, G)`` matrix or as Q rows; rows that are views of
one matrix (evenly spaced in one storage) are used in place. Positives come
as a bool mask or as gallery indices per query; they become flat
``(query, column)`` pairs.
"""
import bisect
import itertools
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
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
    whole = _one_matrix(rows)
    if whole is not None:
        return [whole]
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


def _one_matrix(rows: Sequence[torch.Tensor]) -> Optional[torch.Tensor]:
    """All ``rows`` as one matrix view when they are the rows of one.

    The common case (``predict_all`` hands out the rows of a score matrix)
    checked with a few passes over the rows instead of the general loop of
    :func:`_row_pieces`, with the same result; None when it does not hold
    (the general loop then finds the runs and names a bad row).
    """
    first = rows[0]
    if len(rows) < 2 or first.dim() != 1:
        return None
    kinds = {(row.shape, row.dtype, row.device, row.stride())
             for row in rows}
    if len(kinds) != 1:
        return None
    ptrs = np.fromiter((row.data_ptr() for row in rows), np.int64, len(rows))
    steps = np.diff(ptrs)
    step = int(steps[0])
    if step <= 0 or not (steps == step).all():
        return None
    return _as_matrix(rows, step)


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
            return torch.from_numpy(cols.astype(np.int64)), torch.from_numpy(
                np.fromiter(map(len, positives), np.int64, len(positives)))
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
