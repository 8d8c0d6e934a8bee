"""End to end: tools/analysis_tools/extract_embeddings.py on generated data
and a checkpoint of the tiny model."""
import importlib.util
import json
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_apis.tiny_checkpoint import save_tiny_checkpoint
from utils import TINY_CONFIG as CONFIG
from utils import REPO_ROOT, cfg_options, run_tool

from qwenclip_mm.apis import encode_image, encode_text, load_split
from qwenclip_mm.testing import make_synthetic_rocov2

TOOL = osp.join('tools', 'analysis_tools', 'extract_embeddings.py')


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory, tiny_qwen3_dir):
    root = tmp_path_factory.mktemp('extract')
    data = make_synthetic_rocov2(
        str(root / 'data'), num_train=2, num_valid=3, num_test=12)
    checkpoint = str(root / 'tiny.pth')
    model, _ = save_tiny_checkpoint(checkpoint, data['data_root'],
                                    tiny_qwen3_dir)
    return SimpleNamespace(
        data=data,
        checkpoint=checkpoint,
        model=model,
        args=cfg_options(data['data_root'], tiny_qwen3_dir))


def expected_features(model, split_name):
    split = load_split(model._config, split_name)
    return (encode_image(model, split.image_paths),
            encode_text(model, split.texts))


def test_npy_and_ids(tiny_run, tmp_path):
    out = str(tmp_path / 'embeddings' / 'rocov2_test.npy')
    result = run_tool(
        [TOOL, CONFIG, tiny_run.checkpoint, '--out', out, *tiny_run.args])
    prefix = str(tmp_path / 'embeddings' / 'rocov2_test')
    image = np.load(prefix + '_image.npy')
    text = np.load(prefix + '_text.npy')
    with open(prefix + '_ids.json', encoding='utf-8') as f:
        ids = json.load(f)

    assert image.dtype == text.dtype == np.float32
    assert image.shape == text.shape == (12, 64)
    expected_image, expected_text = expected_features(tiny_run.model, 'test')
    torch.testing.assert_close(
        torch.from_numpy(image), expected_image, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        torch.from_numpy(text), expected_text, atol=1e-5, rtol=0)
    test_ids = tiny_run.data['splits']['test']['ids']
    assert ids['image_ids'] == ids['text_ids'] == test_ids
    assert ids['image_gt'] == ids['text_gt'] == [[i] for i in range(12)]
    assert ids['split'] == 'test'
    assert ids['checkpoint'] == tiny_run.checkpoint
    assert f'wrote 12 image and 12 caption embeddings (64-d) to {prefix}' \
        in result.stdout
    # tqdm's bars finish on stderr.
    assert '12/12' in result.stderr


def test_safetensors_of_another_split(tiny_run, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'extract_embeddings', osp.join(REPO_ROOT, TOOL))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    prefix = str(tmp_path / 'valid')
    tool.main([
        CONFIG, tiny_run.checkpoint, '--out', prefix, '--split', 'valid',
        '--format', 'safetensors', '--batch-size', '2', *tiny_run.args
    ])
    tensors = load_file(prefix + '.safetensors')
    expected_image, expected_text = expected_features(tiny_run.model, 'valid')
    assert tensors.keys() == {'image', 'text'}
    torch.testing.assert_close(
        tensors['image'], expected_image, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        tensors['text'], expected_text, atol=1e-5, rtol=0)
    with open(prefix + '_ids.json', encoding='utf-8') as f:
        ids = json.load(f)
    assert ids['image_ids'] == tiny_run.data['splits']['valid']['ids']
    assert not osp.exists(prefix + '_image.npy')
