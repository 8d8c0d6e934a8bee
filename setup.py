"""Install qwenclip_mm, the QwenCLIP plugin for MMPretrain.

The pins below are the stack the project is tested on. ``mmcv-lite`` provides
the ``mmcv`` module without compiled ops (MMPretrain's retrieval and CLIP
models need none); never install it beside the full ``mmcv``.
"""
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

#: Run at interpreter start from site-packages: leaves a finder on
#: ``sys.meta_path`` that acts only when ``mmpretrain.models.multimodal`` is
#: imported (see ``qwenclip_mm/compat/multimodal.py``).
STARTUP_PTH = 'qwenclip_mm_startup.pth'


class BuildPyWithStartup(build_py):
    """Puts :data:`STARTUP_PTH` at the top of the wheel (site-packages)."""

    def run(self):
        super().run()
        shutil.copy(STARTUP_PTH, osp.join(self.build_lib, STARTUP_PTH))


def get_version():
    scope = {}
    with open(osp.join('qwenclip_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


install_requires = [
    'torch>=2.6,<=2.14.1',
    'torchvision>=0.21,<=0.29.1',
    'numpy>=1.24,<3',
    'mmengine==0.10.7',
    'mmcv-lite==2.1.0',
    'mmpretrain==1.2.0',
    'transformers>=4.51,<6',
    'tokenizers>=0.21',
    'safetensors>=0.4',
    'peft>=0.14,<1',
    'pillow',
    'matplotlib',
    'tqdm',
]

extras_require = {
    'tests': ['pytest>=8', 'hypothesis>=6.100'],
}

setup(
    name='qwenclip_mm',
    version=get_version(),
    description='QwenCLIP: long-report medical CLIP with a Qwen3 text tower, '
    'as an MMPretrain plugin',
    long_description=open('README.md', encoding='utf-8').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['qwenclip_mm', 'qwenclip_mm.*']),
    py_modules=['qwenclip_mm_startup'],
    cmdclass={'build_py': BuildPyWithStartup},
    python_requires='>=3.10',
    install_requires=install_requires,
    extras_require=extras_require,
    license='Apache-2.0',
)
