"""IRMA codes to text, the hierarchy file, and IRMADataset."""
import csv
import io
import os
import os.path as osp
import re
import shutil
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwenclip_mm.datasets import (IRMADataset, describe_irma_axis,
                                  irma_code_to_text, load_irma_hierarchy,
                                  parse_irma_code)
from qwenclip_mm.testing import make_synthetic_irma

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture])
HEADER = ('image_id;irma_code;05_class;05_irma_code_submask;06_class;'
          '06_irma_code;07_irma_code;08_irma_code')
TRAIN_CODES = 'ImageCLEFmed2009_train_codes.02.csv'
TRAIN_DIR = 'ImageCLEFmed2009_train.02'
HIERARCHY = """\
# A hierarchy for tests; real users pass the IRMA code definition.
T: technical code (imaging modality)
[1] x-ray
[11] plain radiography
[112] analog
[1121] overview image
directional code
[1] coronal
[12] anteroposterior (AP)
[121] upright
A anatomical
[9] lower extremity (leg)
[94] knee
[942] left knee
B
[7] musculoskeletal system
"""


def write(path, text):
    with open(path, 'w', newline='', encoding='utf-8') as f:
        f.write(text)
    return str(path)


def make_root(root, rows, header=HEADER, eol='\n'):
    """A train split from ';'-joined rows, with an empty image folder."""
    write(osp.join(root, TRAIN_CODES), eol.join([header, *rows]) + eol)
    os.makedirs(osp.join(root, TRAIN_DIR), exist_ok=True)
    return str(root)


def row(image_id, code):
    return f'{image_id};{code};\\N;\\N;\\N;{code};{code};{code}'


