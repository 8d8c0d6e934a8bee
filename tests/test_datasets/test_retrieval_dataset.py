"""The shape the retrieval data sets share: one base class, short files."""
import glob
import os.path as osp

import pytest

import qwenclip_mm
from qwenclip_mm.datasets import (BaseRetrievalDataset, ImageTextDataset,
                                  IRMADataset, ROCOv2Dataset)


class TwoImages(BaseRetrievalDataset):
    """The least a subclass writes: its images and their captions."""

    def load_images_and_captions(self):
        images = [
            dict(img_path=f'{name}.png', ori_id=name) for name in 'ab'
        ]
        return images, [['a cat', 'a pet'], ['a pet']]


def test_a_subclass_gets_train_and_test_items(tmp_path):
    train = TwoImages(ann_file=str(tmp_path / 'ann.csv'), lazy_init=False)
    assert [(i['text'], i['image_id'], i['text_id']) for i in train] == [
        ('a cat', 0, 0), ('a pet', 0, 1), ('a pet', 1, 2)
    ]
    test = TwoImages(
        ann_file=str(tmp_path / 'ann.csv'),
        test_mode=True,
        merge_identical_texts=True)
    assert (test.img_size, test.text_size) == (2, 2)
    assert [(i['text'], i['gt_text_id'], i['gt_image_id'])
            for i in test] == [(['a cat', 'a pet'], [0, 1], [[0], [0, 1]]),
                               ([], [1], [])]


@pytest.mark.parametrize('cls',
                         [ROCOv2Dataset, IRMADataset, ImageTextDataset])
def test_each_data_set_reads_only_its_own_files(cls):
    assert issubclass(cls, BaseRetrievalDataset)
    assert cls.load_data_list is BaseRetrievalDataset.load_data_list


def test_no_file_of_the_package_is_over_450_lines():
    package = osp.dirname(qwenclip_mm.__file__)
    long = {}
    for path in glob.glob(osp.join(package, '**', '*.py'), recursive=True):
        with open(path) as f:
            lines = sum(1 for _ in f)
        if lines > 450:
            long[osp.relpath(path, package)] = lines
    assert long == {}
