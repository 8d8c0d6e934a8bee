"""A small synthetic data set in the exact ROCOv2 layout.

Neither ROCOv2 nor any checkpoint can be downloaded where the tests and the
demo run, so :func:`make_synthetic_rocov2` writes a data set that
:class:`~qwenclip_mm.datasets.ROCOv2Dataset` reads through the same code path
as the real one, and that a tiny CLIP (a 2-layer ViT on 64 px images, a
2-layer text transformer of width 64) learns retrieval on in a few hundred
steps of batch 64, a few minutes on a CPU.

Each image shows four factors its caption states:

- modality as texture and contrast: CT is a grey body with fine noise and a
  bright (hyperdense) finding; MRI a smooth bright body with a dark
  (hypointense) finding; X-ray a faint body with bright bones and a bright
  (radiopaque) finding;
- body region as a coarse shape: the head is round, the chest a wide oval;
- the finding's quadrant: upper left, upper right, lower left, lower right;
- the finding's size: small or large.

That is 3 x 2 x 4 x 2 = 48 combinations, but a model learns the four
factors separately. Captions range from about 10 tokens to over 200. About
30% are long reports whose first 90+ tokens are generic history shared in
kind by all samples, with every distinguishing word after them: a text
tower that truncates at 77 tokens cannot tell these apart, one that reads
the whole report can.
"""
import csv
import io
import itertools
import os
import os.path as osp
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from qwenclip_mm.datasets.rocov2 import (CAPTION_COLUMNS, CONCEPT_COLUMNS,
                                         CUI_MAPPING_COLUMNS, SPLITS)
from qwenclip_mm.testing.synthetic_rocov2_images import \
    render_rocov2_image

MODALITIES = ('CT', 'MRI', 'X-ray')
REGIONS = ('head', 'chest')
POSITIONS = ('upper left', 'upper right', 'lower left', 'lower right')
SIZES = ('small', 'large')

# Synonyms make the text tower learn words, not fixed strings. Every word
# here is a distinguishing word (see KEY_WORDS); templates and boilerplate
# must use none of them.
_MODALITY_WORDS = {
    'CT': ('CT', 'Computed tomography'),
    'MRI': ('MRI', 'Magnetic resonance'),
    'X-ray': ('X-ray', 'Radiograph'),
}
_FINDING_WORDS = {
    'CT': ('hyperdense', ),
    'MRI': ('hypointense', ),
    'X-ray': ('radiopaque', ),
}
_REGION_WORDS = {'head': ('head', 'skull'), 'chest': ('chest', 'thorax')}
_POSITION_WORDS = {
    'upper left': ('upper left', 'left upper'),
    'upper right': ('upper right', 'right upper'),
    'lower left': ('lower left', 'left lower'),
    'lower right': ('lower right', 'right lower'),
}
_SIZE_WORDS = {'small': ('small', 'tiny'), 'large': ('large', 'bulky')}

# Word tokens, with punctuation marks as tokens of their own: a lower bound
# on the count of any BPE tokenizer (CLIP's, Qwen's) for this text.
_TOKEN_RE = re.compile(r'\w+|[^\w\s]')

#: frozenset[str]: The lower-case words that tell samples apart.
KEY_WORDS = frozenset(
    word.lower()
    for table in (_MODALITY_WORDS, _FINDING_WORDS, _REGION_WORDS,
                  _POSITION_WORDS, _SIZE_WORDS)
    for phrases in table.values() for phrase in phrases
    for word in re.findall(r'\w+', phrase))

# UMLS CUIs as ROCOv2 uses them, with cui_mapping.csv's canonical names.
CUI_NAMES = {
    'C0040405': 'X-Ray Computed Tomography',
    'C0024485': 'Magnetic Resonance Imaging',
    'C1306645': 'Plain x-ray',
    'C0018670': 'Head',
    'C0817096': 'Chest',
    'C0221198': 'Lesion',
}
_MODALITY_CUI = {'CT': 'C0040405', 'MRI': 'C0024485', 'X-ray': 'C1306645'}
_REGION_CUI = {'head': 'C0018670', 'chest': 'C0817096'}
_LESION_CUI = 'C0221198'

