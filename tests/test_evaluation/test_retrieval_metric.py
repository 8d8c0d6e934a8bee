import pickle
import statistics

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.evaluation import RetrievalRecall
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

from qwenclip_mm.evaluation import (ImageTextRetrievalMetric,
                                    best_positive_ranks, rank_metrics,
                                    retrieval_recall)

TOPK = (1, 2, 5)


def brute_force_ranks(scores, positives):
    """Pessimistic best-positive ranks, one query and item at a time."""
    ranks = []
    for row, pos in zip(scores.tolist(), positives):
        pos = set(pos)
        best = max(row[j] for j in pos)
        ahead = sum(1 for j, s in enumerate(row) if j not in pos and s >= best)
        ranks.append(ahead + 1)
    return ranks


def brute_force_metrics(ranks, topk):
    metrics = {
        f'Recall@{k}': 100 * sum(r <= k for r in ranks) / len(ranks)
        for k in topk
    }
    metrics['mean_recall'] = sum(metrics.values()) / len(topk)
    metrics['mean_rank'] = sum(ranks) / len(ranks)
    metrics['median_rank'] = statistics.median(ranks)
    return metrics


def random_tied_data(seed, num_queries=23, gallery=17):
    """Integer scores in 0..3 (ties everywhere) and 1-4 positives per query,
    some listed twice."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 4, (num_queries, gallery), generator=gen)
    positives = []
    for _ in range(num_queries):
        count = int(torch.randint(1, 5, (1, ), generator=gen))
        pos = torch.randint(0, gallery, (count, ), generator=gen).tolist()
        positives.append(pos + pos[:1])
    return scores, positives


def to_mask(positives, gallery):
    mask = torch.zeros(len(positives), gallery, dtype=torch.bool)
    for i, pos in enumerate(positives):
        mask[i, pos] = True
    return mask


def assert_metrics_equal(actual, expected):
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('chunk_size', [1, 3, 1000])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.long])
def test_matches_brute_force_with_ties(seed, chunk_size, dtype):
    scores, positives = random_tied_data(seed)
    scores = scores.to(dtype)
    expected = brute_force_ranks(scores, positives)

    ranks = best_positive_ranks(scores, positives, chunk_size)

    assert ranks.tolist() == expected
    assert_metrics_equal(
        retrieval_recall(scores, positives, TOPK, chunk_size),
        brute_force_metrics(expected, TOPK))


@pytest.mark.parametrize('chunk_size', [1, 3, 1000])
def test_input_forms_agree(chunk_size):
    scores, positives = random_tied_data(seed=3)
    expected = brute_force_ranks(scores, positives)
    mask = to_mask(positives, scores.shape[1])

    as_mask = best_positive_ranks(scores.float(), mask, chunk_size)
    as_rows = best_positive_ranks(
        list(scores.float()), [torch.tensor(p) for p in positives], chunk_size)

    assert as_mask.tolist() == expected
    assert as_rows.tolist() == expected


def test_tied_positive_ranks_after_negatives():
    scores = torch.tensor([[1., 1., 1., 1.], [0., 3., 3., 3.],
                           [5., 5., 2., 0.]])
    # Query 2 ties its two positives with each other, not with a negative.
    positives = [[2], [1, 2], [0, 1]]

    assert best_positive_ranks(scores, positives).tolist() == [4, 2, 1]


def test_rank_metrics_even_median_and_mean_recall():
    metrics = rank_metrics(torch.tensor([1, 2, 7, 30]), topk=(1, 5))

    assert metrics == {
        'Recall@1': 25.0,
        'Recall@5': 50.0,
        'mean_recall': 37.5,
        'mean_rank': 10.0,
        'median_rank': 4.5
    }


def make_samples(scores, positives):
    return [
        DataSample().set_gt_label(pos).set_pred_score(row)
        for row, pos in zip(scores, positives)
    ]


def evaluate(metric, samples):
    evaluator = Evaluator(metric)
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))


# RetrievalRecall's own numpy 2 deprecation warnings.
@pytest.mark.filterwarnings('ignore::DeprecationWarning')
def test_equals_mmpretrain_retrieval_recall(monkeypatch):
    # RetrievalRecall calls np.in1d, which numpy 2.4 removed; np.isin is its
    # replacement. Patched here only, never in the package.
    monkeypatch.setattr(np, 'in1d', np.isin, raising=False)
    gen = torch.Generator().manual_seed(0)
    num_queries, gallery = 60, 40
    # Each row a permutation: no ties, where torch.topk's order is
    # unspecified and ours is pessimistic.
    scores = torch.stack([
        torch.randperm(gallery, generator=gen) for _ in range(num_queries)
    ]).float()
    positives = [
        torch.randperm(gallery, generator=gen)[:1 + i % 5].tolist()
        for i in range(num_queries)
    ]
    samples = make_samples(scores, positives)

    ours = evaluate(ImageTextRetrievalMetric(topk=TOPK, chunk_size=7), samples)
    theirs = evaluate(RetrievalRecall(topk=TOPK), samples)

    for k in TOPK:
        key = f'retrieval/Recall@{k}'
        assert ours[key] == pytest.approx(theirs[key], abs=1e-4)
    assert 0 < ours['retrieval/Recall@1'] < ours['retrieval/Recall@5'] < 100


def test_evaluator_with_int_list_and_tensor_gt_label():
    scores, positives = random_tied_data(seed=4, num_queries=9)
    samples = []
    # The label forms predict_all produces: an int (one caption), a list
    # (BLIP sets gt_text_id as is) and a LongTensor (set_gt_label).
    for i, row in enumerate(scores.float()):
        if i % 3 == 0:
            positives[i] = positives[i][:1]
            gt_label = positives[i][0]
        elif i % 3 == 1:
            gt_label = list(positives[i])
        else:
            gt_label = torch.tensor(positives[i])
        samples.append(DataSample(gt_label=gt_label).set_pred_score(row))
    expected = brute_force_metrics(brute_force_ranks(scores, positives), TOPK)

    metrics = evaluate(
        ImageTextRetrievalMetric(topk=TOPK, chunk_size=2, prefix='val'),
        samples)

    assert_metrics_equal(metrics, {f'val/{k}': v for k, v in expected.items()})


def test_built_from_config_with_defaults():
    metric = METRICS.build(dict(type='ImageTextRetrievalMetric'))

    assert isinstance(metric, ImageTextRetrievalMetric)
    assert metric.topk == (1, 5, 10)
    assert metric.prefix == 'retrieval'


def row_sources(scores):
    """The score rows of ``scores`` in the forms callers hand them over."""
    wide = torch.rand(len(scores), scores.shape[1] + 3)
    wide[:, 2:-1] = scores
    column_major = scores.t().contiguous().t()
    return {
        'matrix rows': list(scores),
        # Rows of a column slice and of a column-major matrix: evenly
        # spaced views that are not contiguous matrices.
        'column slice': list(wide[:, 2:-1]),
        'column-major': list(column_major),
        # Views of one matrix, but out of order: no single matrix view.
        'reversed': list(scores.flip(0).unbind(0))[::-1],
        'separate tensors': [row.clone() for row in scores],
        'mixed': [
            row.clone() if i % 4 == 0 else row
            for i, row in enumerate(column_major)
        ],
    }


@pytest.mark.parametrize('source', list(row_sources(torch.zeros(1, 1))))
@pytest.mark.parametrize('batches', [1, 3])
def test_any_row_layout_gives_brute_force_numbers(source, batches):
    scores, positives = random_tied_data(seed=6, num_queries=25)
    rows = row_sources(scores.float())[source]
    expected = brute_force_metrics(brute_force_ranks(scores, positives), TOPK)
    samples = [
        DataSample(gt_label=pos).set_pred_score(row)
        for row, pos in zip(rows, positives)
    ]
    metric = ImageTextRetrievalMetric(topk=TOPK, chunk_size=4)
    evaluator = Evaluator(metric)
    bounds = torch.linspace(0, len(samples), batches + 1).long().tolist()
    for start, end in zip(bounds, bounds[1:]):
        evaluator.process(samples[start:end])

    metrics = evaluator.evaluate(len(samples))

    assert_metrics_equal(metrics,
                         {f'retrieval/{k}': v
                          for k, v in expected.items()})
    assert best_positive_ranks(rows, positives, 4).tolist() == \
        brute_force_ranks(scores, positives)


@pytest.mark.parametrize('form', ['int', 'list', 'tensor', '2-d tensor'])
def test_positive_forms_agree(form):
    scores, positives = random_tied_data(seed=7)
    if form == 'int':
        positives = [pos[0] for pos in positives]
        given = positives
    elif form == 'list':
        given = positives
    elif form == 'tensor':
        given = [torch.tensor(pos) for pos in positives]
    else:
        positives = [pos[:1] * 2 for pos in positives]
        given = torch.tensor(positives)

    ranks = best_positive_ranks(scores, given, chunk_size=5)

    assert ranks.tolist() == brute_force_ranks(scores, [
        [pos] if isinstance(pos, int) else pos for pos in positives
    ])


def test_rows_of_one_matrix_are_stored_once():
    scores = torch.rand(20, 2000)
    metric = ImageTextRetrievalMetric()
    metric.process(
        None, [s.to_dict() for s in make_samples(scores, list(range(20)))])
    expected = metric.compute_metrics(metric.results)
    matrix_bytes = scores.numel() * scores.element_size()

    # One process keeps the rows as the matrix they view, not a copy.
    (piece, ) = metric.results[0].pieces
    assert piece.data_ptr() == scores.data_ptr()
    # Collecting across ranks pickles the results: the matrix once, not
    # once per row.
    pickled = pickle.dumps(metric.results)
    assert len(pickled) < 1.1 * matrix_bytes
    assert metric.compute_metrics(pickle.loads(pickled)) == expected


def test_rows_of_a_larger_matrix_pickle_only_themselves():
    scores = torch.rand(200, 2000)
    metric = ImageTextRetrievalMetric()
    metric.process(None, [
        s.to_dict() for s in make_samples(scores[:20], list(range(20)))
    ])

    pickled = pickle.dumps(metric.results)

    assert len(pickled) < 1.1 * scores[:20].numel() * scores.element_size()
    assert metric.compute_metrics(pickle.loads(pickled)) == \
        metric.compute_metrics(metric.results)


def test_repeated_samples_beyond_size_are_dropped():
    # A distributed sampler pads the last rank with the first samples; the
    # evaluator drops whatever lies beyond the data set's size.
    scores, positives = random_tied_data(seed=8, num_queries=10)
    scores = scores.float()
    samples = make_samples(scores, positives)
    expected = evaluate(ImageTextRetrievalMetric(topk=TOPK), samples)
    padded = make_samples(
        torch.cat([scores, scores[:3]]), positives + positives[:3])

    evaluator = Evaluator(ImageTextRetrievalMetric(topk=TOPK))
    evaluator.process(padded)

    assert evaluator.evaluate(len(samples)) == expected


def test_ranks_collected_and_truncated_like_one_process():
    # What MMEngine's collect_results does with two ranks' results: pickle,
    # interleave sample by sample, drop the padding at the end.
    scores, positives = random_tied_data(seed=9, num_queries=11)
    samples = make_samples(scores.float(), positives)
    samples.append(samples[0])
    expected = evaluate(ImageTextRetrievalMetric(topk=TOPK), samples[:11])
    metrics = [ImageTextRetrievalMetric(topk=TOPK) for _ in range(2)]
    for rank, metric in enumerate(metrics):
        shard = samples[rank * 6:(rank + 1) * 6]
        # Two process() calls per rank, as a batched loop would make.
        metric.process(None, [s.to_dict() for s in shard[:4]])
        metric.process(None, [s.to_dict() for s in shard[4:]])
    parts = [pickle.loads(pickle.dumps(m.results)) for m in metrics]
    collected = [entry for pair in zip(*parts) for entry in pair][:11]

    actual = metrics[0].compute_metrics(collected)

    assert_metrics_equal({f'retrieval/{k}': v
                          for k, v in actual.items()}, expected)


@pytest.mark.parametrize('topk', [0, -1, (1, 0), ()])
def test_bad_topk(topk):
    with pytest.raises(ValueError, match='topk'):
        ImageTextRetrievalMetric(topk=topk)
    with pytest.raises(ValueError, match='topk'):
        retrieval_recall(torch.rand(2, 3), [0, 1], topk=topk)


@pytest.mark.parametrize('bad_index', [10, -1])
@pytest.mark.parametrize('chunk_size', [1, 2, 100])
def test_gt_label_outside_gallery_names_sample(bad_index, chunk_size):
    scores = torch.rand(5, 10)
    positives = [[0], [1, 2], [3], [4, bad_index], [5]]
    samples = make_samples(scores, positives)

    with pytest.raises(
            ValueError, match=f'sample 3 .*index {bad_index}.*gallery of 10'):
        evaluate(ImageTextRetrievalMetric(chunk_size=chunk_size), samples)


def test_other_bad_input_is_named():
    scores = torch.rand(4, 6)
    with pytest.raises(ValueError, match='Sample 2 has no positive'):
        best_positive_ranks(scores, [[0], [1], [], [3]], chunk_size=3)
    nan_scores = scores.clone()
    nan_scores[1, 4] = float('nan')
    with pytest.raises(ValueError, match='sample 1 contains NaN'):
        best_positive_ranks(nan_scores, [0, 1, 2, 3])
    rows = list(scores)
    rows[3] = torch.rand(5)
    with pytest.raises(ValueError, match=r'sample 3 has shape \(5,\)'):
        best_positive_ranks(rows, [0, 1, 2, 3])
    rows[3] = torch.rand(6, dtype=torch.float64)
    with pytest.raises(ValueError, match='sample 3 is torch.float64'):
        best_positive_ranks(rows, [0, 1, 2, 3])
    with pytest.raises(TypeError, match='sample 1 must hold integer'):
        best_positive_ranks(scores, [0, torch.tensor([1.5]), 2, 3])
    with pytest.raises(TypeError, match='sample 0 must hold integer'):
        best_positive_ranks(scores, list(torch.eye(4, 6, dtype=torch.bool)))
    with pytest.raises(TypeError, match='sample 2 must hold integer'):
        best_positive_ranks(scores, [[0], [1, 2], [2.5], [3]])
    # Counted across process() calls.
    evaluator = Evaluator(ImageTextRetrievalMetric())
    evaluator.process(make_samples(scores[:2], [[0], [1]]))
    with pytest.raises(TypeError, match='sample 3 must hold integer'):
        evaluator.process([
            DataSample(gt_label=pos).set_pred_score(row)
            for row, pos in zip(scores[2:], [[2], [0.5]])
        ])
    with pytest.raises(ValueError, match='4 score rows but positives for 3'):
        best_positive_ranks(scores, [0, 1, 2])


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cuda_scores_match_cpu():
    scores, positives = random_tied_data(seed=5)
    mask = to_mask(positives, scores.shape[1])
    expected = brute_force_ranks(scores, positives)

    assert best_positive_ranks(scores.cuda(), mask.cuda(),
                               4).tolist() == expected
    assert best_positive_ranks(list(scores.cuda()), positives,
                               4).tolist() == expected
    # Through the Evaluator, rows of one CUDA matrix as predict_all makes.
    samples = make_samples(scores.float().cuda(), positives)
    assert evaluate(ImageTextRetrievalMetric(topk=TOPK, chunk_size=4),
                    samples) == evaluate(
                        ImageTextRetrievalMetric(topk=TOPK, chunk_size=4),
                        make_samples(scores.float(), positives))
