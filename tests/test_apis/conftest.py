"""Fixtures of the apis tests: a synthetic ROCOv2 split and a checkpoint of
the tiny config's model, made once per session.

This folder is a package (it has an ``__init__.py``) so that this file is
imported as ``test_apis.conftest`` and never shadows ``tests/conftest.py``,
from which other tests import names.
"""
from types import SimpleNamespace

import pytest
from utils import TINY_CONFIG

from qwenclip_mm.apis import load_model
from qwenclip_mm.testing import make_synthetic_rocov2

from .tiny_checkpoint import save_tiny_checkpoint


@pytest.fixture(scope='session')
def synthetic(tmp_path_factory):
    """What make_synthetic_rocov2 wrote: 10 test images, tiny other splits."""
    root = str(tmp_path_factory.mktemp('synthetic-rocov2'))
    return make_synthetic_rocov2(root, num_train=2, num_valid=2, num_test=10)


@pytest.fixture(scope='session')
def tiny_checkpoint(tiny_qwen3_dir, synthetic, tmp_path_factory):
    """A checkpoint of the tiny config's model, saved right after init."""
    path = str(tmp_path_factory.mktemp('checkpoint') / 'tiny.pth')
    model, options = save_tiny_checkpoint(
        path, synthetic['data_root'], tiny_qwen3_dir, seed=1)
    return SimpleNamespace(
        config=TINY_CONFIG,
        path=path,
        cfg_options=options,
        state_dict=model.state_dict())


@pytest.fixture(scope='session')
def tiny_model(tiny_checkpoint):
    """The tiny checkpoint loaded with :func:`load_model` (do not modify)."""
    return load_model(
        TINY_CONFIG,
        tiny_checkpoint.path,
        cfg_options=tiny_checkpoint.cfg_options)