_SHORT_TEMPLATES = (
    '{mod} {region}: {size} {finding} lesion, {pos}.',
    '{mod} of the {region} showing a {size} {finding} lesion in the {pos} '
    'quadrant.',
    '{mod} {region} with a {size} {finding} focus, {pos} quadrant.',
)
_MEDIUM_TEMPLATES = (
    '{mod} of the {region} demonstrates a {size}, well defined {finding} '
    'lesion in the {pos} quadrant of the image (arrow), without surrounding '
    'oedema or mass effect.',
    '{mod} of the {region}. There is a {size} {finding} lesion in the {pos} '
    'quadrant (white arrow). The remaining structures appear normal for age.',
    '{mod} of the {region} obtained on admission – a {size} {finding} lesion '
    'in the {pos} part of the image (\u201casterisk\u201d).',
)
_LONG_FINDINGS = ('Findings: {mod} of the {region} shows a {size} {finding} '
                  'lesion in the {pos} quadrant.')
_LONG_IMPRESSION = 'Impression: {size} {finding} lesion, {pos}, as described.'

_HISTORY = (
    'Clinical history: the patient presented to the emergency department '
    'with a three week history of intermittent pain, fatigue and low grade '
    'fever.',
    'There is no relevant past medical history apart from treated '
    'hypertension and type two diabetes mellitus.',
    'The examination was requested by the referring physician to exclude an '
    'acute process and to assess the extent of known disease.',
    'Comparison is made with a prior study performed at an outside '
    'institution, which is not available for direct review.',
    'Informed consent was obtained and the examination was performed '
    'according to the standard departmental protocol.',
    'The patient tolerated the procedure well and no immediate complication '
    'was recorded.',
    'Image quality is adequate for diagnostic interpretation, with minor '
    'motion artefact.',
    'Laboratory results showed a mildly raised white cell count and elevated '
    'inflammatory markers.',
    'The patient is a middle aged adult with a long history of smoking and '
    'occasional alcohol use.',
    'Symptoms had gradually worsened over the preceding days despite simple '
    'analgesia and rest.',
    'There was no history of recent trauma, travel or contact with unwell '
    'individuals.',
    'Medications on admission included aspirin, a statin and an inhaled '
    'bronchodilator.',
    'Physical examination revealed mild tenderness but no focal neurological '
    'deficit.',
    'The referral letter mentions weight loss of several kilograms over the '
    'past two months.',
    'Family history is notable for cardiovascular disease in a first degree '
    'relative.',
    'The images were reviewed on a dedicated workstation using standard '
    'window settings.',
    'Technique: images were acquired in multiple planes and reconstructed at '
    'standard slice thickness.',
)
_CLOSING = (
    'Recommend clinical correlation and follow up imaging in six to eight '
    'weeks.',
    'These findings were discussed with the referring team at the time of '
    'reporting.',
    'No other abnormality is identified within the field of view.',
    'The visualised soft tissues and vascular structures are otherwise '
    'unremarkable.',
    'Report dictated by the duty radiologist and verified by a consultant.',
    'Further characterisation with a dedicated protocol may be considered if '
    'clinically indicated.',
    'There is no evidence of fracture, free fluid or foreign body.',
    'Appearances are stable compared with the outside study where visible.',
    'Please contact the department if further assistance with '
    'interpretation is required.',
    'A multidisciplinary team review has been requested to guide further '
    'management.',
    'The overall appearance is in keeping with the clinical suspicion.',
)

