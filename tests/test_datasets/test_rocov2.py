import csv
import io
import os
import os.path as osp
import re
import shutil

import pytest
from PIL import Image

from qwenclip_mm.datasets import ROCOv2Dataset
from qwenclip_mm.testing import make_synthetic_rocov2
from utils import rocov2_text_dir


TRAIN_KEYS = {
    'img_path', 'text', 'image_id', 'text_id', 'ori_id', 'cuis',
    'cuis_manual', 'sample_idx'
}
TEST_KEYS = {
    'img_path', 'text', 'gt_text_id', 'gt_image_id', 'image_id', 'ori_id',
    'cuis', 'cuis_manual', 'sample_idx'
}


def write_text(path, text):
    """Write ``text`` byte for byte (no newline translation)."""
    with open(path, 'w', newline='', encoding='utf-8') as f:
        f.write(text)


def make_root(root, captions, concepts=None, manual=None, mapping=None):
    """Write a train split from raw CSV texts, with an empty image folder."""
    write_text(osp.join(root, 'train_captions.csv'), captions)
    for name, text in (('train_concepts.csv', concepts),
                       ('train_concepts_manual.csv', manual),
                       ('cui_mapping.csv', mapping)):
        if text is not None:
            write_text(osp.join(root, name), text)
    os.makedirs(osp.join(root, 'train'), exist_ok=True)
    return str(root)


def all_items(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp('rocov2')
    return make_synthetic_rocov2(
        str(root), num_train=20, num_valid=6, num_test=12, img_size=16)


def test_train_mode(synthetic):
    dataset = ROCOv2Dataset(synthetic['data_root'], split='train')
    expected = synthetic['splits']['train']
    items = all_items(dataset)
    assert len(dataset) == dataset.img_size == dataset.text_size == 20
    for i, item in enumerate(items):
        assert set(item) == TRAIN_KEYS
        assert item['image_id'] == item['text_id'] == i
        assert item['ori_id'] == expected['ids'][i]
        assert item['text'] == expected['captions'][i]
        assert item['cuis'] == expected['cuis'][i]
        assert item['cuis_manual'] == expected['cuis_manual'][i]
        assert item['img_path'] == osp.join(synthetic['data_root'], 'train',
                                            expected['ids'][i] + '.jpg')
    assert dataset.cui_names == synthetic['cui_names']
    assert dataset.cui_names['C0040405'] == 'X-Ray Computed Tomography'


def test_test_mode_matches_coco_retrieval_format(synthetic):
    dataset = ROCOv2Dataset(
        synthetic['data_root'], split='test', test_mode=True)
    expected = synthetic['splits']['test']
    assert len(dataset) == dataset.img_size == dataset.text_size == 12
    for i, item in enumerate(all_items(dataset)):
        assert set(item) == TEST_KEYS
        assert item['image_id'] == i
        assert item['text'] == [expected['captions'][i]]
        assert item['gt_text_id'] == [i]
        assert item['gt_image_id'] == [i]
        assert item['ori_id'] == expected['ids'][i]


def test_pipeline_loads_and_packs(synthetic):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(
            type='PackInputs',
            algorithm_keys=['text', 'gt_text_id', 'gt_image_id'],
            meta_keys=['image_id'])
    ]
    dataset = ROCOv2Dataset(
        synthetic['data_root'],
        split='valid',
        test_mode=True,
        pipeline=pipeline)
    packed = dataset[2]
    assert tuple(packed['inputs'].shape) == (3, 16, 16)
    assert packed['data_samples'].image_id == 2
    assert packed['data_samples'].gt_text_id == [2]
    assert packed['data_samples'].text == [
        synthetic['splits']['valid']['captions'][2]
    ]


def test_repr(synthetic):
    text = repr(ROCOv2Dataset(synthetic['data_root'], split='valid'))
    assert 'Number of samples: \t6' in text
    assert 'Split: \tvalid' in text
    assert 'valid_concepts.csv, valid_concepts_manual.csv' in text
    assert 'CUI names: \t6' in text


