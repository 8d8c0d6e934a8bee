"""Image-to-image retrieval: precision@K and mAP@K.

Every image is a query against all the other images (the query is excluded
from its own gallery). A gallery image is relevant to a query when

- ``relevance='label'``: both have the same label (e.g. the IRMA class);
- ``relevance='concepts'``: their concept sets (e.g. ROCOv2 CUIs) overlap
  enough: at least ``concept_threshold`` shared concepts
  (``concept_overlap='count'``) or a Jaccard index of at least
  ``concept_threshold`` (``concept_overlap='jaccard'``). Two empty sets are
  not relevant to each other.

Scores are dot products of the image features (cosine similarities when the
features are L2-normalised, as QwenCLIP's are). Ties are broken
pessimistically, as in :mod:`.retrieval`: among gallery images with equal
scores the irrelevant ones are ranked first.

For a query with ``R`` relevant images and relevance ``rel_i`` at rank
``i``:

- ``precision@K = sum(rel_1..rel_K) / K``;
- ``AP@K = sum_{i<=K} precision@i * rel_i / min(R, K)``, so a query whose
  top K are all relevant (or that finds all R) scores 1. mmpretrain's
  ``RetrievalAveragePrecision`` (``mode='IR'``) divides by ``R`` instead;
  the two agree whenever ``R <= K`` (tested).

Queries without any relevant image have no defined AP: they are left out of
both precision@K and mAP@K (which average over the other queries) and
counted in ``num_no_relevant``.

The work runs ``chunk_size`` queries at a time, so memory stays about
``chunk_size x N`` on top of the features.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmpretrain.registry import METRICS

from .retrieval import TopK, _check_topk, _RankMetric

RELEVANCE = ('label', 'concepts')
CONCEPT_OVERLAP = ('count', 'jaccard')


def _concept_matrix(concepts: Sequence[Sequence]) -> torch.Tensor:
    """Multi-hot float matrix (N, V) of per-image concept sets."""
    vocab: Dict = {}
    rows, cols = [], []
    for i, items in enumerate(concepts):
        for item in set(items):
            rows.append(i)
            cols.append(vocab.setdefault(item, len(vocab)))
    matrix = torch.zeros(len(concepts), max(len(vocab), 1))
    matrix[rows, cols] = 1.
    return matrix


def _check_relevance(relevance: str, concept_overlap: str) -> None:
    """Raise ValueError for an unknown ``relevance`` or ``concept_overlap``."""
    if relevance not in RELEVANCE:
        raise ValueError(f'`relevance` must be one of {RELEVANCE}, got '
                         f'{relevance!r}.')
    if concept_overlap not in CONCEPT_OVERLAP:
        raise ValueError(f'`concept_overlap` must be one of '
                         f'{CONCEPT_OVERLAP}, got {concept_overlap!r}.')


def _label_tensor(labels) -> torch.Tensor:
    """Labels as a 1-D integer tensor; any hashable labels are numbered."""
    if isinstance(labels, torch.Tensor):
        return labels.reshape(-1)
    numbers: Dict = {}
    return torch.tensor([numbers.setdefault(label, len(numbers))
                         for label in labels], dtype=torch.long)


def _relevance_chunk(start: int, end: int, labels: Optional[torch.Tensor],
                     concepts: Optional[torch.Tensor], overlap: str,
                     threshold: float) -> torch.Tensor:
    """Bool (C, N) relevance of queries ``start:end`` to every image."""
    if labels is not None:
        return labels[start:end, None] == labels[None, :]
    shared = concepts[start:end] @ concepts.t()
    if overlap == 'count':
        return shared >= threshold
    sizes = concepts.sum(dim=1)
    union = sizes[start:end, None] + sizes[None, :] - shared
    # Empty union (two empty sets): Jaccard defined as 0.
    jaccard = torch.where(union > 0, shared / union.clamp(min=1),
                          torch.zeros_like(shared))
    return jaccard >= threshold


def image_retrieval_metrics(image_feat: torch.Tensor,
                            labels: Optional[Union[Sequence[int],
                                                   torch.Tensor]] = None,
                            concepts: Optional[Sequence[Sequence]] = None,
                            topk: TopK = (1, 5, 10),
                            relevance: str = 'label',
                            concept_overlap: str = 'count',
                            concept_threshold: float = 1,
                            chunk_size: int = 1024) -> Dict[str, float]:
    """Precision@K and mAP@K of image-to-image retrieval.

    See the module docstring for the definitions.

    Args:
        image_feat (torch.Tensor): Features of shape (N, D); scores are
            their dot products.
        labels (Sequence | Tensor, optional): One label (an int or any
            hashable value, e.g. an IRMA code) per image, needed for
            ``relevance='label'``.
        concepts (Sequence[Sequence], optional): One set (list) of hashable
            concepts per image, needed for ``relevance='concepts'``.
        topk (int | Sequence[int]): The K values; each must be < N.
            Defaults to (1, 5, 10).
        relevance (str): ``'label'`` or ``'concepts'``. Defaults to
            ``'label'``.
        concept_overlap (str): ``'count'`` (shared concepts) or
            ``'jaccard'``. Defaults to ``'count'``.
        concept_threshold (float): Least count or Jaccard index for
            relevance. Defaults to 1.
        chunk_size (int): Queries processed at a time. Defaults to 1024.

    Returns:
        dict: ``Precision@K`` and ``mAP@K`` per K (percent, over queries
        with a relevant image), ``num_no_relevant`` (queries left out) and
        ``num_queries`` (queries averaged over).

    Raises:
        ValueError: For a bad option, a missing or mis-sized ``labels`` /
            ``concepts``, a K not below N, or when no query has a relevant
            image.

    Examples:
        >>> import torch
        >>> feat = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]])
        >>> image_retrieval_metrics(feat, labels=[0, 0, 1, 1], topk=1)
        {'Precision@1': 100.0, 'mAP@1': 100.0, 'num_no_relevant': 0, \
'num_queries': 4}
    """
    topk = _check_topk(topk)
    _check_relevance(relevance, concept_overlap)
    if chunk_size <= 0:
        raise ValueError(f'`chunk_size` must be > 0, got {chunk_size}.')
    if image_feat.dim() != 2:
        raise ValueError(f'`image_feat` must have shape (N, D), got '
                         f'{tuple(image_feat.shape)}.')
    num = len(image_feat)
    if max(topk) >= num:
        raise ValueError(f'Every K must be below the number of images '
                         f'({num}; the query is not in its gallery), got '
                         f'topk={topk}.')
    name = 'labels' if relevance == 'label' else 'concepts'
    given = labels if relevance == 'label' else concepts
    if given is None or len(given) != num:
        raise ValueError(
            f'relevance={relevance!r} needs `{name}` with one entry per '
            f'image ({num}), got {None if given is None else len(given)}.')
    label_t = _label_tensor(labels) if relevance == 'label' else None
    concept_t = _concept_matrix(concepts) if relevance == 'concepts' else None

    feat = image_feat.detach().cpu()
    kmax = max(topk)
    precision_sum = torch.zeros(len(topk), dtype=torch.float64)
    ap_sum = torch.zeros(len(topk), dtype=torch.float64)
    num_no_relevant = 0
    for start in range(0, num, chunk_size):
        end = min(start + chunk_size, num)
        rows = torch.arange(end - start)
        scores = feat[start:end] @ feat.t()
        rel = _relevance_chunk(start, end, label_t, concept_t, concept_overlap,
                               concept_threshold)
        # The query leaves its gallery: ranked last and never relevant.
        scores[rows, rows + start] = float('-inf')
        rel[rows, rows + start] = False
        num_rel = rel.sum(dim=1)
        has_rel = num_rel > 0
        num_no_relevant += int((~has_rel).sum())
        # Pessimistic ties: order by relevance (irrelevant first), then a
        # stable sort by descending score keeps that order among ties.
        by_rel = rel.to(torch.int8).argsort(dim=1, stable=True)
        order = scores.gather(1, by_rel).argsort(
            dim=1, descending=True, stable=True)
        ranked = rel.gather(1, by_rel.gather(1, order[:, :kmax]))
        hits = ranked.double().cumsum(dim=1)
        precision_at = hits / torch.arange(1, kmax + 1)
        ap_terms = (precision_at * ranked).cumsum(dim=1)
        hits, ap_terms = hits[has_rel], ap_terms[has_rel]
        num_rel = num_rel[has_rel]
        for i, k in enumerate(topk):
            precision_sum[i] += (hits[:, k - 1] / k).sum()
            ap_sum[i] += (ap_terms[:, k - 1] /
                          num_rel.clamp(max=k).double()).sum()
    num_queries = num - num_no_relevant
    if num_queries == 0:
        raise ValueError('No query has a relevant image in its gallery; '
                         'precision@K and mAP@K are undefined.')
    metrics: Dict[str, float] = {}
    for i, k in enumerate(topk):
        metrics[f'Precision@{k}'] = (precision_sum[i] / num_queries *
                                     100).item()
        metrics[f'mAP@{k}'] = (ap_sum[i] / num_queries * 100).item()
    metrics['num_no_relevant'] = num_no_relevant
    metrics['num_queries'] = num_queries
    return metrics


@METRICS.register_module()
class ImageToImageRetrievalMetric(_RankMetric):
    """Precision@K and mAP@K of image-to-image retrieval, for an Evaluator.

    Each data sample must carry ``image_feat`` (a 1-D feature) and the
    relevance key: ``label_key`` (default ``'gt_label'``, one int, e.g. the
    IRMA class) for ``relevance='label'``, or ``concept_key`` (default
    ``'cuis'``, a list, e.g. ROCOv2 CUIs) for ``relevance='concepts'``.
    Looked up on the sample first, then in its ``metainfo``.

    Labels may be any hashable value (an int class, an IRMA code string).

    With mmpretrain's ``RetrievalValLoop`` / ``RetrievalTestLoop`` the
    metric sees the image-to-text samples of ``QwenCLIP.predict_all``, which
    carry the query's ``image_feat`` and the input sample's metainfo. So
    list the relevance key in ``PackInputs``' ``meta_keys`` (``'cuis'`` for
    ROCOv2, ``'code'`` for IRMA, which the base data configs do) and add the
    metric next to the image-text one; its results appear as
    ``i2t/image_retrieval/...``:

    .. code:: python

        test_evaluator = [
            dict(type='ImageTextRetrievalMetric', topk=(1, 5, 10)),
            dict(type='ImageToImageRetrievalMetric', label_key='code'),
        ]

    The samples of the text-to-image pass carry no ``image_feat`` and are
    skipped (no ``t2i/image_retrieval`` metrics). Without the loop, feed
    samples directly:

    .. code:: python

        evaluator = Evaluator(dict(type='ImageToImageRetrievalMetric',
                                   relevance='concepts',
                                   concept_overlap='jaccard',
                                   concept_threshold=0.5))
        evaluator.process([DataSample(image_feat=f, cuis=c) for ...])
        evaluator.evaluate(n)

    Args:
        topk (int | Sequence[int], optional): The K values. Defaults to
            None, i.e. (1, 5, 10).
        relevance (str): ``'label'`` or ``'concepts'``. Defaults to
            ``'label'``.
        concept_overlap (str): ``'count'`` or ``'jaccard'``. Defaults to
            ``'count'``.
        concept_threshold (float): Least count or Jaccard index. Defaults
            to 1.
        label_key (str): Sample key of the label. Defaults to 'gt_label'.
        concept_key (str): Sample key of the concepts. Defaults to 'cuis'.
        chunk_size (int): Queries processed at a time. Defaults to 1024.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Defaults to None, i.e. ``'image_retrieval'``.
    """
    default_prefix: Optional[str] = 'image_retrieval'
    default_topk = (1, 5, 10)

    def __init__(self,
                 topk: Optional[TopK] = None,
                 relevance: str = 'label',
                 concept_overlap: str = 'count',
                 concept_threshold: float = 1,
                 label_key: str = 'gt_label',
                 concept_key: str = 'cuis',
                 chunk_size: int = 1024,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        _check_relevance(relevance, concept_overlap)
        self.relevance = relevance
        self.concept_overlap = concept_overlap
        self.concept_threshold = concept_threshold
        self.key = label_key if relevance == 'label' else concept_key
        super().__init__(topk, chunk_size, collect_device, prefix)

    def _lookup(self, sample: dict, index: int):
        if self.key in sample:
            return sample[self.key]
        meta = sample.get('metainfo', {}) or {}
        if self.key in meta:
            return meta[self.key]
        raise KeyError(f'Sample {index} has `image_feat` but no '
                       f'{self.key!r} for relevance={self.relevance!r}.')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store the feature and label/concepts of each image sample.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Samples; those without
                ``image_feat`` are skipped.
        """
        for i, sample in enumerate(data_samples):
            if 'image_feat' not in sample:
                # One result per sample keeps the evaluator's truncation to
                # the data set size right and its empty-results warning off.
                self.results.append(None)
                continue
            value = self._lookup(sample, i)
            if self.relevance == 'label':
                if isinstance(value, torch.Tensor):
                    value = value.reshape(-1)[0].item()
            else:
                value = list(value)
            self.results.append(
                (torch.as_tensor(sample['image_feat']).detach().cpu(), value))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute precision@K and mAP@K; empty when no image samples.

        Args:
            results (list): ``(feature, label or concepts)`` pairs, None
                for the skipped samples.

        Returns:
            dict: See :func:`image_retrieval_metrics`.
        """
        results = [result for result in results if result is not None]
        if not results:
            return {}
        feat = torch.stack([feat for feat, _ in results])
        values = [value for _, value in results]
        return image_retrieval_metrics(
            feat,
            labels=values if self.relevance == 'label' else None,
            concepts=values if self.relevance == 'concepts' else None,
            topk=self.topk,
            relevance=self.relevance,
            concept_overlap=self.concept_overlap,
            concept_threshold=self.concept_threshold,
            chunk_size=self.chunk_size)