# Words for a tokenizer to learn beyond the synthetic captions, so the tiny
# demo tokenizer also splits real radiology text sensibly.
RADIOLOGY_WORDS = (
    'abdomen', 'abscess', 'adenopathy', 'adrenal', 'aneurysm', 'angiogram',
    'angiography', 'anterior', 'aorta', 'aortic', 'appendicitis', 'artery',
    'atelectasis', 'attenuation', 'axial', 'biliary', 'bladder', 'bone',
    'bowel', 'brain', 'breast', 'bronchiectasis', 'calcification',
    'cardiomegaly', 'carotid', 'cerebral', 'cervical', 'cholecystitis',
    'cirrhosis', 'colon', 'consolidation', 'contrast', 'coronal', 'cortex',
    'cyst', 'diffusion', 'dilatation', 'dislocation', 'distal', 'doppler',
    'duodenum', 'echocardiography', 'effusion', 'embolism', 'emphysema',
    'enhancement', 'fistula', 'fluoroscopy', 'fracture', 'gadolinium',
    'gallbladder', 'haematoma', 'haemorrhage', 'hemorrhage', 'hepatic',
    'hernia', 'hilar', 'hydronephrosis', 'hyperintense', 'hypoattenuating',
    'hypodense', 'hypoechoic', 'infarct', 'infiltrate', 'intracranial',
    'ischemia', 'kidney', 'knee', 'lateral', 'liver', 'lumbar', 'lung',
    'lymph', 'mammogram', 'mandible', 'mass', 'mediastinum', 'metastasis',
    'nodule', 'occlusion', 'oedema', 'edema', 'opacity', 'pancreas',
    'parenchyma', 'pelvis', 'pericardial', 'perfusion', 'peritoneal', 'PET',
    'pleural', 'pneumonia', 'pneumothorax', 'portal', 'posterior', 'prostate',
    'proximal', 'pulmonary', 'renal', 'retroperitoneal', 'sagittal',
    'sclerosis', 'scintigraphy', 'shoulder', 'sinus', 'spine', 'spleen',
    'stenosis', 'stent', 'subdural', 'T1-weighted', 'T2-weighted',
    'thrombosis', 'thyroid', 'trachea', 'tumour', 'tumor', 'ultrasound',
    'ureter', 'uterus', 'vascular', 'vein', 'ventricle', 'vertebra',
    'vertebral', 'white arrow', 'arrowhead', 'asterisk',
)


_DEFAULT_SIZES = dict(train=600, valid=64, test=64)


def _tokens(text: str) -> List[str]:
    return _TOKEN_RE.findall(text)


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _split_rng(seed: int, split: str, stream: int) -> np.random.Generator:
    """Return a generator for one split and one purpose.

    Separate streams keep captions independent of ``img_size`` and each
    split independent of the sizes of the others.
    """
    return np.random.default_rng([seed, SPLITS.index(split), stream])


def _fill(sentences: Tuple[str, ...], min_tokens: int,
          rng: np.random.Generator) -> List[str]:
    """Draw sentences in random order until they hold ``min_tokens``."""
    order = itertools.cycle(rng.permutation(len(sentences)))
    drawn, count = [], 0
    while count < min_tokens:
        sentence = sentences[next(order)]
        drawn.append(sentence)
        count += len(_tokens(sentence))
    return drawn


def _caption(factors: Dict[str, str], kind: str, long_index: int,
             rng: np.random.Generator) -> str:
    """Write the caption of one sample.

    Args:
        factors (dict): ``modality``, ``region``, ``position``, ``size``.
        kind (str): ``'short'``, ``'medium'`` or ``'long'``.
        long_index (int): The sample's rank among the split's long samples;
            every other long report is made longer than 200 tokens.
        rng (np.random.Generator): The caption stream.
    """
    modality = factors['modality']
    words = dict(
        mod=_pick(rng, _MODALITY_WORDS[modality]),
        finding=_pick(rng, _FINDING_WORDS[modality]),
        region=_pick(rng, _REGION_WORDS[factors['region']]),
        pos=_pick(rng, _POSITION_WORDS[factors['position']]),
        size=_pick(rng, _SIZE_WORDS[factors['size']]))
    if kind == 'short':
        return _pick(rng, _SHORT_TEMPLATES).format(**words)
    if kind == 'medium':
        return _pick(rng, _MEDIUM_TEMPLATES).format(**words)
    history = _fill(_HISTORY, int(rng.integers(90, 121)), rng)
    findings = _LONG_FINDINGS.format(**words)
    impression = _LONG_IMPRESSION.format(**words)
    target = int(
        rng.integers(205, 261) if long_index % 2 == 0 else rng.integers(
            110, 181))
    used = sum(len(_tokens(s)) for s in history + [findings, impression])
    closing = _fill(_CLOSING, target - used, rng)
    return ' '.join(history + [findings] + closing + [impression])


