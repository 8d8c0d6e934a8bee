"""End to end on IRMA-layout data: tools/train.py, then tools/test.py on the
tiny IRMA config, with class-level retrieval (several positives per text)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmpretrain.registry import DATASETS

from qwenclip_mm.apis import encode_image, load_model
from qwenclip_mm.evaluation import image_retrieval_metrics
from qwenclip_mm.testing import make_synthetic_irma

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'qwenclip',
                  'qwenclip_tiny_1xb32_synthetic-irma.py')
NUM_CODES = 8


@pytest.fixture(scope='module')
def irma_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic-irma'))
    # One batch of 16 per epoch; two test images per code.
    make_synthetic_irma(root, num_train=16, num_test=2 * NUM_CODES)
    return root


def cfg_options(data_root, model_dir):
    # Two epochs: the schedule warms up for one, then decays.
    return [
        '--cfg-options', f'model.text_encoder.pretrained={model_dir}',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=16', 'train_cfg.max_epochs=2',
        'param_scheduler.1.end=2', 'default_hooks.logger.interval=1'
    ]


def run_tool(args):
    result = subprocess.run([sys.executable, *args],
                            cwd=REPO_ROOT,
                            env=dict(os.environ),
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + \
        result.stderr[-3000:]
    return result.stdout + result.stderr


def test_train_then_test_class_level(irma_data, tiny_qwen3_dir, tmp_path):
    work_dir = str(tmp_path / 'work')
    opts = cfg_options(irma_data, tiny_qwen3_dir)
    # Validation (the test split here) after training would repeat what
    # tools/test.py does below, so it is scheduled past the last epoch.
    run_tool([
        'tools/train.py', CONFIG, '--work-dir', work_dir, *opts,
        'train_cfg.val_interval=3'
    ])
    checkpoint = osp.join(work_dir, 'epoch_2.pth')
    assert osp.isfile(checkpoint)

    out = str(tmp_path / 'metrics.json')
    log = run_tool([
        'tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir, '--out',
        out, *opts
    ])
    assert 'i2t/retrieval/Recall@1' in log
    with open(out) as f:
        metrics = json.load(f)
    for direction in ('i2t', 't2i'):
        for k in (1, 5, 10):
            assert 0 <= metrics[f'{direction}/retrieval/Recall@{k}'] <= 100
    # The text gallery is the 8 code texts, not one caption per image, so
    # every image finds its text within 10 of them.
    assert metrics['i2t/retrieval/Recall@10'] == 100
    # One code text per class and one positive per image: zero-shot top-K
    # accuracy is image-to-text Recall@K.
    for k in (1, 5):
        assert metrics[f'i2t/zero_shot/top{k}'] == pytest.approx(
            metrics[f'i2t/retrieval/Recall@{k}'])

    # The test run's data: each text query has several positive images.
    cfg = Config.fromfile(CONFIG)
    cfg.test_dataloader.dataset.data_root = irma_data
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert dataset.img_size == 2 * NUM_CODES
    assert dataset.text_size == NUM_CODES
    positives = [
        gt for i in range(len(dataset))
        for gt in dataset.get_data_info(i)['gt_image_id']
    ]
    assert len(positives) == NUM_CODES
    assert all(len(gt) == 2 for gt in positives)
    assert sorted(i for gt in positives for i in gt) == list(
        range(2 * NUM_CODES))

    # Image-to-image retrieval ran in the retrieval loop (predict_all gives
    # the metric each image's feature and code) and equals the metric
    # computed from features encoded outside the loop.
    cfg.test_dataloader.dataset.data_root = irma_data
    cfg.model.text_encoder.pretrained = tiny_qwen3_dir
    model = load_model(cfg, checkpoint)
    items = [dataset.get_data_info(i) for i in range(len(dataset))]
    feats = encode_image(model, [item['img_path'] for item in items])
    expected = image_retrieval_metrics(
        feats, labels=[item['code'] for item in items], topk=(1, 5))
    for key in ('Precision@1', 'Precision@5', 'mAP@1', 'mAP@5'):
        assert metrics[f'i2t/image_retrieval/{key}'] == pytest.approx(
            expected[key], abs=1e-3), key
    assert 't2i/image_retrieval/mAP@1' not in metrics
