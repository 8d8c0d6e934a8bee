"""A small synthetic data set in the exact ImageCLEF 2009 IRMA layout.

IRMA cannot be downloaded where the tests and the demo run, so
:func:`make_synthetic_irma` writes code files and grey-scale PNGs that
:class:`~qwenclip_mm.datasets.IRMADataset` reads through the same code path
as the real ones. Each image's appearance follows its code's modality and
body region (and, for the chest, its view), so a tiny CLIP learns to match
images with their code texts in a few hundred steps:

- x-ray: dark background with bright bones — a skull ring (cranium), lungs
  with ribs and a spine (chest, PA view: two lungs; lateral view: one lung
  and the spine at the back), a column of vertebrae (spine), a palm with
  five fingers (hand), two long bones meeting at a joint with a kneecap
  (knee);
- sonography: a fan-shaped sector of speckle with a dark organ in it;
- MR: a smooth grey head with dark ventricles and no bright skull.

Every code's built-in text (no hierarchy file) differs from the others'.
"""
import csv
import io
import os
import os.path as osp
from typing import Dict, List

import numpy as np
from PIL import Image, ImageFilter

from qwenclip_mm.datasets.irma import ANN_FILES, IMG_DIRS, MISSING, SPLITS

#: The codes drawn, with what their images show.
CODES = (
    ('1121-120-200-700', 'x-ray', 'cranium'),
    ('1121-110-500-000', 'x-ray', 'chest PA'),
    ('1121-220-500-000', 'x-ray', 'chest lateral'),
    ('1121-120-300-700', 'x-ray', 'spine'),
    ('1121-120-410-700', 'x-ray', 'hand'),
    ('1121-120-940-700', 'x-ray', 'knee'),
    ('2000-000-700-400', 'sonography', 'abdomen'),
    ('3000-300-200-100', 'MR', 'cranium'),
)
#: The header of the official code files.
HEADER = ('image_id', 'irma_code', '05_class', '05_irma_code_submask',
          '06_class', '06_irma_code', '07_irma_code', '08_irma_code')
_FIRST_ID = dict(train=1000, test=30000)


