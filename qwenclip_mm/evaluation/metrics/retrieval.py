"""Retrieval metrics for MMEngine's evaluator: Recall@K with several
positives, mean and median rank.

The ranks come from :mod:`.ranking` (see there how ties and chunks are
handled); this module holds what the evaluator's ``process`` and
``compute_metrics`` keep and compute.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

from .ranking import (_piece_ranks, best_positive_ranks, rank_metrics,
                      retrieval_recall)
from .ranking_inputs import (Positives, Scores, TopK, _check_topk,
                             _positive_indices, _row_pieces)

__all__ = [
    'ImageTextRetrievalMetric', 'Positives', 'Scores', 'TopK',
    'best_positive_ranks', 'rank_metrics', 'retrieval_recall'
]


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

    def head(self, num: int) -> '_Batch':
        """The batch with only its first ``num`` samples (views, no copy).

        All of them (the usual case) return the batch itself.
        """
        if num == len(self):
            return self
        kept = copy.copy(self)
        kept.pieces, left = [], num
        for piece in self.pieces:
            if left <= 0:
                break
            kept.pieces.append(piece[:left])
            left -= len(piece)
        kept.cols = self.cols[:int(self.counts[:num].sum())]
        kept.counts = self.counts[:num]
        return kept


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
        one score matrix stay a view of it), and ``self.results`` gets one
        entry per sample, so MMEngine's collection across ranks drops the
        samples a sampler repeated, as it does for any metric. Each entry
        is the batch itself: the k-th entry of a batch stands for its k-th
        sample, an order that collection keeps (it interleaves the ranks'
        lists and cuts the end). No object per sample is made, which would
        cost more than ranking (the garbage collector walks every new
        container, and the evaluation holds tens of thousands of them).

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
        self.results.extend([batch] * len(batch))

    def compute_metrics(self, results: List[_Batch]) -> Dict[str, float]:
        """Compute Recall@K, mean_recall, mean_rank and median_rank.

        Args:
            results (list[_Batch]): One entry per sample, from all ranks:
                the k-th occurrence of a batch is its k-th sample.

        Returns:
            dict: The metrics, recalls in percent.
        """
        if not results:
            raise ValueError(
                'Retrieval metrics need at least one query, got 0.')
        # How many samples of each batch were kept: collection cuts only
        # the end, so they are the first ones of each.
        kept = {}
        for batch in results:
            entry = kept.get(id(batch))
            if entry is None:
                kept[id(batch)] = [batch, 1]
            else:
                entry[1] += 1
        pieces, cols, counts = [], [], []
        for batch, num in kept.values():
            batch = batch.head(num)
            pieces.extend(batch.pieces)
            cols.append(batch.cols)
            counts.append(batch.counts)
        ranks = _piece_ranks(pieces, torch.cat(cols), torch.cat(counts),
                             self.chunk_size)
        return rank_metrics(ranks, self.topk)