def test_zenodo_layout_and_img_dir(synthetic, tmp_path):
    root = tmp_path / 'zenodo'
    os.makedirs(root)
    shutil.copy(osp.join(synthetic['data_root'], 'valid_captions.csv'), root)
    shutil.copytree(
        osp.join(synthetic['data_root'], 'valid'),
        root / 'valid_images' / 'valid')
    dataset = ROCOv2Dataset(str(root), split='valid', check_images=True)
    assert dataset.img_prefix == str(root / 'valid_images' / 'valid')
    first = synthetic['splits']['valid']['ids'][0]
    assert dataset.get_data_info(0)['img_path'] == str(
        root / 'valid_images' / 'valid' / f'{first}.jpg')
    # Without the optional concept and mapping files, CUIs are empty.
    assert dataset.get_data_info(0)['cuis'] == []
    assert dataset.cui_names is None

    # img_dir overrides the search, relative to data_root or absolute.
    os.rename(root / 'valid_images', root / 'pictures')
    relative = ROCOv2Dataset(
        str(root), split='valid', img_dir='pictures/valid', check_images=True)
    assert relative.img_prefix == str(root / 'pictures' / 'valid')
    absolute = ROCOv2Dataset(
        str(root),
        split='valid',
        img_dir=osp.join(synthetic['data_root'], 'valid'),
        check_images=True)
    assert absolute.img_prefix == osp.join(synthetic['data_root'], 'valid')


def test_missing_image_folder(synthetic, tmp_path):
    shutil.copy(
        osp.join(synthetic['data_root'], 'valid_captions.csv'), tmp_path)
    with pytest.raises(FileNotFoundError) as e:
        ROCOv2Dataset(str(tmp_path), split='valid')
    assert str(tmp_path / 'valid') in str(e.value)
    assert str(tmp_path / 'valid_images' / 'valid') in str(e.value)
    assert 'img_dir' in str(e.value)
    with pytest.raises(FileNotFoundError, match='img_dir .*nowhere'):
        ROCOv2Dataset(str(tmp_path), split='valid', img_dir='nowhere')


def test_check_images_lists_missing(synthetic, tmp_path):
    root = tmp_path / 'copy'
    shutil.copytree(synthetic['data_root'], root)
    ids = synthetic['splits']['train']['ids']
    for ori_id in ids[3:10]:
        os.remove(root / 'train' / f'{ori_id}.jpg')
    # Without the check, missing images only fail when loaded.
    assert len(ROCOv2Dataset(str(root), split='train')) == 20
    with pytest.raises(FileNotFoundError) as e:
        ROCOv2Dataset(str(root), split='train', check_images=True)
    message = str(e.value)
    assert '7 of 20 images' in message
    assert 'train_captions.csv' in message
    assert 'first 5:' in message
    listed = [ori_id for ori_id in ids if ori_id in message]
    assert listed == ids[3:8]


def test_bad_split():
    with pytest.raises(ValueError, match="one of .*'val'"):
        ROCOv2Dataset('anywhere', split='val')


def test_missing_captions_file(tmp_path):
    os.makedirs(tmp_path / 'test')
    with pytest.raises(FileNotFoundError) as e:
        ROCOv2Dataset(str(tmp_path), split='test')
    assert str(tmp_path / 'test_captions.csv') in str(e.value)
    assert "'ID,Caption'" in str(e.value)


