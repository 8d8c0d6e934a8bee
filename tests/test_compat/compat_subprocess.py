"""Running code in a fresh interpreter, where ``qwenclip_mm`` is imported
only if the code imports it."""
import os
import subprocess
import sys
import textwrap

from utils import REPO_ROOT


def run_python(code, pythonpath=(), env=None):
    """Run ``code`` (dedented) with this checkout and ``pythonpath`` first.

    Returns:
        subprocess.CompletedProcess: With text ``stdout`` and ``stderr``.
    """
    full_env = dict(os.environ, **(env or {}))
    full_env['PYTHONPATH'] = os.pathsep.join(
        [*pythonpath, REPO_ROOT,
         full_env.get('PYTHONPATH', '')])
    full_env.setdefault('OMP_NUM_THREADS', '1')
    return subprocess.run([sys.executable, '-c',
                           textwrap.dedent(code)],
                          capture_output=True,
                          text=True,
                          cwd=REPO_ROOT,
                          env=full_env,
                          timeout=600)
