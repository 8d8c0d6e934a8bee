"""Write a small synthetic data set in the ImageCLEF 2009 IRMA layout.

The folder reads like the real IRMA data (``IRMADataset(data_root=OUT_DIR)``),
so configs can point their ``data_root`` at it to run the whole pipeline
offline. The script reads every split back and prints what it holds.

Example:
    python tools/misc/make_synthetic_irma.py data/synthetic-irma
    python tools/misc/make_synthetic_irma.py data/synthetic-irma-224 \\
        --num-train 2000 --img-size 224 --seed 1
"""
from qwenclip_mm.datasets import IRMADataset
from qwenclip_mm.testing import make_synthetic_irma
from qwenclip_mm.testing.synthetic_cli import run_synthetic_data_tool


def describe_split(info: dict, split: str) -> str:
    """What the data set read back from the folder holds for ``split``."""
    dataset = IRMADataset(
        info['data_root'], split=split, test_mode=True, check_images=True)
    positives = [
        len(images) for i in range(len(dataset))
        for images in dataset.get_data_info(i)['gt_image_id']
    ]
    return (f'{split}: {dataset.img_size} images in {dataset.img_prefix}, '
            f'{dataset.text_size} distinct texts, {min(positives)} to '
            f'{max(positives)} images per text')


def main(argv=None):
    run_synthetic_data_tool(
        make_synthetic_irma,
        description='Write synthetic radiographs with IRMA codes in the '
        'exact ImageCLEF 2009 file layout.',
        num_defaults=dict(train=480, test=96),
        describe_split=describe_split,
        notes=lambda info: f'{len(info["codes"])} IRMA codes',
        argv=argv)


if __name__ == '__main__':
    main()