@pytest.mark.parametrize(
    'captions, message',
    [
        ('id,caption\r\nA,x\r\n',
         r"line 1: expected the header 'ID,Caption', got 'id,caption' "
         r'\(missing ID, Caption\)'),
        ('', "is empty: expected the header 'ID,Caption'"),
        ('ID,Caption\r\nA,fine\r\nB,a, b\r\n',
         r"line 3: expected 2 fields \(ID,Caption\), got 3: 'B,a, b'"),
        ('ID,Caption\r\nA,one\r\nB,two\r\nA,three\r\n',
         r"line 4: duplicate ID 'A' \(first on line 2\)"),
        # The quoted line break puts the duplicate on line 5, not record 4.
        ('ID,Caption\r\nA,"one\r\ntwo"\r\nB,x\r\nA,y\r\n',
         r"line 5: duplicate ID 'A' \(first on line 2\)"),
        ('ID,Caption\r\nA,x\r\nB,\r\n',
         r"line 3: the caption of 'B' is empty or only whitespace"),
        ('ID,Caption\r\nA,x\r\nB,"  \t "\r\n',
         r"line 3: the caption of 'B' is empty or only whitespace"),
        ('ID,Caption\r\n ,x\r\n', 'line 2: empty ID'),
        ('ID,Caption\r\nA,x\r\nB,"unclosed\r\nC,y\r\n',
         'line 3: unexpected end of data'),
        ('ID,Caption\r\nA,"quoted" then not\r\n', "line 2: ',' expected"),
    ],
    ids=[
        'header', 'empty-file', 'fields', 'duplicate', 'duplicate-multiline',
        'empty-caption', 'blank-caption', 'empty-id', 'unclosed-quote',
        'text-after-quote'
    ])
def test_caption_errors(tmp_path, captions, message):
    root = make_root(tmp_path, captions)
    with pytest.raises(ValueError, match=message) as e:
        ROCOv2Dataset(root)
    assert osp.join(root, 'train_captions.csv') in str(e.value)


@pytest.mark.parametrize(
    'files, name, message',
    [
        (dict(concepts='ID,Concepts\r\nA,C1\r\n'), 'train_concepts.csv',
         r"line 1: expected the header 'ID,CUIs'"),
        (dict(manual='ID,CUIs\r\nA,C1\r\nA,C2\r\n'),
         'train_concepts_manual.csv', r"line 3: duplicate ID 'A'"),
        (dict(mapping='CUI,Canonical name\r\nC1,One\r\nC1,Uno'),
         'cui_mapping.csv', r"line 3: duplicate CUI 'C1' \(first on line 2\)"),
        (dict(mapping='CUI,Name\r\nC1,One'), 'cui_mapping.csv',
         r"expected the header 'CUI,Canonical name'"),
    ],
    ids=['concepts-header', 'manual-duplicate', 'mapping-duplicate',
         'mapping-header'])
def test_concept_and_mapping_errors(tmp_path, files, name, message):
    root = make_root(tmp_path, 'ID,Caption\r\nA,x\r\n', **files)
    with pytest.raises(ValueError, match=message) as e:
        ROCOv2Dataset(root)
    assert osp.join(root, name) in str(e.value)


def test_not_utf8(tmp_path):
    root = make_root(tmp_path, 'ID,Caption\r\n')
    with open(osp.join(root, 'train_captions.csv'), 'ab') as f:
        f.write('A,Röntgen\r\n'.encode('latin-1'))
    with pytest.raises(ValueError, match='train_captions.csv is not UTF-8'):
        ROCOv2Dataset(root)


def test_concept_rows_without_caption_warn(tmp_path):
    root = make_root(
        tmp_path,
        'ID,Caption\r\nA,x\r\nB,y\r\n',
        concepts='ID,CUIs\r\nA,C1\r\nZ,C2\r\nB,C3\r\nY,\r\n')
    with pytest.warns(UserWarning) as record:
        dataset = ROCOv2Dataset(root)
    assert len(record) == 1
    message = str(record[0].message)
    assert 'train_concepts.csv: 2 row(s)' in message
    assert 'line 3: Z; line 5: Y' in message
    assert [item['cuis'] for item in all_items(dataset)] == [['C1'], ['C3']]


