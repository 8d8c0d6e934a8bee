"""The package as a user outside the repository meets it: a built wheel.

The wheel is installed into a fresh virtual environment (``--no-deps``; the
running environment's third-party packages are made visible to it by a
``.pth`` file, so torch & co. are not installed twice), and everything runs
from an empty folder, with neither the source tree nor its editable-install
hook on the path: the tools shipped in the package write the data and the
tiny Qwen3, train one epoch from a config that inherits
``qwenclip_mm::qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py`` (with
QwenCLIP's tool and with mmpretrain's packaged one), test the checkpoint,
and the model index knows the models by name.
"""
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import yaml

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = 'qwenclip_mm::qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py'
TINY = 'qwenclip_tiny_1xb32_synthetic-rocov2'

USER_CONFIG = f"""\
_base_ = '{BASE}'
custom_imports = dict(imports=['qwenclip_mm'], allow_failed_imports=False)
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
"""

CHECK_MODEL_INDEX = """\
import json, sys
import torch
import qwenclip_mm
import mmpretrain
from mmpretrain import get_model, list_models
from mmpretrain.apis import TextToImageRetrievalInferencer

ckpt = sys.argv[1]
model = get_model('%(name)s', pretrained=ckpt)
state = torch.load(ckpt, map_location='cpu')['state_dict']
params = dict(model.named_parameters())
weights_loaded = len(params) > 0 and all(
    key in state and torch.equal(value.detach(), state[key])
    for key, value in params.items())
images = sys.argv[2:]
inferencer = TextToImageRetrievalInferencer(
    '%(name)s', pretrained=ckpt, prototype=images)
result = inferencer('a caption', topk=2)[0]
print('REPORT ' + json.dumps(dict(
    package_file=qwenclip_mm.__file__,
    mmpretrain_file=mmpretrain.__file__,
    names=list_models('*qwenclip*'),
    model_type=type(model).__name__,
    weights_loaded=weights_loaded,
    retrieved=[r['sample_idx'] for r in result])))
""" % dict(name=TINY)


def run(cmd, cwd, env, timeout=240):
    """Run a command, failing the test with its output if it fails."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, timeout=timeout, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, f'{cmd} failed:\n{proc.stdout[-6000:]}'
    return proc.stdout


def build_wheel(out_dir, work_dir):
    """Build the project's wheel from a clean copy of the source tree."""
    src = osp.join(work_dir, 'src')
    shutil.copytree(
        REPO_ROOT, src,
        ignore=shutil.ignore_patterns('.git', 'data', 'work_dirs', 'build',
                                      '*.egg-info', '__pycache__', '.mim',
                                      '.pytest_cache', '.venv'))
    run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-w', out_dir, src
    ], cwd=work_dir, env=os.environ.copy())
    wheels = [f for f in os.listdir(out_dir) if f.endswith('.whl')]
    assert len(wheels) == 1, wheels
    return osp.join(out_dir, wheels[0])


def make_venv(venv, wheel, env):
    """A fresh venv with the wheel, seeing this environment's packages."""
    run([sys.executable, '-m', 'venv', '--without-pip', venv], '/', env)
    python = osp.join(venv, 'bin', 'python')
    purelib = run([
        python, '-c', 'import sysconfig; print(sysconfig.get_paths()'
        '["purelib"])'
    ], '/', env).strip()
    # Only the third-party packages: a .pth file in a path that a .pth file
    # adds is not run, so the editable install's hook stays off.
    here = {sysconfig.get_paths()[k] for k in ('purelib', 'platlib')}
    with open(osp.join(purelib, 'zz_host_site_packages.pth'), 'w') as f:
        f.write('\n'.join(sorted(here)) + '\n')
    run([
        sys.executable, '-m', 'pip', '--python', python, 'install',
        '--no-deps', '--no-index', wheel
    ], '/', env)
    return python


