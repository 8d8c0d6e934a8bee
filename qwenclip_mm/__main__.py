"""Run a tool shipped with the package, from any folder.

Usage::

    python -m qwenclip_mm train CONFIG [ARGS ...]
    python -m qwenclip_mm test CONFIG CHECKPOINT [ARGS ...]
    python -m qwenclip_mm analysis_tools/extract_embeddings CONFIG CKPT ...
    python -m qwenclip_mm path/to/any_tool.py [ARGS ...]
    python -m qwenclip_mm --list

A name is a tool under the package's ``tools/`` (``.mim/tools`` once
installed, the same files as ``tools/`` of the repository). The tool runs as
``__main__`` after ``qwenclip_mm`` is imported, so configs whose bases say
``qwenclip_mm::...`` resolve: that also runs another project's tool, e.g.
mmpretrain's packaged ``tools/train.py``, on such a config.
"""
import os
import os.path as osp
import runpy
import sys

from qwenclip_mm.model_index import mim_root, tool_path


def list_tools() -> list:
    """The tools shipped with the package, relative to ``tools/``."""
    root = osp.join(mim_root() or '', 'tools')
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith('.py'):
                found.append(
                    osp.relpath(osp.join(folder, name), root)[:-len('.py')])
    return sorted(found)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__)
        return
    if argv[0] == '--list':
        print('\n'.join(list_tools()))
        return
    tool, args = argv[0], argv[1:]
    path = tool if osp.isfile(tool) else tool_path(tool)
    sys.argv = [path, *args]
    runpy.run_path(path, run_name='__main__')


if __name__ == '__main__':
    main()