def test_exact_text_round_trip(tmp_path):
    captions = [
        'Chest X-ray, PA view, showing "consolidation" (arrow)',
        '  Leading spaces and trailing tab\t',
        'Multi-line\r\ncaption with CRLF\nand LF inside',
        'Curly \u201cquotes\u201d, dash \u2013, 1.4 \u00d7 1.3 cm, 5 \u00b5m',
        'Zero-width\u200bspace and soft\u00adhyphen',
        '\u200bZero-width space at the start is not whitespace',
        'Quote "" doubled, and ""quoted"" twice',
    ]
    buf = io.StringIO(newline='')
    csv.writer(buf).writerows([('ID', 'Caption')] +
                              [(f'R{i}', c) for i, c in enumerate(captions)])
    # A byte-order mark and no final newline, as some exports have.
    root = make_root(tmp_path, '\ufeff' + buf.getvalue().rstrip('\r\n'),
                     concepts='ID,CUIs\r\nR0, C1 ;C2;;\r\nR1,\r\n',
                     mapping='CUI,Canonical name\r\nC1," Lung, left "\r\n')
    dataset = ROCOv2Dataset(root)
    items = all_items(dataset)
    assert [item['text'] for item in items] == [c.strip() for c in captions]
    assert items[1]['text'] == 'Leading spaces and trailing tab'
    assert items[2]['text'] == 'Multi-line\r\ncaption with CRLF\nand LF inside'
    assert items[0]['ori_id'] == 'R0'
    assert items[0]['cuis'] == ['C1', 'C2']
    assert items[1]['cuis'] == items[2]['cuis'] == []
    assert items[0]['cuis_manual'] == []
    assert dataset.cui_names == {'C1': 'Lung, left'}


@pytest.fixture(scope='module')
def real_root(tmp_path_factory):
    """The real test-split text files with a placeholder image for each ID."""
    real_text = rocov2_text_dir()
    root = tmp_path_factory.mktemp('rocov2_real')
    for name in os.listdir(real_text):
        if name.endswith('.csv'):
            shutil.copy(osp.join(real_text, name), root)
    with open(root / 'test_captions.csv', newline='', encoding='utf-8') as f:
        ids = [row['ID'] for row in csv.DictReader(f)]
    placeholder = root / 'placeholder.jpg'
    Image.new('L', (2, 2)).save(placeholder)
    img_dir = root / 'test_images' / 'test'
    os.makedirs(img_dir)
    # Hard links: 9,927 directory entries without writing 9,927 files.
    for ori_id in ids:
        os.link(placeholder, img_dir / f'{ori_id}.jpg')
    return str(root)


def read_real(name):
    path = osp.join(rocov2_text_dir(), name)
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))


def test_real_test_split(real_root):
    dataset = ROCOv2Dataset(real_root, split='test', check_images=True)
    items = all_items(dataset)
    assert len(items) == dataset.img_size == dataset.text_size == 9927
    assert [item['image_id'] for item in items] == list(range(9927))
    assert [item['text_id'] for item in items] == list(range(9927))

    rows = read_real('test_captions.csv')
    assert [item['ori_id'] for item in items] == [row['ID'] for row in rows]
    assert [item['text'] for item in items] == [
        row['Caption'].strip() for row in rows
    ]
    assert items[0]['text'] == ('CT chest axial view showing a huge '
                                'ascending aortic aneurysm (*).')
    numbers = [int(item['ori_id'].rsplit('_', 1)[1]) for item in items]
    assert numbers == sorted(numbers)
    assert numbers[-1] - numbers[0] + 1 - len(numbers) == 45
    assert 'ROCOv2_2023_test_000077' not in {i['ori_id'] for i in items}

    by_id = {item['ori_id']: item for item in items}
    non_ascii = sum(ord(c) > 127 for item in items for c in item['text'])
    assert non_ascii == 1621
    assert '\u200b' in by_id['ROCOv2_2023_test_005701']['text']
    assert '\u00ad' in by_id['ROCOv2_2023_test_006822']['text']
    assert any('\u00d7' in item['text'] for item in items)

    assert items[0]['cuis'] == ['C0040405', 'C0856747']
    assert items[0]['cuis_manual'] == ['C0040405']
    assert all(item['cuis'] for item in items)
    assert sum(not item['cuis_manual'] for item in items) == 105
    assert all(re.fullmatch(r'C\d{7}', cui) for item in items
               for cui in item['cuis'] + item['cuis_manual'])
    assert len(dataset.cui_names) == 1935
    # The last row has no final newline after it.
    assert dataset.cui_names['C0037005'] == 'Shoulder dislocation'
    unnamed = {c for i in items for c in i['cuis']} - set(dataset.cui_names)
    assert len(unnamed) == 13


