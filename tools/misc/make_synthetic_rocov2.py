"""Write a small synthetic data set in ROCOv2's layout to a folder.

The folder reads like the real ROCOv2 (``ROCOv2Dataset(data_root=OUT_DIR)``),
so configs can point their ``data_root`` at it to run the whole pipeline
offline. The script reads every split back and prints what it holds.

Example:
    python tools/misc/make_synthetic_rocov2.py data/rocov2_synthetic
    python tools/misc/make_synthetic_rocov2.py data/rocov2_synthetic_224 \\
        --num-train 2000 --img-size 224 --seed 1
"""
import argparse

from qwenclip_mm.datasets import ROCOv2Dataset
from qwenclip_mm.testing import make_synthetic_rocov2


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write synthetic radiology images with captions, '
        'concepts and a CUI mapping in the exact ROCOv2 file layout.')
    parser.add_argument('out_dir', help='folder to write')
    parser.add_argument('--num-train', type=int, default=600)
    parser.add_argument('--num-valid', type=int, default=64)
    parser.add_argument('--num-test', type=int, default=64)
    parser.add_argument(
        '--img-size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    info = make_synthetic_rocov2(
        args.out_dir,
        num_train=args.num_train,
        num_valid=args.num_valid,
        num_test=args.num_test,
        img_size=args.img_size,
        seed=args.seed)
    print(f'data_root: {info["data_root"]} ({args.img_size} px images, '
          f'seed {args.seed})')
    for split, split_info in info['splits'].items():
        dataset = ROCOv2Dataset(info['data_root'], split=split,
                                check_images=True)
        print(f'{split}: {len(dataset)} images in {dataset.img_prefix}, '
              f'{len(split_info["long_ids"])} of them with long reports')
    print('files: ' + ', '.join(info['files']))


if __name__ == '__main__':
    main()
