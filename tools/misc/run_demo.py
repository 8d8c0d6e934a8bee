"""Offline QwenCLIP demo: make data and a tiny Qwen3, train, test, report.

Run from the repository root::

    python tools/misc/run_demo.py

It writes (when missing) a tiny random Qwen3 checkpoint with a byte-level
BPE tokenizer to ``data/qwen3-tiny`` and a synthetic data set in the ROCOv2
layout to ``data/synthetic-rocov2``, then runs the standard
``tools/train.py`` and ``tools/test.py`` on
``configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py`` and prints the
test split's image-to-text and text-to-image Recall@1/5/10 next to chance.
Everything runs on the CPU with no network.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

from qwenclip_mm.testing.demo_assets import ensure_demo_assets

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--work-dir',
        default='work_dirs/qwenclip_tiny_1xb32_synthetic-rocov2',
        help='where training writes logs and checkpoints')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='passed on to tools/train.py and tools/test.py')
    parser.add_argument(
        '--regenerate',
        action='store_true',
        help='rewrite the tiny checkpoint and the synthetic data set')
    return parser.parse_args()


def run_tool(args: list) -> None:
    cmd = [sys.executable] + args
    print('$ ' + ' '.join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)


def best_checkpoint(work_dir: str) -> str:
    best = sorted(glob.glob(osp.join(work_dir, 'best_mean_recall_*.pth')))
    if best:
        return best[-1]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def report(metrics: dict, num_images: int, num_texts: int) -> str:
    lines = [
        f'Test split: {num_images} images, {num_texts} captions',
        f"{'direction':<16}{'R@1':>8}{'R@5':>8}{'R@10':>8}{'chance R@1':>12}",
    ]
    for direction, gallery in (('i2t', num_texts), ('t2i', num_images)):
        row = [
            metrics[f'{direction}/retrieval/Recall@{k}'] for k in (1, 5, 10)
        ]
        lines.append(f'{direction:<16}' + ''.join(f'{v:>8.1f}' for v in row) +
                     f'{100 / gallery:>12.1f}')
    lines.append(f"mean recall: {metrics['mean_recall']:.1f}")
    return '\n'.join(lines)


def main():
    args = parse_args()
    os.chdir(REPO_ROOT)
    start = time.time()
    ensure_demo_assets(regenerate=args.regenerate)
    options = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    run_tool(['tools/train.py', CONFIG, '--work-dir', args.work_dir] +
             options)
    checkpoint = best_checkpoint(args.work_dir)
    out = osp.join(args.work_dir, 'test_metrics.json')
    run_tool([
        'tools/test.py', CONFIG, checkpoint, '--work-dir', args.work_dir,
        '--out', out
    ] + options)
    with open(out) as f:
        metrics = json.load(f)

    from mmengine.config import Config

    import qwenclip_mm  # noqa: F401
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(CONFIG)
    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    print()
    print(report(metrics, test_set.img_size, test_set.text_size))
    print(f'checkpoint: {checkpoint}')
    print(f'demo finished in {time.time() - start:.0f} s')


if __name__ == '__main__':
    main()