def test_real_test_split_retrieval_format(real_root):
    dataset = ROCOv2Dataset(real_root, split='test', test_mode=True)
    assert len(dataset) == dataset.img_size == dataset.text_size == 9927
    item = dataset.get_data_info(9926)
    assert item['ori_id'] == 'ROCOv2_2023_test_009972'
    assert item['gt_text_id'] == item['gt_image_id'] == [9926]
    assert len(item['text']) == 1 and not item['text'][0].endswith(' ')


CONCEPTS = 'ID,CUIs\r\nA,C1;C9\r\nB,\r\nC,C2\r\n'
MANUAL = 'ID,CUIs\r\nA,C3\r\nB,C3;C1\r\n'
MAPPING = 'CUI,Canonical name\r\nC1,Lung\r\nC2,"Mass, left"\r\nC3,Plain x-ray'


@pytest.mark.parametrize(
    'text_mode, texts',
    [
        ('caption', ['a, "x"', 'b', 'c']),
        ('caption+manual', [
            'a, "x"\nImage type: Plain x-ray',
            'b\nImage type: Plain x-ray; Lung', 'c'
        ]),
        # C9 is not in cui_mapping.csv: the CUI itself is written.
        ('caption+concepts',
         ['a, "x"\nConcepts: Lung; C9', 'b', 'c\nConcepts: Mass, left']),
        ('caption+concepts+manual', [
            'a, "x"\nConcepts: Lung; C9\nImage type: Plain x-ray',
            'b\nImage type: Plain x-ray; Lung', 'c\nConcepts: Mass, left'
        ]),
    ])
def test_text_mode(tmp_path, text_mode, texts):
    root = make_root(
        tmp_path,
        'ID,Caption\r\nA,"a, ""x"""\r\nB,b\r\nC,c\r\n',
        concepts=CONCEPTS,
        manual=MANUAL,
        mapping=MAPPING)
    train = ROCOv2Dataset(root, text_mode=text_mode)
    assert [item['text'] for item in all_items(train)] == texts
    test = ROCOv2Dataset(root, text_mode=text_mode, test_mode=True)
    assert [item['text'] for item in all_items(test)] == [[t] for t in texts]


def test_text_mode_errors(tmp_path):
    root = make_root(tmp_path, 'ID,Caption\r\nA,a\r\n',
                     concepts='ID,CUIs\r\nA,C1\r\n')
    for bad in ('concepts', 'caption+modality', 'caption+concepts+concepts',
                'caption+'):
        with pytest.raises(ValueError, match='text_mode must be "caption"'):
            ROCOv2Dataset(root, text_mode=bad)
    with pytest.raises(FileNotFoundError,
                       match=r"cui_mapping.csv not found: text_mode="
                       r"'caption\+concepts' needs the concept names"):
        ROCOv2Dataset(root, text_mode='caption+concepts')
    with pytest.raises(FileNotFoundError,
                       match=r"train_concepts_manual.csv not found: "
                       r"text_mode='caption\+manual' needs it"):
        ROCOv2Dataset(root, text_mode='caption+manual')


def test_merge_identical_captions(tmp_path):
    root = make_root(tmp_path, 'ID,Caption\r\nA,same\r\nB,other\r\n'
                     'C, same \r\n')
    test = ROCOv2Dataset(root, test_mode=True, merge_identical_texts=True)
    assert test.text_size == 2 and test.img_size == 3
    assert [item['gt_image_id'] for item in all_items(test)] == [[[0, 2]],
                                                                 [[1]], []]
    train = ROCOv2Dataset(root, merge_identical_texts=True)
    assert [item['image_id'] for item in all_items(train)] == [0, 1, 0]