def _render(modality: str, region: str, img_size: int,
            rng: np.random.Generator) -> np.ndarray:
    """Draw the grey-scale image (uint8, ``img_size`` square) of a code."""
    scale = rng.uniform(0.9, 1.1)
    cx, cy = rng.uniform(-0.05, 0.05, 2)
    coords = (np.arange(img_size) + 0.5) / img_size * 2 - 1
    y, x = np.meshgrid(coords, coords, indexing='ij')
    x, y = (x - cx) / scale, (y - cy) / scale

    def ellipse(ex, ey, rx, ry):
        return (((x - ex) / rx)**2 + ((y - ey) / ry)**2 <= 1).astype(float)

    def box(x0, x1, y0, y1):
        return ((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).astype(float)

    if modality == 'sonography':
        # A fan opening downwards from the top centre, filled with speckle.
        radius = np.hypot(x, y + 0.9)
        angle = np.abs(np.arctan2(x, y + 0.9))
        fan = (radius < 1.7) * (angle < 0.6)
        speckle = rng.gamma(2.0, 0.25, x.shape)
        organ = ellipse(0.05, 0.35, 0.3, 0.2)
        img = fan * speckle * (1 - 0.8 * organ)
    elif modality == 'MR':
        head = ellipse(0, 0, 0.75, 0.85)
        ventricles = ellipse(-0.15, -0.05, 0.1, 0.25) + ellipse(
            0.15, -0.05, 0.1, 0.25)
        img = head * 0.6 - ventricles * 0.45
        img = np.asarray(
            Image.fromarray(np.uint8(np.clip(img, 0, 1) * 255)).filter(
                ImageFilter.GaussianBlur(img_size / 40))) / 255
    elif region == 'cranium':
        skull = ellipse(0, 0, 0.75, 0.85) - ellipse(0, 0, 0.65, 0.75)
        img = 0.05 + ellipse(0, 0, 0.75, 0.85) * 0.15 + skull * 0.75
    elif region.startswith('chest'):
        if region == 'chest PA':
            body = ellipse(0, 0.05, 0.85, 0.8)
            lungs = (ellipse(-0.38, 0, 0.27, 0.55) +
                     ellipse(0.38, 0, 0.27, 0.55))
            spine = box(-0.06, 0.06, -0.8, 0.85)
        else:
            body = ellipse(0, 0.05, 0.6, 0.8)
            lungs = ellipse(-0.05, 0, 0.38, 0.55)
            spine = box(0.42, 0.54, -0.8, 0.85)
        ribs = sum(box(-0.8, 0.8, k - 0.025, k + 0.025)
                   for k in (-0.45, -0.2, 0.05, 0.3)) * body
        img = 0.05 + body * 0.35 - lungs * 0.25 + spine * 0.5 + ribs * 0.25
    elif region == 'spine':
        vertebrae = sum(box(-0.16, 0.16, k - 0.1, k + 0.1)
                        for k in np.arange(-0.8, 0.81, 0.27))
        img = 0.05 + box(-0.35, 0.35, -1, 1) * 0.15 + vertebrae * 0.7
    elif region == 'hand':
        palm = box(-0.35, 0.35, 0.05, 0.7)
        fingers = sum(box(k - 0.055, k + 0.055, -0.65, 0.1)
                      for k in (-0.27, -0.09, 0.09, 0.27))
        thumb = box(0.38, 0.48, -0.1, 0.4)
        img = 0.05 + np.clip(palm + fingers + thumb, 0, 1) * 0.75
    elif region == 'knee':
        femur = box(-0.14, 0.14, -1, -0.08)
        tibia = box(-0.16, 0.16, 0.08, 1)
        kneecap = ellipse(0, 0, 0.12, 0.09)
        img = 0.05 + box(-0.4, 0.4, -1, 1) * 0.15 + (femur + tibia) * 0.7 + \
            kneecap * 0.5
    else:
        raise ValueError(f'no drawing for {modality} {region}')
    img = img * rng.uniform(0.9, 1.1) + rng.normal(0, 0.02, img.shape)
    return np.uint8(np.clip(img, 0, 1) * 255)


def _write_codes(path: str, ids: List[int], codes: List[str]) -> None:
    """Write a code file as ImageCLEF's: ';'-separated, ``\\N`` for NULL."""
    class_of = {code: str(i + 1) for i, (code, _, _) in enumerate(CODES)}
    buf = io.StringIO(newline='')
    writer = csv.writer(buf, delimiter=';', lineterminator='\n')
    writer.writerow(HEADER)
    for image_id, code in zip(ids, codes):
        # The older schemes' columns: absent (\N) for one class, as the
        # 2005 scheme lacks some of the 2009 categories.
        old_class = MISSING if code == CODES[-1][0] else class_of[code]
        writer.writerow((image_id, code, old_class, MISSING, class_of[code],
                         code, code, code))
    with open(path, 'w', newline='', encoding='utf-8') as f:
        f.write(buf.getvalue())


def make_synthetic_irma(out_dir: str,
                        num_train: int = 480,
                        num_test: int = 96,
                        img_size: int = 64,
                        seed: int = 0) -> dict:
    """Write a synthetic data set in the ImageCLEF 2009 IRMA layout.

    Files written under ``out_dir`` (existing ones are overwritten): ::

        out_dir
        ├── ImageCLEFmed2009_train_codes.02.csv   image_id;irma_code;...
        ├── ImageCLEFmed2009_test_codes.03.csv
        ├── ImageCLEFmed2009_train.02/1000.png ...  (grey-scale PNG)
        └── ImageCLEFmed2009_test.03/30000.png ...

    The codes are :data:`CODES`, dealt out evenly and shuffled, so with at
    least ``2 * len(CODES)`` images in a split every code has several
    images there. IDs are increasing integers with gaps. Same arguments give
    byte-identical files; each split has its own random stream.

    Args:
        out_dir (str): The folder to write to; created if missing.
        num_train (int): Training images. Defaults to 480.
        num_test (int): Test images. Defaults to 96.
        img_size (int): Image height and width in pixels. Defaults to 64.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: ``data_root`` (``out_dir``), ``codes`` (all codes of
        :data:`CODES`), ``files`` (the code files), and ``splits``: for
        ``'train'`` and ``'test'``, ``ids`` (list[str]), ``codes``
        (list[str], file order), ``ann_file`` and ``img_dir``.
    """
    sizes = dict(train=num_train, test=num_test)
    for split, num in sizes.items():
        if num < 1:
            raise ValueError(f'num_{split} must be at least 1, got {num}')
    os.makedirs(out_dir, exist_ok=True)
    result: Dict = dict(
        data_root=out_dir,
        codes=[code for code, _, _ in CODES],
        files=[],
        splits={})
    for split in SPLITS:
        rng = np.random.default_rng([seed, SPLITS.index(split)])
        num = sizes[split]
        which = rng.permutation(np.resize(np.arange(len(CODES)), num))
        ids = (_FIRST_ID[split] +
               np.cumsum(rng.integers(1, 4, num))).tolist()
        img_dir = osp.join(out_dir, IMG_DIRS[split])
        os.makedirs(img_dir, exist_ok=True)
        for image_id, k in zip(ids, which):
            _, modality, region = CODES[k]
            Image.fromarray(_render(modality, region, img_size, rng)).save(
                osp.join(img_dir, f'{image_id}.png'))
        codes = [CODES[k][0] for k in which]
        ann_file = osp.join(out_dir, ANN_FILES[split])
        _write_codes(ann_file, ids, codes)
        result['files'].append(ann_file)
        result['splits'][split] = dict(
            ids=[str(i) for i in ids],
            codes=codes,
            ann_file=ann_file,
            img_dir=img_dir)
    return result
