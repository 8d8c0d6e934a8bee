import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import Evaluator
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

from qwenclip_mm.evaluation import (ImageToImageRetrievalMetric,
                                    image_retrieval_metrics)

TOPK = (1, 3, 5)


def brute_force(feat, relevant, topk):
    """P@K and AP@K one query at a time; relevant(i, j) -> bool."""
    num = len(feat)
    scores = (feat @ feat.t()).tolist()
    precision = {k: [] for k in topk}
    ap = {k: [] for k in topk}
    skipped = 0
    for i in range(num):
        gallery = [j for j in range(num) if j != i]
        rel = {j: relevant(i, j) for j in gallery}
        num_rel = sum(rel.values())
        if num_rel == 0:
            skipped += 1
            continue
        # Pessimistic ties: irrelevant first among equal scores.
        ranked = sorted(gallery, key=lambda j: (-scores[i][j], rel[j]))
        for k in topk:
            hits, total = 0, 0.
            for pos, j in enumerate(ranked[:k], start=1):
                if rel[j]:
                    hits += 1
                    total += hits / pos
            precision[k].append(hits / k)
            ap[k].append(total / min(num_rel, k))
    metrics = {}
    for k in topk:
        metrics[f'Precision@{k}'] = 100 * sum(precision[k]) / len(precision[k])
        metrics[f'mAP@{k}'] = 100 * sum(ap[k]) / len(ap[k])
    metrics['num_no_relevant'] = skipped
    metrics['num_queries'] = num - skipped
    return metrics


def random_data(seed, num=19):
    gen = torch.Generator().manual_seed(seed)
    # Small integer features: many tied scores.
    feat = torch.randint(0, 3, (num, 3), generator=gen).float()
    labels = torch.randint(0, 4, (num, ), generator=gen).tolist()
    labels[0] = 99  # a query with no relevant image
    vocab = [f'C{i}' for i in range(6)]
    concepts = [[
        vocab[j] for j in torch.randperm(6, generator=gen)
        [:int(torch.randint(0, 4, (1, ), generator=gen))].tolist()
    ] for _ in range(num)]
    return feat, labels, concepts


def assert_close(actual, expected):
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('chunk_size', [1, 4, 100])
def test_label_relevance_matches_brute_force(seed, chunk_size):
    feat, labels, _ = random_data(seed)
    expected = brute_force(feat, lambda i, j: labels[i] == labels[j], TOPK)

    actual = image_retrieval_metrics(
        feat, labels=labels, topk=TOPK, chunk_size=chunk_size)

    assert_close(actual, expected)
    assert actual['num_no_relevant'] >= 1


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('overlap,threshold', [('count', 1), ('count', 2),
                                               ('jaccard', 0.5)])
def test_concept_relevance_matches_brute_force(seed, overlap, threshold):
    feat, _, concepts = random_data(seed)

    def relevant(i, j):
        a, b = set(concepts[i]), set(concepts[j])
        shared = len(a & b)
        if overlap == 'count':
            return shared >= threshold
        return bool(a | b) and shared / len(a | b) >= threshold

    expected = brute_force(feat, relevant, TOPK)
    actual = image_retrieval_metrics(
        feat,
        concepts=concepts,
        topk=TOPK,
        relevance='concepts',
        concept_overlap=overlap,
        concept_threshold=threshold,
        chunk_size=5)

    assert_close(actual, expected)


def test_query_excluded_and_no_relevant_query_left_out():
    # Image 0 is its own best match but must not count; image 2 has a
    # unique label, so it is left out and counted.
    feat = torch.tensor([[1., 0.], [0., 1.], [0.7, 0.7]])
    metrics = image_retrieval_metrics(feat, labels=[0, 0, 5], topk=1)

    # Query 0 ranks 2 (not relevant) before 1; query 1 the same.
    assert metrics == {
        'Precision@1': 0.0,
        'mAP@1': 0.0,
        'num_no_relevant': 1,
        'num_queries': 2
    }


def test_ties_are_pessimistic():
    # Both gallery images tie for query 0; only one is relevant.
    feat = torch.tensor([[1., 0.], [1., 0.], [1., 0.]])
    metrics = image_retrieval_metrics(feat, labels=[0, 0, 1], topk=1)
    assert metrics['Precision@1'] == 0.0


def test_errors():
    feat = torch.eye(3)
    with pytest.raises(ValueError, match='below the number'):
        image_retrieval_metrics(feat, labels=[0, 0, 1], topk=3)
    with pytest.raises(ValueError, match='needs `concepts`'):
        image_retrieval_metrics(
            feat, labels=[0, 0, 1], relevance='concepts', topk=1)
    with pytest.raises(ValueError, match='No query'):
        image_retrieval_metrics(feat, labels=[0, 1, 2], topk=1)
    with pytest.raises(ValueError, match='relevance'):
        ImageToImageRetrievalMetric(relevance='cuis')


def test_metric_with_evaluator_matches_function():
    feat, labels, concepts = random_data(3)
    samples = [
        DataSample(image_feat=f, gt_label=label, cuis=c)
        for f, label, c in zip(feat, labels, concepts)
    ]
    # A text-to-image sample (no image_feat) is skipped.
    samples.append(DataSample(text='a caption').set_gt_label(0))
    for relevance in ('label', 'concepts'):
        evaluator = Evaluator(
            METRICS.build(
                dict(
                    type='ImageToImageRetrievalMetric',
                    topk=TOPK,
                    relevance=relevance)))
        evaluator.process(samples)
        metrics = evaluator.evaluate(len(samples))
        expected = image_retrieval_metrics(
            feat,
            labels=labels,
            concepts=concepts,
            topk=TOPK,
            relevance=relevance)
        assert metrics == {
            f'image_retrieval/{k}': v
            for k, v in expected.items()
        }


# RetrievalAveragePrecision's own numpy 2 deprecation warnings.
@pytest.mark.filterwarnings('ignore::DeprecationWarning')
def test_map_equals_mmpretrain_average_precision(monkeypatch):
    """Same mAP@K as mmpretrain's RetrievalAveragePrecision ('IR' mode).

    Theirs divides by all R relevant images, ours by min(R, K), so they
    agree when no query has more than K relevant images, as here.
    """
    from mmpretrain.evaluation import RetrievalAveragePrecision

    # It calls np.in1d, which numpy 2.4 removed; patched in this test only.
    monkeypatch.setattr(np, 'in1d', np.isin, raising=False)
    gen = torch.Generator().manual_seed(3)
    # 2 to 6 images per class: every query has 1 to 5 relevant images.
    labels = [c for c in range(12) for _ in range(2 + c % 5)]
    num, k = len(labels), 10
    feat = F.normalize(torch.randn(num, 16, generator=gen), dim=1)
    ours = image_retrieval_metrics(feat, labels=labels, topk=k)

    scores = feat @ feat.t()
    others = [[j for j in range(num) if j != i] for i in range(num)]
    pred = torch.stack([scores[i, others[i]] for i in range(num)])
    target = torch.tensor([[float(labels[j] == labels[i]) for j in others[i]]
                           for i in range(num)])
    theirs = RetrievalAveragePrecision.calculate(pred, target, topk=k)
    assert ours[f'mAP@{k}'] == pytest.approx(theirs, abs=1e-6)
    assert 0 < theirs < 100
