"""Write a small synthetic data set in the ImageCLEF 2009 IRMA layout.

The folder reads like the real IRMA data (``IRMADataset(data_root=OUT_DIR)``),
so configs can point their ``data_root`` at it to run the whole pipeline
offline. The script reads every split back and prints what it holds.

Example:
    python tools/misc/make_synthetic_irma.py data/synthetic-irma
    python tools/misc/make_synthetic_irma.py data/synthetic-irma-224 \\
        --num-train 2000 --img-size 224 --seed 1
"""
import argparse

from qwenclip_mm.datasets import IRMADataset
from qwenclip_mm.testing import make_synthetic_irma


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write synthetic radiographs with IRMA codes in the '
        'exact ImageCLEF 2009 file layout.')
    parser.add_argument('out_dir', help='folder to write')
    parser.add_argument('--num-train', type=int, default=480)
    parser.add_argument('--num-test', type=int, default=96)
    parser.add_argument(
        '--img-size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    info = make_synthetic_irma(
        args.out_dir,
        num_train=args.num_train,
        num_test=args.num_test,
        img_size=args.img_size,
        seed=args.seed)
    print(f'data_root: {info["data_root"]} ({args.img_size} px images, '
          f'seed {args.seed}, {len(info["codes"])} IRMA codes)')
    for split in info['splits']:
        dataset = IRMADataset(
            info['data_root'], split=split, test_mode=True,
            check_images=True)
        positives = [
            len(images) for i in range(len(dataset))
            for images in dataset.get_data_info(i)['gt_image_id']
        ]
        print(f'{split}: {dataset.img_size} images in {dataset.img_prefix}, '
              f'{dataset.text_size} distinct texts, {min(positives)} to '
              f'{max(positives)} images per text')
    print('files: ' + ', '.join(info['files']))


if __name__ == '__main__':
    main()
