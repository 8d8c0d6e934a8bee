"""Write a small synthetic data set in ROCOv2's layout to a folder.

The folder reads like the real ROCOv2 (``ROCOv2Dataset(data_root=OUT_DIR)``),
so configs can point their ``data_root`` at it to run the whole pipeline
offline. The script reads every split back and prints what it holds.

Example:
    python tools/misc/make_synthetic_rocov2.py data/rocov2_synthetic
    python tools/misc/make_synthetic_rocov2.py data/rocov2_synthetic_224 \\
        --num-train 2000 --img-size 224 --seed 1
"""
from qwenclip_mm.datasets import ROCOv2Dataset
from qwenclip_mm.testing import make_synthetic_rocov2
from qwenclip_mm.testing.synthetic_cli import run_synthetic_data_tool


def describe_split(info: dict, split: str) -> str:
    """What the data set read back from the folder holds for ``split``."""
    dataset = ROCOv2Dataset(info['data_root'], split=split, check_images=True)
    return (f'{split}: {len(dataset)} images in {dataset.img_prefix}, '
            f'{len(info["splits"][split]["long_ids"])} of them with long '
            'reports')


def main(argv=None):
    run_synthetic_data_tool(
        make_synthetic_rocov2,
        description='Write synthetic radiology images with captions, '
        'concepts and a CUI mapping in the exact ROCOv2 file layout.',
        num_defaults=dict(train=600, valid=64, test=64),
        describe_split=describe_split,
        argv=argv)


if __name__ == '__main__':
    main()
