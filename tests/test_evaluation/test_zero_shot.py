import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

from qwenclip_mm.evaluation import zero_shot_accuracy

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'qwenclip')


def brute_force(scores, labels, topk):
    """Top-K accuracy with pessimistic ties, one image at a time."""
    ranks = []
    for row, label in zip(scores.tolist(), labels):
        ranks.append(1 + sum(
            1 for c, s in enumerate(row) if c != label and s >= row[label]))
    metrics = {
        f'top{k}': 100 * sum(r <= k for r in ranks) / len(ranks)
        for k in topk
    }
    per_class = {}
    for r, label in zip(ranks, labels):
        per_class.setdefault(label, []).append(r == 1)
    metrics['mean_class_top1'] = 100 * sum(
        sum(v) / len(v) for v in per_class.values()) / len(per_class)
    return metrics


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('chunk_size', [1, 7, 1000])
def test_matches_brute_force_with_ties(seed, chunk_size):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 4, (31, 8), generator=gen).float()
    labels = torch.randint(0, 8, (31, ), generator=gen).tolist()

    actual = zero_shot_accuracy(scores, labels, (1, 5), chunk_size)

    expected = brute_force(scores, labels, (1, 5))
    assert actual.keys() == expected.keys()
    for key in expected:
        assert actual[key] == pytest.approx(expected[key], abs=1e-9)


def test_metric_on_retrieval_loop_samples():
    """i2t samples (text is the item's list) count; t2i (str) are skipped."""
    gen = torch.Generator().manual_seed(0)
    image_feat = torch.nn.functional.normalize(
        torch.randn(12, 4, generator=gen))
    class_text_feat = torch.nn.functional.normalize(
        torch.randn(3, 4, generator=gen))
    labels = [i % 3 for i in range(12)]
    scores = image_feat @ class_text_feat.t()
    i2t = [
        DataSample(
            text=['x'] if i < 3 else []).set_pred_score(row).set_gt_label(
                [label]) for i, (row, label) in enumerate(zip(scores, labels))
    ]
    t2i = [
        DataSample(text='class text').set_pred_score(row).set_gt_label(
            [j for j in range(12) if labels[j] == c])
        for c, row in enumerate(scores.t())
    ]
    evaluator = Evaluator(
        METRICS.build(dict(type='ZeroShotClassificationMetric', topk=(1, 2))))

    evaluator.process(i2t)
    i2t_metrics = evaluator.evaluate(len(i2t))
    evaluator.process(t2i)
    t2i_metrics = evaluator.evaluate(len(t2i))

    expected = brute_force(scores, labels, (1, 2))
    assert i2t_metrics == pytest.approx({
        f'zero_shot/{k}': v
        for k, v in expected.items()
    })
    assert t2i_metrics == {}


def test_metric_refuses_several_labels():
    evaluator = Evaluator(
        METRICS.build(dict(type='ZeroShotClassificationMetric')))
    sample = DataSample(text=['x']).set_pred_score(torch.rand(3))
    sample.set_gt_label([0, 1])
    with pytest.raises(ValueError, match='exactly one'):
        evaluator.process([sample])


@pytest.mark.parametrize('name', ['rocov2-test', 'irma-test'])
def test_zero_shot_configs_build(name):
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR,
                 f'qwenclip_qwen3-emb-0.6b_vit-b16_zeroshot_{name}.py'))

    assert cfg.train_cfg is None and cfg.train_dataloader is None
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.test_cfg.type == 'RetrievalTestLoop'
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.test_dataloader.dataset.test_mode
    evaluators = cfg.test_evaluator
    evaluators = evaluators if isinstance(evaluators, list) else [evaluators]
    metrics = [METRICS.build(e) for e in evaluators]
    types = {type(m).__name__ for m in metrics}
    assert 'ImageTextRetrievalMetric' in types
    assert ('ZeroShotClassificationMetric' in types) == (name == 'irma-test')
