"""The images of the synthetic ROCOv2 data set, drawn from their factors."""
from typing import Dict

import numpy as np
from PIL import Image, ImageFilter


def render_rocov2_image(factors: Dict[str, str], img_size: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Draw the grey-scale image (uint8, ``img_size`` square) of a sample.

    ``factors`` are its ``modality``, ``region``, ``position`` and ``size``
    (see :mod:`qwenclip_mm.testing.synthetic_rocov2`); the image shows what
    its caption says.
    """
    coords = (np.arange(img_size) + 0.5) / img_size * 2 - 1
    y, x = np.meshgrid(coords, coords, indexing='ij')
    pixel = 2 / img_size

    def ellipse(cx, cy, rx, ry):
        # Anti-aliased over about one pixel, so small findings keep their
        # area at any img_size.
        dist = np.sqrt(((x - cx) / rx)**2 + ((y - cy) / ry)**2)
        return np.clip((1 - dist) * min(rx, ry) / pixel + 0.5, 0, 1)

    cx, cy = rng.uniform(-0.02, 0.02, 2)
    rx, ry = (0.8, 0.8) if factors['region'] == 'head' else (0.9, 0.66)
    body = ellipse(cx, cy, rx, ry)
    position = factors['position']
    fx = (-0.32 if 'left' in position else 0.32) + rng.uniform(-0.04, 0.04)
    fy = (-0.32 if 'upper' in position else 0.32) + rng.uniform(-0.04, 0.04)
    radius = (0.12 if factors['size'] == 'small' else 0.22) * rng.uniform(
        0.9, 1.1)
    finding = ellipse(fx, fy, radius, radius)

    modality = factors['modality']
    if modality == 'CT':
        img = 0.03 + body * (0.45 + rng.normal(0, 0.08, body.shape))
        img = img * (1 - finding) + finding * 0.95
    elif modality == 'MRI':
        img = body * 0.85
        img = img * (1 - finding) + finding * 0.08
    else:
        if factors['region'] == 'head':
            bones = body - ellipse(cx, cy, rx - 0.08, ry - 0.08)
        else:
            spine = (np.abs(x - cx) < 0.05) * body
            ribs = sum((np.abs(y - cy - k * ry) < 0.025)
                       for k in (-0.6, -0.2, 0.2, 0.6)) * body
            bones = np.maximum(spine, 0.6 * ribs * (np.abs(x - cx) > 0.1))
        img = 0.05 + body * 0.2 + bones * 0.6
        img = img * (1 - finding) + finding * 0.85
    img = img * rng.uniform(0.9, 1.1)
    out = Image.fromarray(np.uint8(np.clip(img, 0, 1) * 255))
    if modality == 'MRI':
        out = out.filter(ImageFilter.GaussianBlur(img_size / 64))
    return np.asarray(out)
