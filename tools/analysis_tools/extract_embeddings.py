"""Write the image and caption embeddings of a data split with their IDs.

Usage::

    python tools/analysis_tools/extract_embeddings.py CONFIG CHECKPOINT \
        --out work_dirs/embeddings/rocov2_test [--split test] \
        [--format npy|safetensors] [--batch-size 32] [--text-batch-size 64] \
        [--device cuda] [--cfg-options k=v ...]

For ``--out OUT`` (an ``.npy``, ``.safetensors`` or ``.json`` extension is
dropped) it writes:

- ``--format npy`` (default): ``OUT_image.npy`` (float32, images x D) and
  ``OUT_text.npy`` (float32, captions x D);
- ``--format safetensors``: ``OUT.safetensors`` with the tensors ``image``
  and ``text``;
- always ``OUT_ids.json``: ``image_ids`` and ``text_ids`` (row ``i`` of the
  embeddings belongs to ID ``i``; for ROCOv2 the image IDs such as
  ``ROCOv2_2023_test_000001``, which also key the captions), the ground
  truth as row indices, ``image_gt`` (each image's matching caption rows)
  and ``text_gt`` (each caption's matching image rows), and the ``config``,
  ``checkpoint`` and ``split`` they came from.

Embeddings are L2-normalised and computed exactly as ``tools/test.py``
computes them, so ``text @ image.T`` gives its scores.
"""
import argparse
import json
import os
import os.path as osp

import qwenclip_mm  # noqa: F401  (applies compatibility fixes first)
import numpy as np
import torch

from qwenclip_mm.apis import add_split_arguments, load_split_features

FORMATS = ('npy', 'safetensors')
OUT_EXTENSIONS = ('.npy', '.safetensors', '.json')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write the image and caption embeddings of a split')
    parser.add_argument(
        '--out',
        required=True,
        help='output path prefix; OUT_image.npy, OUT_text.npy (or '
        'OUT.safetensors) and OUT_ids.json are written')
    parser.add_argument(
        '--format',
        choices=FORMATS,
        default='npy',
        help='embedding file format (default: npy)')
    add_split_arguments(parser)
    return parser.parse_args(argv)


def output_prefix(out: str) -> str:
    """``--out`` without a file extension this tool would add itself."""
    root, ext = osp.splitext(out)
    return root if ext in OUT_EXTENSIONS else out


def write_embeddings(prefix: str, fmt: str, image_feats: torch.Tensor,
                     text_feats: torch.Tensor, ids: dict) -> list:
    """Write the embeddings and the ID list; return the files written."""
    os.makedirs(osp.dirname(osp.abspath(prefix)), exist_ok=True)
    if fmt == 'npy':
        files = [f'{prefix}_image.npy', f'{prefix}_text.npy']
        np.save(files[0], image_feats.numpy())
        np.save(files[1], text_feats.numpy())
    else:
        from safetensors.torch import save_file
        files = [f'{prefix}.safetensors']
        save_file(
            dict(image=image_feats.contiguous(), text=text_feats.contiguous()),
            files[0],
            metadata=dict(split=ids['split']))
    files.append(f'{prefix}_ids.json')
    with open(files[-1], 'w', encoding='utf-8') as f:
        json.dump(ids, f, ensure_ascii=False, indent=1)
    return files


def main(argv=None):
    args = parse_args(argv)
    _, split, image_feats, text_feats = load_split_features(
        args, verbose=True)
    ids = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        split=args.split,
        image_ids=split.image_ids,
        text_ids=split.text_ids,
        image_gt=split.image_gt,
        text_gt=split.text_gt)
    files = write_embeddings(
        output_prefix(args.out), args.format, image_feats, text_feats, ids)
    print(f'wrote {image_feats.size(0)} image and {text_feats.size(0)} '
          f'caption embeddings ({image_feats.size(1)}-d) to ' +
          ', '.join(files))


if __name__ == '__main__':
    main()
