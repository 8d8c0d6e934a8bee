"""``import qwenclip_mm`` changes only the overrides it lists, each where the
installed versions need it; import order does not matter."""
import importlib.util
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from compat_subprocess import run_python
from utils import REPO_ROOT, cfg_options, make_tiny_data

from qwenclip_mm import compat
from qwenclip_mm.compat import installed_version


def version_says_needed(name):
    """Each override's condition, restated from the installed versions."""
    if name == 'mmengine_checkpoint_allow_list':
        return (installed_version('torch') >= (2, 6)
                and installed_version('mmengine') <= (0, 10, 7))
    if name == 'config_bases_without_pkg_resources':
        return (installed_version('mmengine') <= (0, 10, 7)
                and importlib.util.find_spec('pkg_resources') is None)
    if name == 'retrieval_metrics_without_in1d':
        return (not hasattr(np, 'in1d')
                and installed_version('mmpretrain') <= (1, 2, 0))
    if name == 'multimodal_placeholders':
        # Applied only while mmpretrain would import its BLIP models.
        return (importlib.util.find_spec('pycocotools') is not None
                and installed_version('transformers') >= (4, 52))
    raise AssertionError(f'no version check for override {name!r}')


def test_active_overrides_are_those_the_installed_versions_need():
    active = compat.active_overrides()
    print('active here:', sorted(active))
    for override in compat.IMPORT_OVERRIDES:
        assert override.versions and override.reason and override.scope
        assert (override.name in active) == version_says_needed(
            override.name), override.name


SNAPSHOT = """
    import atexit, sys, warnings
    import mmpretrain.models, mmpretrain.evaluation  # the host, loaded first
    import torch
    from mmengine.config import config
    from mmengine.dist import utils
    from mmengine.fileio.backends import registry_utils
    from mmengine.runner import CheckpointLoader
    from mmpretrain.evaluation.metrics import retrieval
    from mmpretrain.utils import dependency

    def snapshot():
        return dict(
            excepthook=sys.excepthook,
            atexit_callbacks=atexit._ncallbacks(),
            warnings_filters=list(warnings.filters),
            meta_path=[type(f).__name__ for f in sys.meta_path],
            init_dist_pytorch=utils._init_dist_pytorch,
            checkpoint_loaders=dict(CheckpointLoader._schemes),
            file_backends={k: v for k, v in registry_utils.backends.items()
                           if k != 'local_atomic'},
            mmengine_config_lookup=(config.is_installed,
                                    config.get_installed_path),
            torch_safe_globals=list(torch.serialization.get_safe_globals()),
            retrieval_metric_numpy=retrieval.np,
            with_multimodal=dependency.WITH_MULTIMODAL,
            default_dtype=torch.get_default_dtype(),
        )

    before = snapshot()
    import qwenclip_mm
    after = snapshot()
    print(sorted(k for k in before if before[k] != after[k]))
    print(sorted(qwenclip_mm.compat.active_overrides()))
"""

#: What each override may change in the snapshot.
CHANGES = {
    'mmengine_checkpoint_allow_list': 'torch_safe_globals',
    'config_bases_without_pkg_resources': 'mmengine_config_lookup',
    'retrieval_metrics_without_in1d': 'retrieval_metric_numpy',
}


def test_import_changes_nothing_but_the_listed_overrides():
    result = run_python(SNAPSHOT)
    assert result.returncode == 0, result.stderr
    changed, active = [eval(line) for line in result.stdout.splitlines()]
    # mmpretrain.models was imported first: nothing left to do for it.
    assert 'multimodal_placeholders' not in active
    assert changed == sorted(CHANGES[name] for name in active)


@pytest.mark.skipif(
    hasattr(np, 'in1d'), reason='numpy < 2.4 still has np.in1d')
def test_mmpretrain_retrieval_metrics_with_numpy_without_in1d():
    code = """
        {imports}
        import torch
        from mmpretrain.evaluation import (RetrievalAveragePrecision,
                                           RetrievalRecall)
        pred = torch.tensor([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.1, 0.7]])
        target = [torch.tensor([1]), torch.tensor([1, 3])]
        print(RetrievalRecall.calculate(
            pred, target, topk=(1, 2), target_indices=True))
        print(float(RetrievalAveragePrecision.calculate(
            pred, target, 4, target_indices=True)))
    """
    without = run_python(code.format(imports=''))
    assert without.returncode != 0
    assert "has no attribute 'in1d'" in without.stderr
    result = run_python(code.format(imports='import qwenclip_mm'))
    assert result.returncode == 0, result.stderr
    recalls, average_precision = result.stdout.splitlines()
    # Query 0 ranks its item 4th, query 1 both of its 1st and 2nd.
    assert recalls == '[tensor(50.), tensor(50.)]'
    # AP: query 0 = 1/4, query 1 = 1; mean 62.5 (%).
    assert float(average_precision) == pytest.approx(62.5)