def test_wheel_in_fresh_venv_trains_tests_and_lists_models(tmp_path):
    work = str(tmp_path)
    wheel = build_wheel(osp.join(work, 'wheels'), work)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for shipped in ('qwenclip_mm/.mim/model-index.yml',
                    'qwenclip_mm/.mim/configs/qwenclip/metafile.yml',
                    f'qwenclip_mm/.mim/configs/qwenclip/{TINY}.py',
                    'qwenclip_mm/.mim/configs/_base_/default_runtime.py',
                    'qwenclip_mm/.mim/tools/train.py',
                    'qwenclip_mm/.mim/tools/test.py',
                    'qwenclip_mm/.mim/tools/dist_train.sh'):
        assert shipped in names, f'{shipped} is not in the wheel'

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ('PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP')
    }
    env.update(PYTHONNOUSERSITE='1', OMP_NUM_THREADS='2')
    venv = osp.join(work, 'venv')
    python = make_venv(venv, wheel, env)

    user = osp.join(work, 'my_project')
    os.makedirs(user)
    assert os.listdir(user) == []

    def tool(*args):
        return run([python, '-m', 'qwenclip_mm', *args], user, env)

    tool('misc/make_synthetic_rocov2', 'data/synthetic-rocov2',
         '--num-train', '64', '--num-valid', '16', '--num-test', '16')
    tool('misc/make_tiny_qwen3', 'data/qwen3-tiny')
    with open(osp.join(user, 'my_config.py'), 'w') as f:
        f.write(USER_CONFIG)

    # Train with the package's tool ...
    log = tool('train', 'my_config.py', '--work-dir', 'work_dirs/mine')
    ckpt = osp.join(user, 'work_dirs', 'mine', 'epoch_1.pth')
    assert osp.isfile(ckpt), log[-3000:]
    assert 'Epoch(train) [1][2/2]' in log, log[-3000:]
    assert 'Epoch(val) [1][1/1]' in log and 'mean_recall' in log

    # ... and with mmpretrain's packaged tools/train.py (the plugin imported
    # first, so that the `qwenclip_mm::` base resolves).
    mmpretrain_train = run([
        python, '-c', 'import mmpretrain, os; print(os.path.join(os.path.'
        'dirname(mmpretrain.__file__), ".mim", "tools", "train.py"))'
    ], user, env).strip()
    log = tool(mmpretrain_train, 'my_config.py', '--work-dir',
               'work_dirs/mmpretrain_tool')
    assert osp.isfile(
        osp.join(user, 'work_dirs', 'mmpretrain_tool', 'epoch_1.pth'))
    assert 'Epoch(train) [1][2/2]' in log, log[-3000:]

    out = osp.join(user, 'metrics.json')
    tool('test', 'my_config.py', ckpt, '--work-dir', 'work_dirs/mine',
         '--out', out)
    with open(out) as f:
        metrics = json.load(f)
    for key in ('i2t/retrieval/Recall@1', 't2i/retrieval/Recall@10',
                'mean_recall'):
        assert 0 <= metrics[key] <= 100, metrics
    # The whole test split (16 images, one caption each) was evaluated: a
    # recall is a whole number of the 16 queries.
    hits = metrics['t2i/retrieval/Recall@10'] * 16 / 100
    assert abs(hits - round(hits)) < 1e-6, metrics

    images = sorted(
        osp.join(user, 'data', 'synthetic-rocov2', 'test', name)
        for name in os.listdir(
            osp.join(user, 'data', 'synthetic-rocov2', 'test')))[:4]
    output = run([python, '-c', CHECK_MODEL_INDEX, ckpt, *images], user, env)
    # stderr shares the pipe: a progress bar may precede the line.
    reports = re.findall(r'REPORT (\{.*\})', output)
    assert reports, output[-3000:]
    report = json.loads(reports[-1])
    assert report['package_file'].startswith(venv + os.sep)
    assert not report['package_file'].startswith(REPO_ROOT + os.sep)
    with open(osp.join(REPO_ROOT, 'configs', 'qwenclip', 'metafile.yml')) as f:
        expected = sorted(m['Name'] for m in yaml.safe_load(f)['Models'])
    assert report['names'] == expected
    assert report['model_type'] == 'QwenCLIP'
    assert report['weights_loaded']
    assert len(report['retrieved']) == 2
    assert set(report['retrieved']) <= set(range(len(images)))
