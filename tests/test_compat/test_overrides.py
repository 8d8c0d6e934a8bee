"""Each override of ``qwenclip_mm.compat``, with proof it is needed.

Every check runs in a fresh interpreter, so "without the fix" really means
``qwenclip_mm`` was never imported.
"""
import subprocess
import textwrap

import pytest
import torch
from compat_subprocess import run_python

from qwenclip_mm.compat import checkpoints


@pytest.fixture
def mmengine_checkpoint(tmp_path):
    """A checkpoint holding what MMEngine writes: HistoryBuffers, numpy."""
    path = tmp_path / 'epoch_1.pth'
    code = f"""
        import numpy as np, torch
        from mmengine.logging import MessageHub
        hub = MessageHub.get_instance('compat-test')
        hub.update_scalar('train/loss', 0.5)
        hub.update_info('iter', 3)
        torch.save(dict(
            meta=dict(seed=np.int64(7), epoch=1,
                      hist=np.arange(3, dtype=np.float32)),
            message_hub=hub.state_dict(),
            state_dict=dict(w=torch.ones(2))), {str(path)!r})
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    return path


LOAD = """
    import torch
    ckpt = torch.load({path!r}, map_location='cpu')
    print('loaded', int(ckpt['meta']['seed']),
          ckpt['message_hub']['log_scalars']['train/loss'].current())
"""


def test_mmengine_checkpoint_needs_the_allow_list(mmengine_checkpoint):
    without = run_python(LOAD.format(path=str(mmengine_checkpoint)))
    assert without.returncode != 0
    assert 'Weights only load failed' in without.stderr
    with_fix = run_python('import qwenclip_mm\n' +
                          textwrap.dedent(LOAD).format(
                              path=str(mmengine_checkpoint)))
    assert with_fix.returncode == 0, with_fix.stderr
    assert 'loaded 7 0.5' in with_fix.stdout


def test_a_pickled_callable_is_still_refused(tmp_path):
    marker = tmp_path / 'payload-ran'
    evil = tmp_path / 'evil.pth'
    build = f"""
        import os, torch
        class Payload:
            def __reduce__(self):
                return (os.system, ('touch {marker}',))
        torch.save(dict(state_dict={{}}, meta=Payload()), {str(evil)!r})
    """
    assert run_python(build).returncode == 0
    assert not marker.exists()
    load = f"""
        import qwenclip_mm, torch
        try:
            torch.load({str(evil)!r}, map_location='cpu')
        except Exception as e:
            print('refused:', type(e).__name__)
    """
    result = run_python(load)
    assert 'refused: UnpicklingError' in result.stdout, result.stderr
    assert not marker.exists()


def test_safe_globals_are_exactly_the_listed_types():
    entries = checkpoints.mmengine_safe_globals()
    objs = [e[0] if isinstance(e, tuple) else e for e in entries]
    names = {getattr(o, '__name__', repr(o)) for o in objs}
    assert 'HistoryBuffer' in names and '_reconstruct' in names
    assert not names & {'system', 'eval', 'exec', 'getattr', 'Popen'}
    assert getattr not in objs


def test_getattr_stand_in_only_gives_history_buffer_statistics():
    import pickle
    from mmengine.logging import HistoryBuffer
    fn = checkpoints.history_buffer_method
    assert fn(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='only'):
        fn(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        fn(subprocess, 'run')


def test_a_pickled_getattr_outside_the_allow_list_is_refused(tmp_path):
    evil = tmp_path / 'evil-getattr.pth'
    build = f"""
        import torch
        from mmengine.logging import HistoryBuffer
        class Probe:
            def __reduce__(self):
                return (getattr, (HistoryBuffer, '__init__'))
        torch.save(dict(meta=Probe()), {str(evil)!r})
    """
    assert run_python(build).returncode == 0
    result = run_python(f"""
        import qwenclip_mm, torch
        try:
            torch.load({str(evil)!r}, map_location='cpu')
            print('loaded')
        except Exception as e:
            print('refused:', type(e).__name__, e)
    """)
    assert 'refused: UnpicklingError' in result.stdout, result.stderr


def test_imports_with_pycocotools_installed(pycocotools_path):
    without = run_python(
        'import mmpretrain.models', pythonpath=[pycocotools_path])
    assert without.returncode != 0, 'mmpretrain imported: fix not needed?'
    assert 'language_model.py' in without.stderr
    code = """
        import qwenclip_mm
        from mmpretrain.registry import DATASETS, MODELS
        from mmpretrain.utils import dependency
        assert 'QwenCLIP' in MODELS.module_dict
        # Only the broken models are placeholders; the flag is restored,
        # so mmpretrain's COCO data sets stay available.
        assert dependency.WITH_MULTIMODAL
        assert 'COCORetrieval' in DATASETS.module_dict
        print('ok')
    """
    result = run_python(code, pythonpath=[pycocotools_path])
    assert result.returncode == 0, result.stderr
    assert 'ok' in result.stdout


def test_mmpretrain_config_bases_without_pkg_resources(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("_base_ = 'mmpretrain::_base_/default_runtime.py'\n")
    # setuptools >= 82 ships no pkg_resources; hide it in case it is there.
    code = f"""
        import sys
        sys.modules['pkg_resources'] = None
        {{imports}}
        from mmengine.config import Config
        print(Config.fromfile({str(cfg)!r}).default_scope)
    """
    without = run_python(code.format(imports=''))
    assert without.returncode != 0
    assert 'pkg_resources' in without.stderr
    result = run_python(code.format(imports='import qwenclip_mm'))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith('mmpretrain')


INIT_DIST = """
    import os
    import torch.distributed as dist
    os.environ.update(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                      MASTER_ADDR='127.0.0.1', MASTER_PORT='{port}')
    from mmengine.dist import init_dist
    init_dist('pytorch', backend='gloo')
    print('initialised', dist.is_initialized(), dist.get_world_size())
"""


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='MMEngine itself works with CUDA')
def test_pytorch_launcher_needs_the_fix_without_cuda():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    code = textwrap.dedent(INIT_DIST).format(port=port)
    without = run_python(code)
    assert without.returncode != 0
    assert 'set_device' in without.stderr
    only_import = run_python('import qwenclip_mm\n' + code)
    assert only_import.returncode != 0  # importing changes nothing here
    with_fix = run_python(
        'from qwenclip_mm.compat.tools import tool_overrides\n'
        'tool_overrides().__enter__()\n' + code)
    assert with_fix.returncode == 0, with_fix.stderr
    assert 'initialised True 1' in with_fix.stdout
