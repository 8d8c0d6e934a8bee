"""Zero-shot classification accuracy from image-to-class-text scores.

An image is classified as the class whose text scores highest; it is
correct at K when its class text is among the K best. The rank of the true
class comes from :func:`.retrieval.best_positive_ranks` (chunked, with
pessimistic ties: a true class tied with another class is ranked after
it), so top-K accuracy equals image-to-text Recall@K over a gallery of the
class texts with one positive per image.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmpretrain.registry import METRICS
from mmpretrain.structures import format_label

from .retrieval import (Scores, TopK, _check_topk, _RankMetric,
                        best_positive_ranks)


def zero_shot_accuracy(scores: Scores,
                       labels: Sequence[int],
                       topk: TopK = (1, 5),
                       chunk_size: int = 1024) -> Dict[str, float]:
    """Top-K and class-balanced top-1 accuracy of zero-shot classification.

    Args:
        scores (Tensor | Sequence[Tensor]): Image-to-class-text scores of
            shape (N, C), one tensor or one row per image.
        labels (Sequence[int] | Tensor): The class (column) of each image.
        topk (int | Sequence[int]): The K of each accuracy. Defaults to
            (1, 5).
        chunk_size (int): Images processed at a time. Defaults to 1024.

    Returns:
        dict: ``top{K}`` per K and ``mean_class_top1`` (the mean over the
        classes present in ``labels`` of their top-1 accuracy), in percent.

    Examples:
        >>> import torch
        >>> scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5],
        ...                        [0.1, 0.8, 0.1]])
        >>> zero_shot_accuracy(scores, [0, 1, 1], topk=(1, 2))
        {'top1': 66.66666666666666, 'top2': 100.0, 'mean_class_top1': 75.0}
    """
    topk = _check_topk(topk)
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    ranks = best_positive_ranks(scores, labels[:, None], chunk_size)
    metrics = {
        f'top{k}': (ranks <= k).double().mean().item() * 100
        for k in topk
    }
    classes, inverse = labels.unique(return_inverse=True)
    correct = torch.zeros(
        len(classes), dtype=torch.float64).index_add_(0, inverse,
                                                      (ranks == 1).double())
    counts = torch.bincount(inverse, minlength=len(classes)).double()
    metrics['mean_class_top1'] = (correct / counts).mean().item() * 100
    return metrics


@METRICS.register_module()
class ZeroShotClassificationMetric(_RankMetric):
    """Zero-shot classification accuracy of image queries over class texts.

    Made for the image-to-text samples of ``QwenCLIP.predict_all`` in
    mmpretrain's ``RetrievalTestLoop`` on a data set whose text gallery is
    the class texts, one per class (IRMA test with ``IRMADataset``): each
    sample's ``pred_score`` scores the class texts and its ``gt_label``
    holds exactly one gallery index, the image's class text. The accuracy
    is then over the classes as texts: codes sharing one text (IRMA without
    a hierarchy file) are one class, and the classes are those present in
    the test split.

    ``RetrievalTestLoop`` runs every metric on the text-to-image samples
    too; those are recognised by their ``text`` being one string (an
    image-to-text sample carries its item's list of texts) and skipped, so
    ``t2i/`` gets no zero-shot keys.

    Args:
        topk (int | Sequence[int], optional): The K of each accuracy.
            Defaults to None, i.e. (1, 5).
        chunk_size (int): Images processed at a time. Defaults to 1024.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Defaults to None, i.e. ``'zero_shot'``.

    Examples:
        In a config, next to the retrieval metric:

        .. code:: python

            test_evaluator = [
                dict(type='ImageTextRetrievalMetric', topk=(1, 5, 10)),
                dict(type='ZeroShotClassificationMetric', topk=(1, 5)),
            ]
    """
    default_prefix: Optional[str] = 'zero_shot'
    default_topk = (1, 5)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store the class-text scores and class of each image sample.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Samples with ``pred_score`` and
                ``gt_label`` (one index); text queries are skipped.

        Raises:
            ValueError: If an image sample has not exactly one label.
        """
        for i, sample in enumerate(data_samples):
            if isinstance(sample.get('text'), str):
                # One result per sample keeps the evaluator's truncation to
                # the data set size right and its empty-results warning off.
                self.results.append(None)
                continue
            label = format_label(sample['gt_label'])
            if label.numel() != 1:
                raise ValueError(
                    f'Sample {i} has {label.numel()} class labels '
                    f'{label.tolist()}; zero-shot classification needs '
                    'exactly one (a gallery of one text per class).')
            self.results.append(
                (sample['pred_score'].detach().cpu().clone(), int(label)))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute the accuracies; empty when there were no image samples.

        Args:
            results (list): ``(score row, class)`` pairs, None for the
                skipped text queries.

        Returns:
            dict: See :func:`zero_shot_accuracy`.
        """
        results = [result for result in results if result is not None]
        if not results:
            return {}
        return zero_shot_accuracy([score for score, _ in results],
                                  [label for _, label in results], self.topk,
                                  self.chunk_size)