def test_check_images_lists_unreadable(synthetic, tmp_path):
    root = tmp_path / 'copy'
    shutil.copytree(synthetic['data_root'], root)
    broken = root / 'valid' / (synthetic['splits']['valid']['ids'][2] +
                               '.jpg')
    broken.write_bytes(b'')
    with pytest.raises(OSError) as e:
        ROCOv2Dataset(str(root), split='valid', check_images=True)
    assert not isinstance(e.value, FileNotFoundError)
    assert '1 of 6 images listed in' in str(e.value)
    assert f'{broken} (' in str(e.value)


def test_real_test_split_text_mode(real_root):
    dataset = ROCOv2Dataset(
        real_root, split='test', text_mode='caption+manual+concepts')
    assert dataset.get_data_info(0)['text'] == (
        'CT chest axial view showing a huge ascending aortic aneurysm (*).\n'
        'Image type: X-Ray Computed Tomography\n'
        'Concepts: X-Ray Computed Tomography; Aneurysm, Ascending Aorta')


def test_subset_is_deterministic_and_renumbered(synthetic, tmp_path):
    root = synthetic['data_root']
    full = all_items(ROCOv2Dataset(root, split='test', test_mode=True))
    dataset = ROCOv2Dataset(
        root, split='test', test_mode=True, subset_size=5, subset_seed=3)
    items = all_items(dataset)
    assert len(items) == dataset.img_size == dataset.text_size == 5
    # Galleries and positives are the subset's own, numbered from 0.
    assert [item['image_id'] for item in items] == list(range(5))
    assert [item['gt_text_id'] for item in items] == [[i] for i in range(5)]
    assert [item['gt_image_id'] for item in items] == [[i] for i in range(5)]
    # Whole images with their captions, in file order.
    by_id = {item['ori_id']: item for item in full}
    kept = [item['ori_id'] for item in items]
    assert kept == [i['ori_id'] for i in full if i['ori_id'] in set(kept)]
    assert all(item['text'] == by_id[item['ori_id']]['text']
               and item['cuis'] == by_id[item['ori_id']]['cuis']
               for item in items)

    # Keyed by the IDs: the same images when the file's rows are shuffled.
    shuffled = tmp_path / 'shuffled'
    shutil.copytree(root, shuffled)
    path = shuffled / 'test_captions.csv'
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    rows = rows[:1] + rows[1:][::-1]
    with open(path, 'w', newline='', encoding='utf-8') as f:
        csv.writer(f).writerows(rows)
    again = ROCOv2Dataset(
        str(shuffled), split='test', test_mode=True, subset_size=5,
        subset_seed=3)
    assert sorted(item['ori_id'] for item in all_items(again)) == sorted(kept)

    other = ROCOv2Dataset(
        root, split='test', test_mode=True, subset_size=5, subset_seed=4)
    assert [item['ori_id'] for item in all_items(other)] != kept

    # Training mode draws the same images.
    train = ROCOv2Dataset(
        root, split='test', subset_size=5, subset_seed=3)
    assert [item['ori_id'] for item in all_items(train)] == kept


@pytest.mark.parametrize('size', [0, 13, -1, 2.5, True])
def test_subset_size_errors(synthetic, size):
    root = synthetic['data_root']
    with pytest.raises(ValueError, match=r'subset_size must be an int in '
                       r'1\.\.12 \(the images in .*test_captions\.csv\)'):
        ROCOv2Dataset(
            root, split='test', test_mode=True, subset_size=size)


def test_real_test_split_2000_pair_subset(real_root):
    dataset = ROCOv2Dataset(
        real_root, split='test', test_mode=True, subset_size=2000)
    items = all_items(dataset)
    assert len(items) == dataset.img_size == dataset.text_size == 2000
    ids = [item['ori_id'] for item in items]
    assert len(set(ids)) == 2000
    rows = {row['ID']: row['Caption'].strip()
            for row in read_real('test_captions.csv')}
    assert all(item['text'] == [rows[item['ori_id']]] for item in items)
    # Spread over the whole split, not its head.
    numbers = sorted(int(i.rsplit('_', 1)[1]) for i in ids)
    assert numbers[0] < 100 and numbers[-1] > 9800
