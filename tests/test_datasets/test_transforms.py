"""LoadImageFromFileStrict: a corrupt image fails with its path."""
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS
from PIL import Image

from qwenclip_mm.datasets import ImageTextDataset, LoadImageFromFileStrict


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('images')
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(
        root / 'grey.png')
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / 'ok.jpg')
    data = (root / 'ok.jpg').read_bytes()
    (root / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    (root / 'empty.png').write_bytes(b'')
    (root / 'text.png').write_bytes(b'not an image at all')
    return root


def test_loads_like_mmcv(files):
    strict = TRANSFORMS.build(dict(type='LoadImageFromFileStrict'))
    assert isinstance(strict, LoadImageFromFileStrict)
    path = str(files / 'grey.png')
    ours = strict(dict(img_path=path))
    theirs = LoadImageFromFile()(dict(img_path=path))
    assert ours['img'].shape == (8, 8, 3)
    np.testing.assert_array_equal(ours['img'], theirs['img'])
    assert ours['ori_shape'] == (8, 8)


def test_mmcv_loses_the_path_of_an_empty_file(files):
    # Why the transform exists: mmcv's error names no file.
    path = str(files / 'empty.png')
    with pytest.raises(Exception) as e:
        LoadImageFromFile()(dict(img_path=path))
    assert path not in str(e.value)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('name', ['truncated.jpg', 'empty.png', 'text.png'])
def test_corrupt_file_names_its_path(files, backend, name):
    path = str(files / name)
    transform = LoadImageFromFileStrict(imdecode_backend=backend)
    with pytest.raises(OSError) as e:
        transform(dict(img_path=path))
    assert str(e.value).startswith(f'{path}: cannot load the image (')
    assert e.value.__cause__ is not None
    assert LoadImageFromFileStrict(
        imdecode_backend=backend, ignore_empty=True)(dict(img_path=path)) \
        is None


def test_missing_file(files):
    path = str(files / 'gone.png')
    with pytest.raises(FileNotFoundError, match=f'^{path}: image not found'):
        LoadImageFromFileStrict()(dict(img_path=path))


def test_corrupt_image_met_in_training_names_it(files, tmp_path):
    ann = tmp_path / 'train.csv'
    ann.write_text('image,caption\nok.jpg,fine\ntext.png,broken\n')
    dataset = ImageTextDataset(
        str(ann),
        img_dir=str(files),
        pipeline=[
            dict(type='LoadImageFromFileStrict'),
            dict(type='PackInputs', algorithm_keys=['text', 'image_id'])
        ])
    assert tuple(dataset[0]['inputs'].shape) == (3, 8, 8)
    with pytest.raises(OSError, match=f'^{files}/text.png: cannot load'):
        dataset[1]