def _sample_split(split: str, num: int, seed: int) -> dict:
    """Draw the IDs, factors, captions and concepts of one split."""
    rng = _split_rng(seed, split, 0)
    # ROCOv2's IDs are numbered with gaps; remove a few inner numbers.
    num_gaps = max(1, num // 25) if num > 1 else 0
    gaps = set(
        rng.choice(np.arange(2, num + num_gaps), num_gaps,
                   replace=False).tolist())
    numbers = [k for k in range(1, num + num_gaps + 1) if k not in gaps]
    ids = [f'ROCOv2_2023_{split}_{k:06d}' for k in numbers]

    is_long = np.zeros(num, dtype=bool)
    is_long[rng.choice(num, round(0.3 * num), replace=False)] = True
    samples = []
    for i, ori_id in enumerate(ids):
        factors = dict(
            modality=_pick(rng, MODALITIES),
            region=_pick(rng, REGIONS),
            position=_pick(rng, POSITIONS),
            size=_pick(rng, SIZES))
        kind = 'long' if is_long[i] else _pick(rng, ('short', 'medium'))
        caption = _caption(factors, kind, int(is_long[:i].sum()), rng)
        modality_cui = _MODALITY_CUI[factors['modality']]
        samples.append(
            dict(
                ori_id=ori_id,
                factors=factors,
                caption=caption,
                is_long=bool(is_long[i]),
                cuis=[modality_cui, _REGION_CUI[factors['region']],
                      _LESION_CUI],
                # Like the real manual concepts, a few rows are empty.
                cuis_manual=[] if rng.random() < 0.05 else [modality_cui]))
    return samples


def _write_csv(path: str,
               header: Sequence[str],
               rows: List[Tuple[str, str]],
               final_newline: bool = True):
    """Write a CSV as ROCOv2's files are: CRLF, minimal quoting, UTF-8."""
    buf = io.StringIO(newline='')
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    if not final_newline:
        text = text[:-len('\r\n')]
    with open(path, 'w', newline='', encoding='utf-8') as f:
        f.write(text)


def make_synthetic_rocov2(out_dir: str,
                          num_train: int = _DEFAULT_SIZES['train'],
                          num_valid: int = _DEFAULT_SIZES['valid'],
                          num_test: int = _DEFAULT_SIZES['test'],
                          img_size: int = 64,
                          seed: int = 0) -> dict:
    """Write a synthetic data set in ROCOv2's layout.

    Files written under ``out_dir`` (existing ones are overwritten): ::

        out_dir
        ├── train_captions.csv           ID,Caption
        ├── train_concepts.csv           ID,CUIs
        ├── train_concepts_manual.csv    ID,CUIs (about 5% rows empty)
        ├── valid_... , test_...
        ├── cui_mapping.csv              CUI,Canonical name (no final newline)
        ├── train/ROCOv2_2023_train_000001.jpg ...
        ├── valid/
        └── test/

    Same arguments give byte-identical files. Each split is drawn from its
    own random stream, so changing ``num_train`` leaves valid and test as
    they were, and captions do not depend on ``img_size``.

    Args:
        out_dir (str): The folder to write to; created if missing.
        num_train (int): Training images. Defaults to 600.
        num_valid (int): Validation images. Defaults to 64.
        num_test (int): Test images. Defaults to 64.
        img_size (int): Image height and width in pixels. Defaults to 64.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: What was written:

        - ``data_root`` (str): ``out_dir``.
        - ``img_size`` (int), ``seed`` (int): the arguments.
        - ``splits`` (dict): for ``'train'``, ``'valid'``, ``'test'``, a dict
          with ``ids``, ``captions`` (list[str], file order), ``factors``
          (list of dicts with ``modality``, ``region``, ``position``,
          ``size``), ``long_ids`` (list[str]), ``cuis`` and ``cuis_manual``
          (list[list[str]]).
        - ``long_ids`` (list[str]): the long reports of all splits, whose
          distinguishing words (:data:`KEY_WORDS`) all come after token 90.
        - ``cui_names`` (dict[str, str]): the CUI mapping written.
        - ``files`` (list[str]): the CSV files written.
    """
    sizes = dict(train=num_train, valid=num_valid, test=num_test)
    for split, num in sizes.items():
        if num < 1:
            raise ValueError(f'num_{split} must be at least 1, got {num}')
    os.makedirs(out_dir, exist_ok=True)
    result = dict(
        data_root=out_dir,
        img_size=img_size,
        seed=seed,
        splits={},
        long_ids=[],
        cui_names=dict(CUI_NAMES),
        files=[])
    for split in SPLITS:
        samples = _sample_split(split, sizes[split], seed)
        img_dir = osp.join(out_dir, split)
        os.makedirs(img_dir, exist_ok=True)
        rng = _split_rng(seed, split, 1)
        for sample in samples:
            # RGB like most ROCOv2 files, so the usual 3-channel pipelines
            # apply unchanged.
            img = Image.fromarray(
                render_rocov2_image(sample['factors'], img_size, rng))
            img.convert('RGB').save(
                osp.join(img_dir, f'{sample["ori_id"]}.jpg'), quality=95)
        tables = dict(
            captions=(CAPTION_COLUMNS,
                      [(s['ori_id'], s['caption']) for s in samples]),
            concepts=(CONCEPT_COLUMNS,
                      [(s['ori_id'], ';'.join(s['cuis'])) for s in samples]),
            concepts_manual=(CONCEPT_COLUMNS,
                             [(s['ori_id'], ';'.join(s['cuis_manual']))
                              for s in samples]))
        for name, (header, rows) in tables.items():
            path = osp.join(out_dir, f'{split}_{name}.csv')
            _write_csv(path, header, rows)
            result['files'].append(path)
        long_ids = [s['ori_id'] for s in samples if s['is_long']]
        result['splits'][split] = dict(
            ids=[s['ori_id'] for s in samples],
            captions=[s['caption'] for s in samples],
            factors=[s['factors'] for s in samples],
            long_ids=long_ids,
            cuis=[s['cuis'] for s in samples],
            cuis_manual=[s['cuis_manual'] for s in samples])
        result['long_ids'].extend(long_ids)
    path = osp.join(out_dir, 'cui_mapping.csv')
    # The real cui_mapping.csv ends without a newline; readers must cope.
    _write_csv(
        path, CUI_MAPPING_COLUMNS, list(CUI_NAMES.items()),
        final_newline=False)
    result['files'].append(path)
    return result


def synthetic_corpus(seed: int = 0) -> List[str]:
    """Return text to train a tokenizer for the synthetic data on.

    Args:
        seed (int): The seed of the data set to match. Defaults to 0.

    Returns:
        list[str]: Every caption :func:`make_synthetic_rocov2` writes with
        its default sizes and ``seed`` (all splits, file order), followed by
        :data:`RADIOLOGY_WORDS`.
    """
    captions = [
        s['caption'] for split in SPLITS
        for s in _sample_split(split, _DEFAULT_SIZES[split], seed)
    ]
    return captions + list(RADIOLOGY_WORDS)
