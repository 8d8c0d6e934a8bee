"""Every leaf config under configs/qwenclip, loaded as tools/train.py does."""
import glob
import os.path as osp
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from qwenclip_mm.engine.hooks import EpochSeedHook
from qwenclip_mm.engine.launch import set_dataloader_defaults

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs', 'qwenclip', '*.py')))


@pytest.fixture(params=CONFIGS, ids=osp.basename)
def cfg(request):
    return Config.fromfile(request.param)


def test_training_resumes_exactly_by_default(cfg):
    if cfg.get('train_dataloader') is None:
        pytest.skip('an evaluation-only config')
    # tools/train.py's dataloader defaults, without --no-persistent-workers.
    set_dataloader_defaults(cfg)
    assert cfg.default_hooks.epoch_seed.type == 'EpochSeedHook'
    loader = cfg.train_dataloader
    warnings = []
    runner = SimpleNamespace(
        train_dataloader=SimpleNamespace(
            num_workers=loader.num_workers,
            persistent_workers=loader.persistent_workers,
            worker_init_fn=None),
        logger=SimpleNamespace(warning=warnings.append))
    EpochSeedHook().before_train(runner)
    assert warnings == []


def test_text_encoder_builds(cfg, tiny_qwen3_dir):
    from mmpretrain.registry import MODELS
    encoder = cfg.model.text_encoder
    # The real checkpoint cannot be downloaded here; the tiny one loads
    # through the same code, so every setting is checked.
    encoder.update(pretrained=tiny_qwen3_dir, local_files_only=True)
    assert MODELS.build(encoder).train_mode == encoder.get(
        'train_mode', 'frozen')