def all_items(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def test_known_codes_to_text():
    text = irma_code_to_text('1121-120-942-700')
    assert text == ('Modality: x-ray, plain radiography. Orientation: '
                    'coronal, anteroposterior (AP). Body region: lower '
                    'extremity (leg), knee. System: musculoskeletal system.')
    assert 'Body region: cranium.' in irma_code_to_text('1121-120-200-700')
    assert 'Body region: chest.' in irma_code_to_text('1123-110-500-000')
    assert irma_code_to_text('1121-127-411-700', template='{anatomical}') \
        == 'upper extremity (arm), hand'
    assert irma_code_to_text('2000-000-700-400') == (
        'Modality: sonography. Orientation: unspecified. Body region: '
        'abdomen. System: gastrointestinal system.')
    assert irma_code_to_text('3000-300-200-100', template='{technical}; '
                             '{directional}') == \
        'magnetic resonance (MR); axial'
    # An unknown top level keeps the code, so no text is empty.
    assert describe_irma_axis('T', 'z000') == 'technical code z000'
    # 0 means unspecified from there on: later characters are not read.
    assert describe_irma_axis('D', '102') == 'coronal'
    assert describe_irma_axis('A', '000') == 'unspecified'


def test_parse_irma_code():
    code = parse_irma_code(' 1121-12A-942-700\n')
    assert code == ('1121', '12a', '942', '700')
    assert code.anatomical == '942' and str(code) == '1121-12a-942-700'
    for bad in ('1121-120-942', '1121_120_942_700', '11211-20-942-700',
                '1121-120-942-70', '1121-1 0-942-700', '', '\\N'):
        with pytest.raises(ValueError, match='is not an IRMA code: expected '
                           r'TTTT-DDD-AAA-BBB'):
            parse_irma_code(bad)


def test_hierarchy_refines_digit_by_digit(tmp_path):
    hierarchy = load_irma_hierarchy(write(tmp_path / 'h.txt', HIERARCHY))
    assert hierarchy['T']['1121'] == 'overview image'
    assert hierarchy['D'] == {
        '1': 'coronal',
        '12': 'anteroposterior (AP)',
        '121': 'upright'
    }
    text = irma_code_to_text('1121-121-942-700', hierarchy)
    assert text == ('Modality: x-ray, plain radiography, analog, overview '
                    'image. Orientation: coronal, anteroposterior (AP), '
                    'upright. Body region: lower extremity (leg), knee, left '
                    'knee. System: musculoskeletal system.')
    # Levels the file lacks fall back to the built-in labels, and stop at 0.
    assert describe_irma_axis('T', '1120', hierarchy) == \
        'x-ray, plain radiography, analog'
    assert describe_irma_axis('T', '2000', hierarchy) == 'sonography'
    assert describe_irma_axis('A', '410', hierarchy) == \
        'upper extremity (arm), hand'


@pytest.mark.parametrize(
    'text, message',
    [
        ('[1] x-ray\n', r'line 1: entry .* before any axis header'),
        ('T\n[12345] x\n', r"line 2: code '12345' is not a prefix of a "
         r'technical code: expected 1 to 4'),
        ('A\n[9-1] x\n', r"line 2: code '9-1' is not a prefix"),
        ('B\n[1]\n', r'line 2: code \[1\] has no label'),
        ('T\n[1] a\n\n[1] b\n', r'line 4: duplicate T code \[1\] \(first on '
         r'line 2\)'),
        ('T\nD\ntechnical\n', r'line 3: axis T \(technical\) already started '
         r'on line 1'),
        ('T\nx-ray 1\n', r"line 2: expected an axis header .* got 'x-ray 1'"),
    ],
    ids=['no-header', 'too-long', 'bad-chars', 'no-label', 'duplicate',
         'axis-twice', 'not-an-entry'])
def test_hierarchy_errors(tmp_path, text, message):
    path = write(tmp_path / 'h.txt', text)
    with pytest.raises(ValueError, match=message) as e:
        load_irma_hierarchy(path)
    assert str(e.value).startswith(path)


def test_template_checked():
    with pytest.raises(ValueError, match=r'uses \{region\}; expected only '
                       'the fields code, technical'):
        irma_code_to_text('1121-120-942-700', template='{region}')
    with pytest.raises(ValueError, match='cannot be applied'):
        irma_code_to_text('1121-120-942-700', template='{code:d}')
    with pytest.raises(ValueError, match='is not a format string'):
        IRMADataset('anywhere', text_template='{code')


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    return make_synthetic_irma(
        str(tmp_path_factory.mktemp('irma')),
        num_train=24,
        num_test=20,
        img_size=16)


def test_train_items_share_image_id_by_text(synthetic):
    dataset = IRMADataset(synthetic['data_root'], split='train')
    expected = synthetic['splits']['train']
    items = all_items(dataset)
    assert len(dataset) == dataset.img_size == 24
    assert dataset.text_size == 8
    assert dataset.CLASSES == tuple(sorted(synthetic['codes']))
    assert [i['ori_id'] for i in items] == expected['ids']
    assert [i['code'] for i in items] == expected['codes']
    for item in items:
        assert item['text'] == irma_code_to_text(item['code'])
        assert item['gt_label'] == dataset.CLASSES.index(item['code'])
        assert item['img_path'] == osp.join(synthetic['data_root'],
                                            TRAIN_DIR, item['ori_id'] +
                                            '.png')
    # Samples with one code are positives of each other in the head, so
    # they share image_id; different codes never do.
    for a in items:
        for b in items:
            assert (a['image_id'] == b['image_id']) == (a['code'] == b['code'])
            assert (a['text_id'] == b['text_id']) == (a['code'] == b['code'])
    assert sorted({i['image_id'] for i in items}) == list(range(8))


def test_test_items_are_class_level(synthetic):
    dataset = IRMADataset(
        synthetic['data_root'], split='test', test_mode=True)
    items = all_items(dataset)
    codes = synthetic['splits']['test']['codes']
    assert dataset.img_size == 20 and dataset.text_size == 8
    gallery = [text for item in items for text in item['text']]
    assert len(gallery) == len(set(gallery)) == 8
    for i, item in enumerate(items):
        assert item['image_id'] == i
        assert len(item['gt_text_id']) == 1
        assert gallery[item['gt_text_id'][0]] == irma_code_to_text(codes[i])
        # Each text is listed once, on the first image with its code, with
        # all images of the code as positives.
        first = codes.index(codes[i]) == i
        assert item['text'] == ([irma_code_to_text(codes[i])]
                                if first else [])
        if first:
            assert item['gt_image_id'] == [[
                j for j, code in enumerate(codes) if code == codes[i]
            ]]
        else:
            assert item['gt_image_id'] == []
    positives = [gt for item in items for gt in item['gt_image_id']]
    assert min(map(len, positives)) >= 2


def test_pipeline_loads_grey_png_as_rgb_and_packs(synthetic):
    pipeline = [
        dict(type='LoadImageFromFileStrict'),
        dict(
            type='PackInputs',
            algorithm_keys=['text', 'gt_text_id', 'gt_image_id'],
            meta_keys=['image_id', 'code'])
    ]
    dataset = IRMADataset(
        synthetic['data_root'],
        split='test',
        test_mode=True,
        pipeline=pipeline)
    packed = dataset[0]
    assert tuple(packed['inputs'].shape) == (3, 16, 16)
    sample = packed['data_samples']
    assert sample.gt_image_id == dataset.get_data_info(0)['gt_image_id']
    assert sample.code == synthetic['splits']['test']['codes'][0]
    assert int(sample.gt_label) == dataset.get_data_info(0)['gt_label']


def test_classes_from_train_and_repr(synthetic):
    train = IRMADataset(synthetic['data_root'], split='train')
    test = IRMADataset(
        synthetic['data_root'], split='test', classes=train.CLASSES)
    assert test.CLASSES == train.CLASSES
    text = repr(test)
    assert 'Number of categories: \t8' in text
    assert 'Distinct texts: \t8' in text
    assert 'Hierarchy file: \tnone (built-in top-level labels)' in text
    with pytest.raises(ValueError, match=r'line \d+: code 3000-300-200-100 '
                       r'is not in the given classes \(7 codes\)'):
        IRMADataset(
            synthetic['data_root'],
            split='test',
            classes=[c for c in train.CLASSES if not c.startswith('3')])
    with pytest.raises(ValueError, match=r"classes\[0\]: 'knee' is not an "
                       'IRMA code'):
        IRMADataset(synthetic['data_root'], classes=['knee'])


def test_nested_layout_img_dir_and_check_images(synthetic, tmp_path):
    root = tmp_path / 'mirror'
    os.makedirs(root)
    shutil.copy(synthetic['splits']['train']['ann_file'], root)
    shutil.copytree(synthetic['splits']['train']['img_dir'],
                    root / TRAIN_DIR / TRAIN_DIR)
    dataset = IRMADataset(str(root), check_images=True)
    assert dataset.img_prefix == str(root / TRAIN_DIR / TRAIN_DIR)

    os.rename(root / TRAIN_DIR, root / 'pngs')
    dataset = IRMADataset(
        str(root), img_dir=f'pngs/{TRAIN_DIR}', check_images=True)
    assert dataset.img_prefix == str(root / 'pngs' / TRAIN_DIR)
    with pytest.raises(FileNotFoundError, match=f'expected {root}/{TRAIN_DIR}'
                       f' or {root}/{TRAIN_DIR}/{TRAIN_DIR}; pass img_dir='):
        IRMADataset(str(root))

    ids = synthetic['splits']['train']['ids']
    img_dir = root / 'pngs' / TRAIN_DIR
    os.remove(img_dir / f'{ids[1]}.png')
    with open(img_dir / f'{ids[2]}.png', 'r+b') as f:
        f.truncate(40)
    # Without the check, construction does not touch the images.
    assert len(IRMADataset(str(root), img_dir=str(img_dir))) == 24
    with pytest.raises(FileNotFoundError) as e:
        IRMADataset(str(root), img_dir=str(img_dir), check_images=True)
    message = str(e.value)
    assert f'1 of 24 images listed in {root}/{TRAIN_CODES} are missing' in \
        message
    assert f'{ids[1]}.png' in message
    assert '1 of 24 images' in message.split('\n', 2)[2]
    assert f'{ids[2]}.png' in message


def test_hierarchy_file_separates_codes_and_warning(tmp_path):
    rows = [
        row(1, '1121-120-942-700'),
        row(2, '1123-120-942-700'),
        row(3, '1121-120-942-700'),
        row(4, '1121-120-200-700')
    ]
    root = make_root(tmp_path, rows)
    # Without a hierarchy, 1121 and 1123 are both "x-ray, plain
    # radiography": one text with three positives, and a warning.
    with pytest.warns(UserWarning,
                      match=r'2 of 3 IRMA codes share their text .*'
                      r'1121-120-942-700, 1123-120-942-700.*hierarchy_file='):
        merged = IRMADataset(root, test_mode=True)
    assert merged.text_size == 2
    assert merged.get_data_info(0)['gt_image_id'] == [[0, 1, 2]]
    assert merged.get_data_info(1)['gt_text_id'] == [0]
    assert merged.CLASSES == ('1121-120-200-700', '1121-120-942-700',
                              '1123-120-942-700')
    assert [merged.get_data_info(i)['gt_label'] for i in range(4)] == \
        [1, 2, 1, 0]
    with pytest.warns(UserWarning, match='share their text'):
        train = IRMADataset(root)
    assert [i['image_id'] for i in all_items(train)] == [0, 0, 0, 1]

    write(tmp_path / 'h.txt', 'T\n[1121] overview\n[1123] detail\n')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        split = IRMADataset(root, test_mode=True, hierarchy_file='h.txt')
    assert split.text_size == 3
    assert split.get_data_info(0)['gt_image_id'] == [[0, 2]]
    assert split.get_data_info(1)['text'] == [
        irma_code_to_text('1123-120-942-700', split.hierarchy)
    ]
    assert 'detail' in split.get_data_info(1)['text'][0]
    assert 'Hierarchy file: \t' + str(tmp_path / 'h.txt') in repr(split)


def test_crlf_and_extra_spaces(tmp_path):
    root = make_root(
        tmp_path, [' 7 ; 1121-120-942-700 ;\\N;\\N;\\N;x;x;x'], eol='\r\n')
    item = IRMADataset(root).get_data_info(0)
    assert item['ori_id'] == '7'
    assert item['code'] == '1121-120-942-700'


@pytest.mark.parametrize(
    'rows, header, message',
    [
        ([row(1, '1121-120-942-700'),
          row(1, '1121-120-200-700')], HEADER,
         r"line 3: duplicate image_id '1' \(first on line 2\)"),
        ([row(1, '1121-120-942')], HEADER,
         r"line 2: column 'irma_code': '1121-120-942' is not an IRMA code: "
         r'expected TTTT-DDD-AAA-BBB'),
        ([row(1, '1121-120-942-700'),
          row(2, '\\N')], HEADER,
         r"line 3: image '2' has no code in column 'irma_code' \('\\\\N'\); "
         r'expected an IRMA code'),
        (['1;;;;;;;'], HEADER, "line 2: image '1' has no code"),
        ([row(' ', '1121-120-942-700')], HEADER, 'line 2: empty image_id'),
        (['1;1121-120-942-700;3'], HEADER,
         r'line 2: expected 8 fields \(image_id;irma_code;'),
        ([row(1, '1121-120-942-700')], 'image_id;code;05_class',
         r"line 1: expected the header 'image_id;irma_code', got "
         r"'image_id;code;05_class' \(missing irma_code\)"),
        (['1,1121-120-942-700'], 'image_id,irma_code',
         r"line 1: .*looks ','-separated, pass delimiter=','"),
        ([], HEADER, 'has a header but no rows'),
    ],
    ids=['duplicate-id', 'bad-code', 'missing-code', 'empty-code',
         'empty-id', 'fields', 'header', 'delimiter', 'no-rows'])
def test_bad_files_name_file_and_line(tmp_path, rows, header, message):
    root = make_root(tmp_path, rows, header)
    with pytest.raises(ValueError, match=message) as e:
        IRMADataset(root)
    assert str(e.value).startswith(osp.join(root, TRAIN_CODES))


def test_missing_files_and_bad_split(tmp_path):
    os.makedirs(tmp_path / TRAIN_DIR)
    with pytest.raises(FileNotFoundError,
                       match=f"{TRAIN_CODES} not found: expected a ';'-"
                       "separated file with the header 'image_id;irma_code'"):
        IRMADataset(str(tmp_path))
    with pytest.raises(ValueError, match="split must be one of .*'valid'"):
        IRMADataset(str(tmp_path), split='valid')
    root = make_root(tmp_path, [row(1, '1121-120-942-700')])
    with pytest.raises(FileNotFoundError, match='nope.txt not found: '
                       'expected an IRMA code hierarchy file'):
        IRMADataset(root, hierarchy_file='nope.txt')


def test_other_code_column(tmp_path):
    root = make_root(tmp_path, ['1;1121-120-942-700;\\N;\\N;\\N;'
                                '1121-120-200-700;\\N;\\N'])
    dataset = IRMADataset(root, code_column='06_irma_code')
    assert dataset.get_data_info(0)['code'] == '1121-120-200-700'
    with pytest.raises(ValueError, match="no code in column '07_irma_code'"):
        IRMADataset(root, code_column='07_irma_code')


code_chars = st.sampled_from(list('0129az-A; \\N'))


@FUZZ
@given(code=st.text(alphabet=code_chars, max_size=18))
def test_fuzz_code_parser(code):
    """Any string: a normalised code, or a ValueError quoting it."""
    try:
        parsed = parse_irma_code(code)
    except ValueError as e:
        assert repr(code) in str(e)
        return
    assert re.fullmatch(r'[0-9a-z]{4}-[0-9a-z]{3}-[0-9a-z]{3}-[0-9a-z]{3}',
                        str(parsed))
    assert str(parsed) == code.strip().lower()
    assert irma_code_to_text(code)


@FUZZ
@given(rows=st.lists(
    st.tuples(
        st.text(alphabet=st.sampled_from(list('123 \\N')), max_size=3),
        st.one_of(
            st.text(alphabet=code_chars, max_size=16),
            st.sampled_from(['1121-120-942-700', '2000-000-700-400'])),
        st.text(alphabet=st.sampled_from(list(';"x\\N')), max_size=3)),
    max_size=5))
def test_fuzz_code_files(tmp_path, rows):
    """Random code files: read exactly, or a ValueError naming file and
    line, never another exception."""
    root = tmp_path / 'fuzz'
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    buf = io.StringIO(newline='')
    csv.writer(buf, delimiter=';', lineterminator='\n').writerows(rows)
    make_root(root, buf.getvalue().splitlines(),
              header='image_id;irma_code;05_class')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            dataset = IRMADataset(str(root))
    except ValueError as e:
        assert str(e).startswith(osp.join(str(root), TRAIN_CODES))
        return
    items = all_items(dataset)
    assert [i['ori_id'] for i in items] == [r[0].strip() for r in rows]
    assert [i['code'] for i in items] == [
        str(parse_irma_code(r[1])) for r in rows
    ]


def test_subset_keeps_class_level_positives(tmp_path):
    codes = ['1121-120-942-700', '1121-120-200-700', '1123-110-500-000']
    rows = [row(str(100 + i), codes[i % 3]) for i in range(9)]
    root = make_root(tmp_path, rows)
    full = IRMADataset(root, split='train', test_mode=True)
    dataset = IRMADataset(
        root, split='train', test_mode=True, subset_size=5, subset_seed=1)
    items = all_items(dataset)
    assert dataset.img_size == 5
    kept = [item['ori_id'] for item in items]
    assert kept == [i['ori_id'] for i in all_items(full)
                    if i['ori_id'] in set(kept)]
    # Galleries are the subset's: one text per code left, whose positives
    # are exactly the kept images with that code.
    subset_codes = [item['code'] for item in items]
    assert dataset.text_size == len(set(subset_codes))
    positives = [gt for item in items for gt in item['gt_image_id']]
    assert sorted(map(sorted, positives)) == sorted(
        sorted(i for i, c in enumerate(subset_codes) if c == code)
        for code in set(subset_codes))
    assert sorted(i for gt in positives for i in gt) == list(range(5))
