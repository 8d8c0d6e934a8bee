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


CLIP_BASE = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                     'qwenclip_qwen3-emb-0.6b_vit-b16_openai-clip.py')


def test_clip_init_lives_in_one_base(cfg):
    # Every config that trains the CLIP ViT-B/16 tower starts it from the
    # same weights, and only the base says which.
    base = Config.fromfile(CLIP_BASE).model
    model = cfg.model
    if cfg.get('train_dataloader') is None or model.vision_backbone.get(
            'arch') != 'base':
        assert 'init_cfg' not in model.vision_backbone
        return
    assert model.vision_backbone.init_cfg == base.vision_backbone.init_cfg
    assert model.image_projection.init_cfg == base.image_projection.init_cfg


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_leaves_do_not_repeat_their_bases(path):
    with open(path) as f:
        text = f.read()
    for repeated in ('custom_imports', 'custom_hooks', 'init_cfg',
                     'clip_checkpoint'):
        assert repeated not in text, f'{path} sets {repeated}'


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    from utils import make_tiny_data
    return make_tiny_data(tmp_path_factory.mktemp('data'))


def hook_types(path, tiny_data, tiny_qwen3_dir, work_dir):
    """The hooks a Runner registers for a config, by class name."""
    from mmengine.runner import Runner
    from utils import cfg_overrides
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict(cfg_overrides(tiny_data, tiny_qwen3_dir))
    cfg.work_dir = str(work_dir)
    return [type(hook).__name__ for hook in Runner.from_cfg(cfg).hooks]


PLUGIN_HOOKS = {
    'EpochSeedHook', 'NonFiniteGuardHook', 'LogitScaleClampHook',
    'RetrievalMeanRecallHook', 'SortedTextEvalHook', 'AtomicCheckpointHook'
}


def test_leaves_add_and_drop_hooks_by_name(tiny_data, tiny_qwen3_dir,
                                           tmp_path):
    from utils import TINY_CONFIG
    tiny = hook_types(TINY_CONFIG, tiny_data, tiny_qwen3_dir, tmp_path / 'a')
    assert PLUGIN_HOOKS <= set(tiny)
    assert len(tiny) == len(set(tiny))
    assert 'TextFeatureCacheHook' not in tiny

    cached = TINY_CONFIG.replace('.py', '_cached-text.py')
    assert sorted(hook_types(cached, tiny_data, tiny_qwen3_dir,
                             tmp_path / 'b')) == sorted(
                                 tiny + ['TextFeatureCacheHook'])

    # As configs/_base_/default_runtime.py says: None drops MMEngine's
    # names; `_delete_=True` redefines default_hooks without a plugin one.
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(f'_base_ = {TINY_CONFIG!r}\n'
                    'default_hooks = dict(checkpoint=None)\n')
    assert hook_types(leaf, tiny_data, tiny_qwen3_dir, tmp_path / 'c') == [
        name for name in tiny if name != 'AtomicCheckpointHook'
    ]
    kept = Config.fromfile(TINY_CONFIG).default_hooks.to_dict()
    del kept['sorted_text_eval']
    leaf.write_text(f'_base_ = {TINY_CONFIG!r}\n'
                    f'default_hooks = dict(_delete_=True, **{kept!r})\n')
    assert hook_types(leaf, tiny_data, tiny_qwen3_dir, tmp_path / 'd') == [
        name for name in tiny if name != 'SortedTextEvalHook'
    ]


def test_tools_do_not_make_a_training_loader_persistent():
    """A user's train loader that does not say gets no persistent workers
    from the tools (exact resume); evaluation loaders still do."""
    from mmengine.config import Config
    cfg = Config(
        dict(
            train_dataloader=dict(batch_size=2, num_workers=2),
            val_dataloader=dict(batch_size=2, num_workers=2)))
    set_dataloader_defaults(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True
