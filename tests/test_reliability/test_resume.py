"""Interrupted runs resume exactly: the final weights, the optimizer state,
every logged loss and the final metrics equal those of an uninterrupted run.

Each run is ``tools/train.py`` on the tiny config in a fresh interpreter:
2 epochs of 3 iterations, validation after the last one.
"""
import glob
import json
import os.path as osp

import pytest
import torch
from utils import (ITERS_PER_EPOCH, TINY_CONFIG, cfg_options, make_tiny_data,
                   run_tool)

HERE = osp.dirname(osp.abspath(__file__))
TOOLS_TESTS = osp.join(osp.dirname(HERE), 'test_tools')
EPOCHS = 2


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp('synthetic-rocov2'))


def options(data_root, model_dir):
    return cfg_options(
        data_root, model_dir, epochs=EPOCHS, val_interval=EPOCHS)


def train(work_dir, data_root, model_dir, config=TINY_CONFIG, resume=False,
          check=True):
    args = ['tools/train.py', str(config), '--work-dir', str(work_dir)]
    if resume:
        args.append('--resume')
    return run_tool([*args, *options(data_root, model_dir)],
                    check=check,
                    pythonpath=[HERE, TOOLS_TESTS])


def config_with_hook(tmp_path, module, hook):
    """The tiny config plus one hook from a test module."""
    path = tmp_path / 'faulty_config.py'
    path.write_text(
        f'_base_ = {TINY_CONFIG!r}\n'
        f"custom_imports = dict(imports=['qwenclip_mm', {module!r}])\n"
        f'custom_hooks = [{hook!r}]\n')
    return path


def logged(work_dir):
    """Loss per iteration and the last validation metrics of a work dir.

    A resumed run logs into a new timestamped folder; later folders win.
    """
    losses, metrics = {}, None
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record:
                    losses[record['iter']] = record['loss']
                if 'mean_recall' in record:
                    metrics = {
                        k: v
                        for k, v in record.items()
                        if '/' in k or k == 'mean_recall'
                    }
    return losses, metrics


def assert_same_run(work_dir, reference):
    """Bit-identical final checkpoint, identical losses and metrics."""
    final = f'epoch_{EPOCHS}.pth'
    got = torch.load(osp.join(work_dir, final), map_location='cpu')
    want = torch.load(osp.join(reference, final), map_location='cpu')
    assert got['meta']['iter'] == want['meta']['iter'] == \
        EPOCHS * ITERS_PER_EPOCH
    assert got['state_dict'].keys() == want['state_dict'].keys()
    for key, value in want['state_dict'].items():
        assert torch.equal(got['state_dict'][key], value), key
    for param_id, state in want['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(got['optimizer']['state'][param_id][name],
                               value), (param_id, name)
    got_losses, got_metrics = logged(work_dir)
    want_losses, want_metrics = logged(reference)
    assert sorted(want_losses) == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    assert got_losses == want_losses
    assert got_metrics == want_metrics and 'mean_recall' in want_metrics


@pytest.fixture(scope='module')
def reference(tiny_data, tiny_qwen3_dir, tmp_path_factory):
    """Work dir of an uninterrupted run."""
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    train(work_dir, tiny_data, tiny_qwen3_dir)
    return str(work_dir)


def test_killed_mid_epoch_resumes_to_the_same_weights(
        reference, tiny_data, tiny_qwen3_dir, tmp_path):
    work_dir = tmp_path / 'work'
    # SIGKILL after the second iteration of epoch 2, past epoch 1's
    # checkpoint and its random draws.
    kill_at = ITERS_PER_EPOCH + 2
    crashing = config_with_hook(
        tmp_path, 'kill_hook', dict(type='KillAtIterHook', kill_at=kill_at))
    killed = train(work_dir, tiny_data, tiny_qwen3_dir, crashing,
                   check=False)
    assert killed.returncode == -9
    assert not osp.exists(work_dir / f'epoch_{EPOCHS}.pth')

    resumed = train(work_dir, tiny_data, tiny_qwen3_dir, resume=True)
    assert 'resumed epoch: 1' in resumed.stdout + resumed.stderr
    assert_same_run(str(work_dir), reference)


def test_failed_save_keeps_the_previous_checkpoint(
        reference, tiny_data, tiny_qwen3_dir, tmp_path):
    work_dir = tmp_path / 'work'
    # The disk fills up during epoch 2: saving epoch_2.pth fails halfway.
    full_disk = config_with_hook(tmp_path, 'fault_hooks',
                                 dict(type='FileSizeLimitHook', epoch=2))
    failed = train(work_dir, tiny_data, tiny_qwen3_dir, full_disk,
                   check=False)
    assert failed.returncode == 1
    assert 'File too large' in failed.stderr
    assert sorted(p.name for p in work_dir.iterdir()
                  if p.suffix == '.pth') == ['epoch_1.pth']
    assert not glob.glob(str(work_dir / '.*'))
    assert (work_dir / 'last_checkpoint').read_text() == \
        str(work_dir / 'epoch_1.pth')
    previous = torch.load(work_dir / 'epoch_1.pth', map_location='cpu')
    assert previous['meta']['epoch'] == 1

    # A save killed outright leaves its temporary file; the next run
    # removes it.
    stale = work_dir / '.epoch_2.pth.tmp-0123456789ab'
    stale.write_bytes(b'partial')
    resumed = train(work_dir, tiny_data, tiny_qwen3_dir, resume=True)
    assert 'resumed epoch: 1' in resumed.stdout + resumed.stderr
    assert not stale.exists()
    assert_same_run(str(work_dir), reference)