MMENGINE_LOAD = """
    {imports}
    from mmengine.runner.checkpoint import _load_checkpoint
    for path in {paths!r}:
        try:
            _load_checkpoint(path)
            print('> loaded')
        except Exception as e:
            print('>', type(e).__name__, str(e).splitlines()[0])
"""


def outcomes(result):
    """The lines :data:`MMENGINE_LOAD` prints about each load."""
    return [line[2:] for line in result.stdout.splitlines()
            if line.startswith('> ')]


def test_mmengine_loader_keeps_its_errors(tmp_path):
    truncated = tmp_path / 'truncated.pth'
    torch.save(dict(w=torch.zeros(64)), truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    paths = [str(tmp_path / 'missing.pth'), str(truncated)]
    plain = run_python(MMENGINE_LOAD.format(imports='', paths=paths))
    plugin = run_python(
        MMENGINE_LOAD.format(imports='import qwenclip_mm', paths=paths))
    assert plain.returncode == 0 and plugin.returncode == 0, plugin.stderr
    assert outcomes(plain) == outcomes(plugin)
    assert outcomes(plain)[0].startswith('FileNotFoundError')
    assert len(outcomes(plain)) == 2


def test_mmengine_loads_respect_torch_force_no_weights_only(tmp_path):
    path = tmp_path / 'custom.pth'
    result = run_python(f"""
        import torch
        Custom = type('Custom', (), {{}})  # on no allow-list
        torch.save(dict(meta=Custom()), {str(path)!r})
    """)
    assert result.returncode == 0, result.stderr
    code = MMENGINE_LOAD.format(
        imports="import qwenclip_mm; Custom = type('Custom', (), {})",
        paths=[str(path)])
    refused = outcomes(run_python(code))
    assert len(refused) == 1 and refused[0].startswith('UnpicklingError')
    forced = run_python(code, env=dict(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1'))
    assert outcomes(forced) == ['loaded'], forced.stderr


@pytest.fixture
def startup_site(tmp_path):
    """A site folder with ``qwenclip_mm_startup.pth``, as pip installs it."""
    site = tmp_path / 'site'
    site.mkdir()
    shutil.copy(osp.join(REPO_ROOT, 'qwenclip_mm_startup.pth'), site)
    return str(site)


def test_mmpretrain_models_first_then_qwenclip_runs_the_tiny_config(
        pycocotools_path, startup_site, tiny_qwen3_dir, tmp_path):
    data = make_tiny_data(tmp_path / 'data')
    argv = [
        'tools/train.py',
        osp.join('configs', 'qwenclip',
                 'qwenclip_tiny_1xb32_synthetic-rocov2.py'), '--work-dir',
        str(tmp_path / 'work'), *cfg_options(data, tiny_qwen3_dir)
    ]
    code = f"""
        import site
        site.addsitedir({startup_site!r})  # what site-packages does
        import mmpretrain.models
        import qwenclip_mm
        import runpy, sys
        sys.argv = {argv!r}
        runpy.run_path('tools/train.py', run_name='__main__')
    """
    without_startup = run_python(
        code.replace('site.addsitedir', 'print'),
        pythonpath=[pycocotools_path])
    assert without_startup.returncode != 0
    assert 'language_model.py' in without_startup.stderr
    result = run_python(code, pythonpath=[pycocotools_path])
    assert result.returncode == 0, result.stderr[-3000:]
    assert osp.isfile(tmp_path / 'work' / 'epoch_2.pth')


def test_a_failed_tool_skips_the_exit_barrier():
    code = """
        from qwenclip_mm.compat import dist
        from qwenclip_mm.compat.tools import tool_overrides
        for code in (0, None, 3):
            dist._state['failed'] = False
            try:
                with tool_overrides():
                    raise SystemExit(code)
            except SystemExit:
                pass
            print(code, dist._state['failed'])
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        '0 False', 'None False', '3 True'
    ]
