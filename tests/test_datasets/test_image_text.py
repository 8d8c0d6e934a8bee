"""ImageTextDataset: CSV and JSON Lines files of the user's own data."""
import csv
import io
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mmengine.config import Config
from mmpretrain.registry import DATASETS
from PIL import Image

from qwenclip_mm.datasets import ImageTextDataset

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture])
TRICKY = [
    'Chest X-ray, PA view: "no" consolidation; see (arrow)',
    'Multi-line\r\ncaption with CRLF\nand LF, and a lone\rCR',
    'Curly \u201cquotes\u201d, dash \u2013, 1.4 \u00d7 1.3 cm, 5 \u00b5m, '
    '\u4e2d\u6587',
    'Zero-width\u200bspace, soft\u00adhyphen, tab\tinside',
]


def write_csv(path, rows, delimiter=','):
    buf = io.StringIO(newline='')
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    with open(path, 'w', newline='', encoding='utf-8') as f:
        f.write(buf.getvalue())
    return str(path)


def write_jsonl(path, records):
    with open(path, 'w', encoding='utf-8') as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + '\n')
    return str(path)


def all_items(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


@pytest.fixture(scope='module')
def image_root(tmp_path_factory):
    """Four 8 px images, one in a sub-folder."""
    root = tmp_path_factory.mktemp('own')
    os.makedirs(root / 'images' / 'sub')
    for i, name in enumerate(['a.png', 'b.png', 'c.png', 'sub/d.jpg']):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(
            root / 'images' / name)
    return root


def test_csv_pairs_labels_concepts(image_root):
    ann = write_csv(image_root / 'train.csv', [
        ('image', 'caption', 'label', 'concepts'),
        ('a.png', ' first of a ', '10', 'C1; C2'),
        ('b.png', 'only b', '9', ''),
        ('a.png', 'second of a', '10', 'C1; C2'),
        ('sub/d.jpg', 'd', '10', 'C3'),
    ])
    dataset = ImageTextDataset(
        'train.csv',
        data_root=str(image_root),
        img_dir='images',
        label_column='label',
        concepts_column='concepts',
        check_images=True)
    assert dataset.ann_file == ann
    assert len(dataset) == dataset.text_size == 4
    assert dataset.img_size == 3
    # Integer labels sort as numbers: 9 before 10.
    assert dataset.CLASSES == ('9', '10')
    items = all_items(dataset)
    assert [i['text'] for i in items] == [
        'first of a', 'second of a', 'only b', 'd'
    ]
    assert [i['image_id'] for i in items] == [0, 0, 1, 2]
    assert [i['text_id'] for i in items] == [0, 1, 2, 3]
    assert [i['gt_label'] for i in items] == [1, 1, 0, 1]
    assert [i['concepts'] for i in items] == [['C1', 'C2'], ['C1', 'C2'], [],
                                              ['C3']]
    assert items[3]['img_path'] == str(image_root / 'images' / 'sub' /
                                       'd.jpg')
    assert items[3]['ori_id'] == 'sub/d.jpg'

    test = ImageTextDataset(
        ann, img_dir=str(image_root / 'images'), test_mode=True)
    items = all_items(test)
    assert [i['text'] for i in items] == [['first of a', 'second of a'],
                                          ['only b'], ['d']]
    assert [i['gt_text_id'] for i in items] == [[0, 1], [2], [3]]
    assert [i['gt_image_id'] for i in items] == [[0, 0], [1], [2]]
    assert [i['image_id'] for i in items] == [0, 1, 2]
    assert 'gt_label' not in items[0]


def test_several_caption_columns_and_delimiter(image_root):
    ann = write_csv(
        image_root / 'multi.tsv',
        [('file', 'c1', 'c2'), ('a.png', 'one', 'two'),
         ('b.png', 'three', 'four')],
        delimiter='\t')
    dataset = ImageTextDataset(
        ann,
        image_column='file',
        caption_column=['c1', 'c2'],
        delimiter='\t',
        test_mode=True)
    assert [i['text'] for i in all_items(dataset)] == [['one', 'two'],
                                                       ['three', 'four']]
    assert dataset.text_size == 4


def test_jsonl(image_root):
    ann = write_jsonl(image_root / 'test.jsonl', [
        dict(image='a.png', caption=['x', 'y'], label=2, tags=['C1', ' ']),
        dict(image='c.png', caption='z', label=0, tags='C2;C3'),
    ])
    dataset = ImageTextDataset(
        ann,
        img_dir=str(image_root / 'images'),
        label_column='label',
        concepts_column='tags',
        test_mode=True,
        check_images=True)
    items = all_items(dataset)
    assert [i['text'] for i in items] == [['x', 'y'], ['z']]
    assert dataset.CLASSES == ('0', '2')
    assert [i['gt_label'] for i in items] == [1, 0]
    assert [i['concepts'] for i in items] == [['C1'], ['C2', 'C3']]


def test_merge_identical_texts(image_root):
    ann = write_csv(image_root / 'classes.csv', [
        ('image', 'caption'),
        ('a.png', 'normal chest'),
        ('b.png', 'pneumonia'),
        ('c.png', 'normal chest'),
        ('c.png', 'frontal view'),
        ('sub/d.jpg', 'pneumonia'),
    ])
    train = ImageTextDataset(ann, merge_identical_texts=True)
    items = all_items(train)
    # a and c share a caption, b and d too: two groups of positives.
    assert [(i['ori_id'], i['image_id'], i['text_id']) for i in items] == [
        ('a.png', 0, 0), ('b.png', 1, 1), ('c.png', 0, 0), ('c.png', 0, 2),
        ('sub/d.jpg', 1, 1)
    ]
    test = ImageTextDataset(ann, merge_identical_texts=True, test_mode=True)
    assert test.text_size == 3 and test.img_size == 4
    items = all_items(test)
    assert [i['text'] for i in items] == [['normal chest'], ['pneumonia'],
                                          ['frontal view'], []]
    assert [i['gt_text_id'] for i in items] == [[0], [1], [0, 2], [1]]
    assert [i['gt_image_id'] for i in items] == [[[0, 2]], [[1, 3]], [[2]],
                                                 []]
    # Without merging every caption is its own gallery entry.
    strict = ImageTextDataset(ann, test_mode=True)
    assert strict.text_size == 5


@pytest.mark.parametrize('fmt', ['csv', 'jsonl'])
def test_exact_text_round_trip(tmp_path, fmt):
    captions = TRICKY + ['  surrounding spaces are removed\t']
    if fmt == 'csv':
        ann = write_csv(tmp_path / 'a.csv', [('image', 'caption')] +
                        [(f'{i}.png', c) for i, c in enumerate(captions)])
    else:
        ann = write_jsonl(tmp_path / 'a.jsonl',
                          [dict(image=f'{i}.png', caption=c)
                           for i, c in enumerate(captions)])
    items = all_items(ImageTextDataset(ann))
    assert [i['text'] for i in items] == [c.strip() for c in captions]
    assert items[1]['text'] == TRICKY[1]


@pytest.mark.parametrize(
    'rows, kwargs, message',
    [
        ([('image', 'text'), ('a.png', 'x')], {},
         r"line 1: expected the header 'image,caption', got 'image,text' "
         r'\(missing caption\)'),
        ([('image;caption', ), ('a.png;x', )], {},
         r"looks ';'-separated, pass delimiter=';'"),
        ([('image', 'caption'), ('a.png', 'x'), ('b.png', ' \t ')], {},
         r"line 3: the caption of 'b.png' is empty or only whitespace"),
        ([('image', 'caption'), ('a.png', 'x'), ('', 'y')], {},
         r"line 3: empty 'image'; expected an image path in every row"),
        ([('image', 'caption'), ('a.png', 'x'), ('a.png', ' x')], {},
         r"line 3: duplicate caption of image 'a.png' \(first on line 2\)"),
        ([('image', 'caption', 'label'), ('a.png', 'x', 'u'),
          ('a.png', 'y', 'v')], dict(label_column='label'),
         r"line 3: image 'a.png' has label 'v' here but 'u' on line 2"),
        ([('image', 'caption', 'label'), ('a.png', 'x', 'u'),
          ('b.png', 'y', 'w')], dict(label_column='label', classes=['u']),
         r"line 3: label 'w' is not in the given classes"),
        ([('image', 'caption', 'label'), ('a.png', 'x', ' ')],
         dict(label_column='label'), "line 2: empty 'label'"),
        ([('image', 'caption'), ('a.png', 'x', 'extra')], {},
         r'line 2: expected 2 fields'),
        ([('image', 'caption')], {}, 'has no rows'),
    ],
    ids=['column', 'delimiter', 'blank-caption', 'empty-image', 'duplicate',
         'label-conflict', 'label-class', 'empty-label', 'fields',
         'no-rows'])
def test_bad_csv(tmp_path, rows, kwargs, message):
    ann = write_csv(tmp_path / 'bad.csv', rows)
    with pytest.raises(ValueError, match=message) as e:
        ImageTextDataset(ann, **kwargs)
    assert str(e.value).startswith(ann)


@pytest.mark.parametrize(
    'records, message',
    [
        ([dict(image='a.png')],
         r"line 1: missing key 'caption'; expected the keys image, caption "
         r'\(got image\)'),
        ([dict(image='a.png', caption=[])],
         r"'caption' must be a string or a non-empty list of strings"),
        ([dict(image='a.png', caption=['x', 3])], 'non-empty list'),
        ([dict(image=1, caption='x')], r"'image' must be a string, got 1"),
        ([dict(image='a.png', caption='x'),
          dict(image='b.png', caption=['y', ''])],
         r"line 2: the caption of 'b.png' is empty"),
    ],
    ids=['missing-key', 'empty-list', 'not-str', 'image-type', 'empty'])
def test_bad_jsonl(tmp_path, records, message):
    ann = write_jsonl(tmp_path / 'bad.jsonl', records)
    with pytest.raises(ValueError, match=message) as e:
        ImageTextDataset(ann)
    assert str(e.value).startswith(ann)


def test_bad_jsonl_label_and_concepts(tmp_path):
    ann = write_jsonl(tmp_path / 'l.jsonl',
                      [dict(image='a.png', caption='x', label=True, c=3)])
    with pytest.raises(ValueError, match="'label' must be a string or an int"):
        ImageTextDataset(ann, label_column='label')
    with pytest.raises(ValueError, match="'c' must be a list of strings"):
        ImageTextDataset(ann, concepts_column='c')


def test_check_images_and_options(image_root, tmp_path):
    ann = write_csv(tmp_path / 'a.csv', [('image', 'caption'),
                                         ('a.png', 'x'), ('gone.png', 'y')])
    with pytest.raises(FileNotFoundError, match=r'1 of 2 images listed in '
                       r'.*a.csv are missing from .*images; first 1:\n  '
                       r'.*gone.png'):
        ImageTextDataset(
            ann, img_dir=str(image_root / 'images'), check_images=True)
    with pytest.raises(ValueError, match="file_format must be one of"):
        ImageTextDataset(ann, file_format='parquet')
    with pytest.raises(ValueError, match='caption_column must name'):
        ImageTextDataset(ann, caption_column=[])


def readme_example():
    """The config example of the README's "Your own image-text data"."""
    with open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    section = readme.split('## Your own image-text data', 1)[1]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def test_readme_config_example_builds(tmp_path):
    example = readme_example()
    assert len(example.strip().splitlines()) == 5
    root = tmp_path / 'my_set'
    os.makedirs(root / 'images')
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / 'images' /
                                                        'a.png')
    for name in ('train.csv', 'val.csv'):
        write_csv(root / name, [('image', 'caption'), ('a.png', 'x, "y"')])
    write_jsonl(root / 'test.jsonl', [dict(image='a.png', caption=['x'])])
    # As if saved in configs/qwenclip/, with the data where this test wrote
    # it.
    config = tmp_path / 'my_data.py'
    config.write_text(
        example.replace("'./", repr(osp.join(REPO_ROOT, 'configs',
                                             'qwenclip', ''))[:-1]).replace(
                                                 "'data/my_set'",
                                                 repr(str(root))))
    cfg = Config.fromfile(str(config))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = DATASETS.build(cfg[loader].dataset)
        assert isinstance(dataset, ImageTextDataset)
        packed = dataset[0]
        assert tuple(packed['inputs'].shape) == (3, 224, 224)
    assert cfg.test_dataloader.dataset.test_mode
    assert cfg.model.text_encoder.pretrained == 'Qwen/Qwen3-Embedding-0.6B'


caption_text = st.text(
    alphabet=st.sampled_from(list('ab ,;"\r\n\t\u00b5\u2013\u200b')),
    max_size=12)


@FUZZ
@given(rows=st.lists(
    st.tuples(st.sampled_from(['a.png', 'b.png', ' ', 'c d.png']),
              caption_text),
    max_size=6),
       delimiter=st.sampled_from([',', ';', '\t']))
def test_fuzz_csv_rows(tmp_path, rows, delimiter):
    """Random rows: captions read exactly, or a ValueError naming the file
    and a line, never another exception."""
    ann = write_csv(tmp_path / 'fuzz.csv', [('image', 'caption')] + rows,
                    delimiter)
    try:
        dataset = ImageTextDataset(ann, delimiter=delimiter)
    except ValueError as e:
        assert re.match(re.escape(ann) + r'(, line \d+:| has no rows)',
                        str(e))
        return
    texts = [i['text'] for i in all_items(dataset)]
    by_image = {}
    for image, caption in rows:
        by_image.setdefault(image.strip(), []).append(caption.strip())
    assert texts == [c for captions in by_image.values() for c in captions]
