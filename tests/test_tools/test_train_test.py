"""End to end: the standard tools/train.py and tools/test.py on the tiny
config, including a run killed mid-epoch and resumed."""
import glob
import json
import os.path as osp

import pytest
import torch
from utils import TINY_CONFIG as CONFIG
from utils import ITERS_PER_EPOCH, cfg_options, make_tiny_data, run_tool

HERE = osp.dirname(osp.abspath(__file__))


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp('synthetic-rocov2'))


def test_train_then_test(tiny_data, tiny_qwen3_dir, tmp_path):
    work_dir = str(tmp_path / 'work')
    opts = cfg_options(tiny_data, tiny_qwen3_dir)
    run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir, *opts])
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    best = glob.glob(osp.join(work_dir, 'best_mean_recall_epoch_*.pth'))
    assert len(best) == 1

    out = str(tmp_path / 'metrics.json')
    result = run_tool([
        'tools/test.py', CONFIG, best[0], '--work-dir', work_dir, '--out',
        out, *opts
    ])
    with open(out) as f:
        metrics = json.load(f)
    for direction in ('i2t', 't2i'):
        for k in (1, 5, 10):
            value = metrics[f'{direction}/retrieval/Recall@{k}']
            assert 0 <= value <= 100
        assert (metrics[f'{direction}/retrieval/Recall@10'] >=
                metrics[f'{direction}/retrieval/Recall@1'])
    recalls = [
        metrics[f'{d}/retrieval/Recall@{k}'] for d in ('i2t', 't2i')
        for k in (1, 5, 10)
    ]
    assert metrics['mean_recall'] == pytest.approx(sum(recalls) / 6)
    assert 'mean_recall' in result.stdout + result.stderr


def test_amp_test_runs_under_bf16_autocast(tiny_data, tiny_qwen3_dir,
                                           tmp_path):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(CONFIG).model
    cfg.text_encoder.pretrained = tiny_qwen3_dir
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=MODELS.build(cfg).state_dict()), checkpoint)
    records = str(tmp_path / 'autocast.json')
    probed = tmp_path / 'probed_config.py'
    probed.write_text(
        f'_base_ = {CONFIG!r}\n'
        "custom_imports = dict(imports=['qwenclip_mm', "
        "'autocast_probe_hook'])\n"
        f"custom_hooks = [dict(type='AutocastProbeHook', out={records!r})]\n")
    run_tool([
        'tools/test.py',
        str(probed), checkpoint, '--work-dir',
        str(tmp_path / 'work'), '--amp',
        *cfg_options(tiny_data, tiny_qwen3_dir)
    ],
             pythonpath=[HERE])
    with open(records) as f:
        forwards = json.load(f)
    # On a GPU the loop autocasts to cuda_dtype: bf16, as training's --amp;
    # fp16 would overflow Qwen3's activations.
    assert forwards and all(
        r == dict(
            cpu_enabled=True,
            cpu_dtype='torch.bfloat16',
            cuda_dtype='torch.bfloat16') for r in forwards), forwards


def test_resume_after_kill(tiny_data, tiny_qwen3_dir, tmp_path):
    work_dir = str(tmp_path / 'work')
    # Killed in the middle of epoch 2, after epoch 1's checkpoint.
    kill_at = ITERS_PER_EPOCH + 2
    crashing = tmp_path / 'crashing_config.py'
    crashing.write_text(
        f'_base_ = {CONFIG!r}\n'
        "custom_imports = dict(imports=['qwenclip_mm', 'kill_hook'])\n"
        f"custom_hooks = [dict(type='KillAtIterHook', kill_at={kill_at})]\n")
    killed = run_tool([
        'tools/train.py',
        str(crashing), '--work-dir', work_dir,
        *cfg_options(tiny_data, tiny_qwen3_dir, epochs=3)
    ],
                      check=False,
                      pythonpath=[HERE])
    assert killed.returncode == -9
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert not osp.isfile(osp.join(work_dir, 'epoch_2.pth'))

    resumed = run_tool([
        'tools/train.py', CONFIG, '--work-dir', work_dir, '--resume',
        *cfg_options(tiny_data, tiny_qwen3_dir, epochs=3)
    ])
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 1' in log
    last = osp.join(work_dir, 'epoch_3.pth')
    ckpt = torch.load(last, map_location='cpu')  # weights_only, allow-listed
    assert ckpt['meta']['epoch'] == 3
    assert ckpt['meta']['iter'] == 3 * ITERS_PER_EPOCH
    assert 'prompt_learner.soft_prompt' in ckpt['state_dict']
