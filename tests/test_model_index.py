"""The model index, the ``qwenclip_mm::`` config scope and its registry."""
import glob
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

import qwenclip_mm  # noqa: F401
from qwenclip_mm import model_index

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def leaf_configs():
    return sorted(
        osp.basename(path)[:-len('.py')]
        for path in glob.glob(osp.join(REPO_ROOT, 'configs', 'qwenclip',
                                       '*.py')))


def test_metafile_covers_every_leaf_config_and_leaves_results_empty():
    with open(osp.join(REPO_ROOT, 'configs', 'qwenclip', 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    models = meta['Models']
    assert sorted(m['Name'] for m in models) == leaf_configs()
    for m in models:
        assert m['Config'] == f"configs/qwenclip/{m['Name']}.py"
        assert osp.isfile(osp.join(REPO_ROOT, m['Config']))
        for key in ('Text Tower', 'Parameters', 'Training Data',
                    'Max Tokens'):
            assert key in m['Metadata'], (m['Name'], key)
        cfg = Config.fromfile(osp.join(REPO_ROOT, m['Config']))
        assert m['Metadata']['Max Tokens'] == (
            cfg.model.text_encoder.max_length)
        # Nothing measured on the real data sets yet: no number invented.
        for result in m['Results']:
            assert all(v is None for v in result['Metrics'].values())
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        assert yaml.safe_load(f)['Import'] == ['configs/qwenclip/metafile.yml']


def test_list_models_and_get_model_by_name(tmp_path):
    from mmpretrain import get_model, list_models

    from qwenclip_mm.testing.synthetic_rocov2 import synthetic_corpus
    from qwenclip_mm.testing.tiny_qwen3 import make_tiny_qwen3

    # The demo's tiny Qwen3, whose size the metafile gives.
    tiny_qwen3_dir = make_tiny_qwen3(
        str(tmp_path / 'qwen3-tiny'), corpus=synthetic_corpus())
    assert list_models('*qwenclip*') == leaf_configs()
    # Registering again (a second import, a reload) is harmless.
    assert model_index.register_model_index()
    assert list_models('qwenclip_tiny') == [
        'qwenclip_tiny_1xb32_synthetic-irma',
        'qwenclip_tiny_1xb32_synthetic-rocov2',
        'qwenclip_tiny_1xb32_synthetic-rocov2_cached-text',
    ]
    model = get_model(
        'qwenclip_tiny_1xb32_synthetic-rocov2',
        text_encoder=dict(pretrained=tiny_qwen3_dir))
    assert type(model).__name__ == 'QwenCLIP'
    # The tiny model's parameter count is the metafile's.
    with open(osp.join(REPO_ROOT, 'configs', 'qwenclip', 'metafile.yml')) as f:
        meta = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    count = sum(p.numel() for p in model.parameters())
    assert count == (meta['qwenclip_tiny_1xb32_synthetic-rocov2']['Metadata']
                     ['Parameters'])


def test_package_scope_base_builds_through_qwenclip_registry(tmp_path):
    if not osp.isfile(osp.join(model_index.PACKAGE_DIR, '.mim', 'configs',
                               'qwenclip', 'metafile.yml')):
        pytest.skip('no qwenclip_mm/.mim: run `pip install -e .` first')
    cfg_file = tmp_path / 'mine.py'
    cfg_file.write_text(
        "_base_ = 'qwenclip_mm::qwenclip/"
        "qwenclip_tiny_1xb32_synthetic-rocov2.py'\n"
        'train_cfg = dict(max_epochs=1)\n')
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.train_cfg.max_epochs == 1
    assert cfg.model.type == 'QwenCLIP'
    assert cfg.default_hooks.checkpoint._scope_ == 'qwenclip_mm'

    from mmengine.registry import HOOKS, DefaultScope
    from qwenclip_mm.engine.hooks import AtomicCheckpointHook
    DefaultScope.get_instance('test_package_scope', scope_name='mmpretrain')
    hook = HOOKS.build(cfg.default_hooks.checkpoint)
    assert isinstance(hook, AtomicCheckpointHook)

    from mmengine.runner import Runner
    loader = Runner.build_dataloader(
        dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=cfg.train_dataloader.collate_fn,
            dataset=[dict(x=1), dict(x=2)]))
    # MMEngine marked it, and would pass `_scope_` to default_collate.
    assert cfg.train_dataloader.collate_fn._scope_ == 'qwenclip_mm'
    assert next(iter(loader))['x'].tolist() == [1, 2]


def test_tool_path_and_main_list():
    assert model_index.tool_path('train').endswith(
        osp.join('tools', 'train.py'))
    with pytest.raises(FileNotFoundError, match='no tool'):
        model_index.tool_path('no_such_tool')
    from qwenclip_mm.__main__ import list_tools
    assert {'train', 'test', 'misc/make_tiny_qwen3'} <= set(list_tools())
