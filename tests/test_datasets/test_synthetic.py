import csv
import filecmp
import os
import os.path as osp
import re

import numpy as np
import pytest
from PIL import Image

from qwenclip_mm.datasets import ROCOv2Dataset
from qwenclip_mm.testing import make_synthetic_rocov2, synthetic_corpus
from qwenclip_mm.testing.synthetic_rocov2 import RADIOLOGY_WORDS

SIZES = dict(train=60, valid=10, test=12)
IMG_SIZE = 32

# Stated independently of the generator: the words that name a sample's
# modality, body region, finding position and finding size.
FACTOR_WORDS = {
    'modality': {
        'CT': {'ct', 'computed', 'tomography', 'hyperdense'},
        'MRI': {'mri', 'magnetic', 'resonance', 'hypointense'},
        'X-ray': {'x', 'ray', 'radiograph', 'radiopaque'},
    },
    'region': {
        'head': {'head', 'skull'},
        'chest': {'chest', 'thorax'},
    },
    'size': {
        'small': {'small', 'tiny'},
        'large': {'large', 'bulky'},
    },
}
DISTINGUISHING = set().union(*(words for table in FACTOR_WORDS.values()
                               for words in table.values()),
                             {'upper', 'lower', 'left', 'right'})


def tokens(text):
    return [t.lower() for t in re.findall(r'\w+|[^\w\s]', text)]


def make(root, seed=0, **sizes):
    sizes = {**SIZES, **sizes}
    return make_synthetic_rocov2(
        str(root),
        num_train=sizes['train'],
        num_valid=sizes['valid'],
        num_test=sizes['test'],
        img_size=IMG_SIZE,
        seed=seed)


@pytest.fixture(scope='module')
def info(tmp_path_factory):
    return make(tmp_path_factory.mktemp('synthetic'))


def all_samples(info):
    for split in info['splits'].values():
        yield from zip(split['ids'], split['captions'], split['factors'])


def test_layout_is_rocov2(info):
    root = info['data_root']
    csvs = {
        f'{split}_{kind}.csv'
        for split in SIZES for kind in ('captions', 'concepts',
                                        'concepts_manual')
    }
    assert set(os.listdir(root)) == csvs | set(SIZES) | {'cui_mapping.csv'}
    assert sorted(info['files']) == sorted(
        osp.join(root, name) for name in csvs | {'cui_mapping.csv'})

    for split, num in SIZES.items():
        ids = info['splits'][split]['ids']
        assert len(ids) == num
        assert all(re.fullmatch(rf'ROCOv2_2023_{split}_\d{{6}}', i)
                   for i in ids)
        numbers = [int(i[-6:]) for i in ids]
        assert numbers == sorted(set(numbers))
        assert numbers[-1] - numbers[0] + 1 > num  # IDs have gaps
        assert sorted(os.listdir(osp.join(root, split))) == sorted(
            f'{i}.jpg' for i in ids)
        with Image.open(osp.join(root, split, f'{ids[0]}.jpg')) as img:
            assert (img.format, img.mode, img.size) == ('JPEG', 'RGB',
                                                        (IMG_SIZE, IMG_SIZE))

        for kind, header in (('captions', b'ID,Caption\r\n'),
                             ('concepts', b'ID,CUIs\r\n'),
                             ('concepts_manual', b'ID,CUIs\r\n')):
            raw = open(osp.join(root, f'{split}_{kind}.csv'), 'rb').read()
            assert raw.startswith(header)
            assert raw.endswith(b'\r\n')
            assert raw.count(b'\n') == raw.count(b'\r\n') == num + 1

        with open(osp.join(root, f'{split}_concepts.csv'), newline='') as f:
            concepts = {r['ID']: r['CUIs'] for r in csv.DictReader(f)}
        with open(osp.join(root, f'{split}_concepts_manual.csv'),
                  newline='') as f:
            manual = {r['ID']: r['CUIs'] for r in csv.DictReader(f)}
        assert list(concepts) == list(manual) == ids
        for i, cuis in zip(ids, info['splits'][split]['cuis']):
            assert concepts[i].split(';') == cuis
            assert set(manual[i].split(';')) - {''} <= set(cuis)

    raw = open(osp.join(root, 'cui_mapping.csv'), 'rb').read()
    assert raw.startswith(b'CUI,Canonical name\r\n')
    assert not raw.endswith(b'\n')  # like the real file
    used = {c for s in info['splits'].values() for cs in s['cuis'] for c in cs}
    assert used == set(info['cui_names'])
    assert info['cui_names']['C0040405'] == 'X-Ray Computed Tomography'


def test_reads_back_with_rocov2_dataset(info):
    for split in SIZES:
        dataset = ROCOv2Dataset(
            info['data_root'], split=split, check_images=True)
        expected = info['splits'][split]
        items = [dataset.get_data_info(i) for i in range(len(dataset))]
        assert [item['text'] for item in items] == expected['captions']
        assert [item['cuis'] for item in items] == expected['cuis']
        assert [item['cuis_manual']
                for item in items] == expected['cuis_manual']
        assert dataset.cui_names == info['cui_names']


