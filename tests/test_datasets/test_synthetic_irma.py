"""make_synthetic_irma: the ImageCLEF 2009 layout, learnable images."""
import filecmp
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from qwenclip_mm.datasets import IRMADataset
from qwenclip_mm.testing import make_synthetic_irma
from qwenclip_mm.testing.synthetic_irma import CODES

NUM = dict(train=48, test=16)


@pytest.fixture(scope='module')
def info(tmp_path_factory):
    return make_synthetic_irma(
        str(tmp_path_factory.mktemp('irma')),
        num_train=NUM['train'],
        num_test=NUM['test'],
        img_size=32)


def test_layout(info):
    root = info['data_root']
    assert sorted(os.listdir(root)) == [
        'ImageCLEFmed2009_test.03', 'ImageCLEFmed2009_test_codes.03.csv',
        'ImageCLEFmed2009_train.02', 'ImageCLEFmed2009_train_codes.02.csv'
    ]
    for split, num in NUM.items():
        meta = info['splits'][split]
        with open(meta['ann_file'], 'rb') as f:
            lines = f.read().split(b'\n')
        assert lines[0] == (b'image_id;irma_code;05_class;'
                            b'05_irma_code_submask;06_class;06_irma_code;'
                            b'07_irma_code;08_irma_code')
        assert lines[-1] == b'' and len(lines) == num + 2
        assert b'\\N' in lines[1] or b'\\N' in lines[2]
        numbers = [int(i) for i in meta['ids']]
        assert numbers == sorted(set(numbers))
        assert sorted(os.listdir(meta['img_dir'])) == sorted(
            f'{i}.png' for i in meta['ids'])
        with Image.open(osp.join(meta['img_dir'],
                                 meta['ids'][0] + '.png')) as img:
            assert (img.format, img.mode, img.size) == ('PNG', 'L', (32, 32))
        # Codes are dealt evenly: every code several times per split.
        counts = [meta['codes'].count(code) for code, _, _ in CODES]
        assert min(counts) == num // len(CODES)
    assert not set(info['splits']['train']['ids']) & set(
        info['splits']['test']['ids'])


def test_every_code_has_its_own_builtin_text(info):
    dataset = IRMADataset(info['data_root'], split='test', test_mode=True,
                          check_images=True)
    assert dataset.text_size == len(CODES) == len(dataset.CLASSES)


def test_deterministic(info, tmp_path):
    again = make_synthetic_irma(
        str(tmp_path), num_train=NUM['train'], num_test=NUM['test'],
        img_size=32)
    for split in NUM:
        a, b = info['splits'][split], again['splits'][split]
        assert filecmp.cmp(a['ann_file'], b['ann_file'], shallow=False)
        match, mismatch, errors = filecmp.cmpfiles(
            a['img_dir'], b['img_dir'], [f'{i}.png' for i in a['ids']],
            shallow=False)
        assert not mismatch and not errors


def test_appearance_follows_code(info):
    """A nearest-centroid classifier on raw pixels, fitted on train, names
    the code of every test image: the images carry their code."""

    def load(split):
        meta = info['splits'][split]
        pixels = np.stack([
            np.asarray(Image.open(osp.join(meta['img_dir'], f'{i}.png')),
                       np.float32).ravel() / 255 for i in meta['ids']
        ])
        return pixels, np.array(meta['codes'])

    train, train_codes = load('train')
    test, test_codes = load('test')
    codes = sorted(set(train_codes))
    centroids = np.stack([train[train_codes == c].mean(0) for c in codes])
    distances = ((test[:, None] - centroids[None])**2).sum(-1)
    predicted = np.array(codes)[distances.argmin(1)]
    assert (predicted == test_codes).all()


def test_sizes_checked(tmp_path):
    with pytest.raises(ValueError, match='num_test must be at least 1'):
        make_synthetic_irma(str(tmp_path), num_test=0)
