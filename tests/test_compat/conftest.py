"""A real ``pycocotools`` for the tests that need mmpretrain to see one."""
import importlib.util
import subprocess
import sys

import pytest


@pytest.fixture(scope='session')
def pycocotools_path(tmp_path_factory):
    """A folder to put on ``PYTHONPATH`` that holds ``pycocotools``.

    Installed with pip into a temporary folder (never into the
    environment, where it would change what ``import mmpretrain.models``
    does for every other process); skips where pip cannot get it.
    """
    if importlib.util.find_spec('pycocotools') is not None:
        return ''
    target = tmp_path_factory.mktemp('pycocotools')
    try:
        result = subprocess.run([
            sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
            '--target',
            str(target), 'pycocotools'
        ],
                                capture_output=True,
                                text=True,
                                timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip('pip install pycocotools took over 180 s')
    if result.returncode != 0:
        pytest.skip('pycocotools is not installed and pip could not install '
                    f'it: {result.stderr.strip()[-300:]}')
    return str(target)
