"""ImageTextRetrievalMetric on two CPU processes (gloo) against one.

Each rank scores its shard of the queries, as ``predict_all`` does after
``SequentialSampler(subsample_type='sequential')``, which pads the last
rank with the first queries; MMEngine's Evaluator collects the results and
drops the padding. Both of MMEngine's collection paths are run: through a
shared folder ('cpu') and through the process group ('gpu', which gloo
serves on the CPU).
"""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.evaluator import Evaluator
from mmpretrain.datasets import SequentialSampler
from mmpretrain.structures import DataSample

from qwenclip_mm.evaluation import ImageTextRetrievalMetric

WORLD_SIZE = 2
NUM_QUERIES = 15
GALLERY = 12
TOPK = (1, 2, 5)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _data():
    """Tied integer scores and 1-3 positives per query."""
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 8, (NUM_QUERIES, GALLERY), generator=gen)
    positives = [
        torch.randint(0, GALLERY, (1 + i % 3, ), generator=gen).tolist()
        for i in range(NUM_QUERIES)
    ]
    for row, pos in zip(scores, positives):
        # Enough signal for recalls between 0 and 100.
        row[pos] += 4
    return scores.float(), positives


def _evaluate(indices, collect_device, batches=1):
    """Metrics of the queries at ``indices``, the way the loops run it."""
    scores, positives = _data()
    # One score matrix for this rank's queries, handed out row by row.
    local_scores = scores[indices]
    samples = [
        DataSample(gt_label=positives[i]).set_pred_score(row)
        for i, row in zip(indices, local_scores)
    ]
    evaluator = Evaluator(
        ImageTextRetrievalMetric(
            topk=TOPK, chunk_size=4, collect_device=collect_device))
    bounds = torch.linspace(0, len(samples), batches + 1).long().tolist()
    for start, end in zip(bounds, bounds[1:]):
        evaluator.process(samples[start:end])
    return evaluator.evaluate(NUM_QUERIES)


def _worker(rank, port, queue):
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=WORLD_SIZE)
    try:
        indices = list(
            SequentialSampler(
                dataset=range(NUM_QUERIES), subsample_type='sequential'))
        results = {(device, batches): _evaluate(indices, device, batches)
                   for device in ('cpu', 'gpu') for batches in (1, 2)}
        queue.put((rank, indices, results))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope='module')
def two_ranks():
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    mp.start_processes(
        _worker,
        args=(_free_port(), queue),
        nprocs=WORLD_SIZE,
        start_method='spawn')
    return sorted(queue.get() for _ in range(WORLD_SIZE))


def test_two_ranks_equal_one_process(two_ranks):
    expected = _evaluate(list(range(NUM_QUERIES)), 'cpu')
    (_, indices0, results0), (_, indices1, results1) = two_ranks

    # The sampler repeats query 0 at the end of rank 1.
    assert indices1[-1] == 0
    assert len(indices0) + len(indices1) == NUM_QUERIES + 1
    assert 0 < expected['retrieval/Recall@1'] < 100
    for results in (results0, results1):
        assert results.keys() == {('cpu', 1), ('cpu', 2), ('gpu', 1),
                                  ('gpu', 2)}
        for metrics in results.values():
            assert metrics == pytest.approx(expected, abs=1e-9)