def test_deterministic_per_seed(info, tmp_path):
    again = make(tmp_path / 'again')
    names = sorted(n for n in os.listdir(info['data_root'])
                   if n.endswith('.csv'))
    for split in SIZES:
        names += [
            osp.join(split, n)
            for n in sorted(os.listdir(osp.join(info['data_root'], split)))
        ]
    match, _, _ = filecmp.cmpfiles(
        info['data_root'], again['data_root'], names, shallow=False)
    assert match == names
    assert again['splits'] == info['splits']

    other = make(tmp_path / 'other', seed=1)
    assert other['splits']['train']['captions'] != info['splits']['train'][
        'captions']

    # Each split has its own stream: more training data leaves test alone.
    bigger = make(tmp_path / 'bigger', train=80)
    assert bigger['splits']['test'] == info['splits']['test']
    assert filecmp.cmp(
        osp.join(info['data_root'], 'test_captions.csv'),
        osp.join(bigger['data_root'], 'test_captions.csv'),
        shallow=False)


def test_captions_state_the_factors(info):
    for ori_id, caption, factors in all_samples(info):
        words = set(tokens(caption))
        for factor, table in FACTOR_WORDS.items():
            for value, value_words in table.items():
                if value == factors[factor]:
                    assert words & value_words, (ori_id, factor, caption)
                else:
                    assert not words & value_words, (ori_id, factor, caption)
        vertical, horizontal = factors['position'].split()
        assert {vertical, horizontal} <= words, (ori_id, caption)
        assert not {'upper', 'lower', 'left', 'right'} - {
            vertical, horizontal
        } & words, (ori_id, caption)


def test_caption_lengths(info):
    lengths = [len(tokens(c)) for _, c, _ in all_samples(info)]
    assert min(lengths) <= 12
    assert max(lengths) > 200
    assert sum(n > 200 for n in lengths) >= 3
    for split, num in SIZES.items():
        assert len(info['splits'][split]['long_ids']) == round(0.3 * num)
    assert info['long_ids'] == [
        i for s in info['splits'].values() for i in s['long_ids']
    ]


def test_long_reports_hide_factors_after_token_77(info):
    long_ids = set(info['long_ids'])
    for ori_id, caption, _ in all_samples(info):
        words = tokens(caption)
        first = next(k for k, w in enumerate(words) if w in DISTINGUISHING)
        if ori_id in long_ids:
            assert first >= 80, (ori_id, first, caption)
            assert len(words) > 100
        else:
            assert first < 20, (ori_id, caption)


def finding_scores(path, modality):
    """Excess brightness of each quadrant's inner disc over its mirror.

    Comparing with the left-right mirror cancels the symmetric anatomy
    (body outline, skull, ribs), leaving the finding: positive in its
    quadrant, about proportional to its area.
    """
    with Image.open(path) as img:
        a = np.asarray(img.convert('L'), dtype=float) / 255
    c = (np.arange(IMG_SIZE) + 0.5) / IMG_SIZE * 2 - 1
    y, x = np.meshgrid(c, c, indexing='ij')
    sign = -1 if modality == 'MRI' else 1  # MRI findings are dark
    scores = {}
    for position in ('upper left', 'upper right', 'lower left',
                     'lower right'):
        px = -0.32 if 'left' in position else 0.32
        py = -0.32 if 'upper' in position else 0.32
        disc = (x - px)**2 + (y - py)**2 < 0.26**2
        mirror = (x + px)**2 + (y - py)**2 < 0.26**2
        scores[position] = sign * (a[disc].sum() - a[mirror].sum()) / a.size
    return a, scores


def test_images_show_the_factors(info):
    size_scores = {}
    for split in SIZES:
        for ori_id, factors in zip(info['splits'][split]['ids'],
                                   info['splits'][split]['factors']):
            path = osp.join(info['data_root'], split, f'{ori_id}.jpg')
            img, scores = finding_scores(path, factors['modality'])
            assert max(scores, key=scores.get) == factors['position'], ori_id
            size_scores.setdefault((factors['modality'], factors['size']),
                                   []).append(scores[factors['position']])

            body = img > 0.15
            rows, cols = np.nonzero(body)
            aspect = np.ptp(cols) / np.ptp(rows)
            if factors['region'] == 'chest':
                assert aspect > 1.2, ori_id
            else:
                assert 0.9 < aspect < 1.1, ori_id
            level = np.median(img[body])
            low, high = dict(
                CT=(0.35, 0.65), MRI=(0.65, 1), **{'X-ray': (0, 0.35)})[
                    factors['modality']]
            assert low < level < high, (ori_id, level)
    for modality in ('CT', 'MRI', 'X-ray'):
        assert min(size_scores[modality, 'large']) > 1.5 * max(
            size_scores[modality, 'small']), modality


def test_corpus(tmp_path):
    corpus = synthetic_corpus(seed=0)
    assert corpus == synthetic_corpus(seed=0)
    assert corpus != synthetic_corpus(seed=1)
    # The default-size data set's captions, then the word list.
    written = make_synthetic_rocov2(str(tmp_path), img_size=8, seed=0)
    captions = [c for s in written['splits'].values() for c in s['captions']]
    assert len(captions) == 600 + 64 + 64
    assert corpus == captions + list(RADIOLOGY_WORDS)
    assert all(isinstance(text, str) and text for text in corpus)


def test_rejects_empty_split(tmp_path):
    with pytest.raises(ValueError, match='num_valid must be at least 1'):
        make_synthetic_rocov2(str(tmp_path), num_valid=0)
