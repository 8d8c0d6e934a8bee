"""Helpers for tests that run ``tools/train.py`` and ``tools/test.py``."""
import os
import os.path as osp
import subprocess
import sys

from qwenclip_mm.testing.synthetic_rocov2 import make_synthetic_rocov2

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(REPO_ROOT, 'configs', 'qwenclip',
                       'qwenclip_tiny_1xb32_synthetic-rocov2.py')
#: Training iterations per epoch on :func:`make_tiny_data` with batches of
#: 16.
ITERS_PER_EPOCH = 3


def rocov2_text_dir():
    """The folder of the real ROCOv2 test split's text files, named by
    ``$QWENCLIP_ROCOV2_TEXT``; skips the test when it is not set or holds
    no ``test_captions.csv``."""
    import pytest
    root = os.environ.get('QWENCLIP_ROCOV2_TEXT')
    if not root:
        pytest.skip('set QWENCLIP_ROCOV2_TEXT to the folder of the real '
                    'ROCOv2 test text (test_captions.csv, ...)')
    if not osp.isfile(osp.join(root, 'test_captions.csv')):
        pytest.skip(f'QWENCLIP_ROCOV2_TEXT={root} holds no '
                    'test_captions.csv')
    return root


def make_tiny_data(root):
    """A synthetic ROCOv2 folder: 48 train pairs, 16 valid and 16 test."""
    make_synthetic_rocov2(
        str(root), num_train=16 * ITERS_PER_EPOCH, num_valid=16, num_test=16)
    return str(root)


def cfg_overrides(data_root, model_dir, epochs=2, val_interval=1):
    """Settings that point the tiny config at test data.

    Batches of 16, logs every iteration, the cosine schedule ending with
    training. Keys are dotted, as ``Config.merge_from_dict`` takes them.
    """
    return {
        'model.text_encoder.pretrained': model_dir,
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 16,
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': val_interval,
        'param_scheduler.1.end': epochs,
        'default_hooks.logger.interval': 1,
    }


def cfg_options(data_root, model_dir, epochs=2, val_interval=1, extra=()):
    """:func:`cfg_overrides` (and ``extra``) as ``--cfg-options``."""
    overrides = cfg_overrides(data_root, model_dir, epochs, val_interval)
    return [
        '--cfg-options', *(f'{k}={v}' for k, v in overrides.items()), *extra
    ]


def run_tool(args, check=True, pythonpath=()):
    """Run a script of the repository in a fresh interpreter.

    Args:
        args (list[str]): Script and its arguments, e.g.
            ``['tools/train.py', CONFIG, ...]``.
        check (bool): Fail the test if the script fails. Defaults to True.
        pythonpath (Sequence[str]): Folders prepended to ``PYTHONPATH``, so
            that configs can ``custom_imports`` test-only modules.

    Returns:
        subprocess.CompletedProcess: With text ``stdout`` and ``stderr``.
    """
    env = dict(os.environ)
    # The tiny models gain nothing from threads, and on a shared CPU
    # oversubscribed threads make them many times slower.
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONPATH'] = os.pathsep.join(
        [*pythonpath, env.get('PYTHONPATH', '')])
    result = subprocess.run([sys.executable, *args],
                            cwd=REPO_ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=600)
    if check:
        assert result.returncode == 0, (
            result.stdout[-3000:] + result.stderr[-3000:])
    return result
