"""Evaluate a QwenCLIP checkpoint with MMEngine's Runner.

Usage is that of mmpretrain's ``tools/test.py``::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--amp] [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os

import qwenclip_mm  # noqa: F401  (registers components, applies fixes)
import mmengine
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from qwenclip_mm.compat.tools import tool_overrides
from qwenclip_mm.engine.launch import set_dataloader_defaults, set_work_dir


def parse_args():
    parser = argparse.ArgumentParser(
        description='Evaluate a QwenCLIP checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument(
        '--out',
        help='write the metrics to this file (.json, .yaml or .pkl)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='bf16 autocast inference, as tools/train.py --amp trains')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in the dataloaders')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=64')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Merge command-line arguments into the config."""
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.amp:
        # The loop autocasts to torch's default dtype of the device, which
        # main() sets to bf16.
        cfg.test_cfg.fp16 = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    set_dataloader_defaults(cfg, pin_memory=not args.no_pin_memory)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    if args.amp:
        # MMEngine's test loops have no dtype option: their fp16 flag
        # autocasts to this default, float16 on CUDA otherwise, which
        # overflows Qwen3's activations (CPU autocast is bf16 already).
        torch.set_autocast_dtype('cuda', torch.bfloat16)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        mmengine.dump(metrics, args.out)
        print(f'metrics written to {args.out}')


if __name__ == '__main__':
    with tool_overrides():
        main()
