"""IRMA (ImageCLEF 2009 medical annotation) radiographs for retrieval.

The IRMA code (Lehmann et al., "The IRMA code for unique classification of
medical images", SPIE Medical Imaging 2003) classifies an image on four
axes, written ``TTTT-DDD-AAA-BBB``:

- T, technical: the imaging modality;
- D, directional: the body orientation (view);
- A, anatomical: the body region examined;
- B, biological: the biological system examined.

Each character refines the one before it (``1`` x-ray, ``11`` plain
radiography, ...) and ``0`` means unspecified from that level on. This
module turns a code into text axis by axis, from built-in labels of the top
levels or from a full code hierarchy file, and reads the ImageCLEF 2009
files.
"""
import os.path as osp
import re
import string
import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .annotations import (check_images, check_key, read_csv_records,
                          resolve_path, row_error)
from .retrieval_items import build_retrieval_items, select_subset

SPLITS = ('train', 'test')
#: The official file names of ImageCLEF 2009 (the ``.02``/``.03`` suffixes
#: are the releases of the training and test data).
ANN_FILES = dict(
    train='ImageCLEFmed2009_train_codes.02.csv',
    test='ImageCLEFmed2009_test_codes.03.csv')
IMG_DIRS = dict(
    train='ImageCLEFmed2009_train.02', test='ImageCLEFmed2009_test.03')
ID_COLUMN = 'image_id'
#: How the IRMA files mark a missing value (MySQL's export of NULL).
MISSING = '\\N'

#: The four axes: field name, letter, number of characters.
AXES = (('technical', 'T', 4), ('directional', 'D', 3),
        ('anatomical', 'A', 3), ('biological', 'B', 3))
_AXIS_LETTERS = {letter: name for name, letter, _ in AXES}
_AXIS_LENGTHS = {letter: length for _, letter, length in AXES}
_CODE_RE = re.compile(
    r'([0-9a-z]{4})-([0-9a-z]{3})-([0-9a-z]{3})-([0-9a-z]{3})')

#: Built-in labels, per axis letter, of the levels we are sure of from the
#: published IRMA code definition. Deeper levels need a hierarchy file.
BUILTIN_LABELS: Dict[str, Dict[str, str]] = {
    'T': {
        '1': 'x-ray',
        '11': 'plain radiography',
        '12': 'fluoroscopy',
        '13': 'angiography',
        '2': 'sonography',
        '3': 'magnetic resonance (MR)',
        '4': 'nuclear medicine',
        '5': 'optical imaging',
        '6': 'biophysical procedure',
        '7': 'other modality',
        '8': 'secondary digitalization',
    },
    'D': {
        '1': 'coronal',
        '11': 'posteroanterior (PA)',
        '12': 'anteroposterior (AP)',
        '2': 'sagittal',
        '21': 'lateral, right-left',
        '22': 'lateral, left-right',
        '3': 'axial',
        '4': 'other orientation',
    },
    'A': {
        '1': 'whole body',
        '2': 'cranium',
        '3': 'spine',
        '4': 'upper extremity (arm)',
        '41': 'hand',
        '42': 'radiocarpal joint',
        '43': 'forearm',
        '44': 'elbow',
        '45': 'upper arm',
        '46': 'shoulder',
        '5': 'chest',
        '6': 'breast',
        '7': 'abdomen',
        '8': 'pelvis',
        '9': 'lower extremity (leg)',
        '91': 'foot',
        '92': 'ankle joint',
        '93': 'lower leg',
        '94': 'knee',
        '95': 'upper leg',
        '96': 'hip',
    },
    'B': {
        '1': 'cerebrospinal system',
        '2': 'cardiovascular system',
        '3': 'respiratory system',
        '4': 'gastrointestinal system',
        '5': 'uropoietic system',
        '6': 'reproductive system',
        '7': 'musculoskeletal system',
        '8': 'endocrine system',
        '9': 'immune system',
    },
}

DEFAULT_TEMPLATE = ('Modality: {technical}. Orientation: {directional}. '
                    'Body region: {anatomical}. System: {biological}.')
#: The fields a text template may use.
TEMPLATE_FIELDS = ('code', ) + tuple(name for name, _, _ in AXES)
UNSPECIFIED = 'unspecified'


class IRMACode(NamedTuple):
    """The four axes of an IRMA code, as strings of code characters."""
    technical: str
    directional: str
    anatomical: str
    biological: str

    def __str__(self) -> str:
        return '-'.join(self)


def parse_irma_code(code: str) -> IRMACode:
    """Split an IRMA code into its axes.

    Surrounding whitespace is ignored and letters are read in lower case
    (levels with more than nine children use ``a``-``z``).

    Args:
        code (str): A code such as ``'1121-120-200-700'``.

    Returns:
        IRMACode: The four axes.

    Raises:
        ValueError: If ``code`` is not ``TTTT-DDD-AAA-BBB`` with 4, 3, 3 and
            3 characters ``0-9``/``a-z``.
    """
    match = _CODE_RE.fullmatch(code.strip().lower())
    if match is None:
        raise ValueError(
            f'{code!r} is not an IRMA code: expected TTTT-DDD-AAA-BBB (4, 3, '
            '3 and 3 characters 0-9 or a-z), e.g. 1121-120-200-700')
    return IRMACode(*match.groups())


def load_irma_hierarchy(path: str) -> Dict[str, Dict[str, str]]:
    """Read an IRMA code hierarchy file.

    The format, line by line (UTF-8; surrounding spaces ignored):

    - blank lines and lines starting with ``#`` are ignored;
    - an axis header starts a section: its first word is the axis letter
      (``T``, ``D``, ``A``, ``B``, upper case, optionally followed by
      ``:``) or the axis name (``technical``, ``directional``,
      ``anatomical``, ``biological``, any case); the rest of the line is
      free text, e.g. ``T: technical code (imaging modality)``;
    - every other line is an entry ``[code] label``: the code prefix it
      names (1 to 4 characters for T, 1 to 3 for the others, ``0-9``/
      ``a-z``), then its label, e.g. ``[94] knee``. Entries of a prefix
      and its parents may come in any order; a missing parent is allowed.

    Example::

        # IRMA code hierarchy
        T: technical code
        [1] x-ray
        [11] plain radiography
        A: anatomical code
        [9] lower extremity (leg)
        [94] knee

    Args:
        path (str): The file.

    Returns:
        dict[str, dict[str, str]]: Per axis letter, code prefix -> label
        (axes without a section are empty).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For an entry before any header, a line that is neither
            header nor entry, a code too long or with other characters, an
            empty label, a code or axis given twice; the message names the
            file and line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: expected an IRMA code hierarchy file '
            '(axis headers such as "T: technical" and "[code] label" lines)')
    labels: Dict[str, Dict[str, str]] = {letter: {} for _, letter, _ in AXES}
    first_line: Dict[str, Dict[str, int]] = {letter: {} for letter in labels}
    axis_line: Dict[str, int] = {}
    names = {name: letter for name, letter, _ in AXES}
    axis = None
    try:
        with open(path, encoding='utf-8-sig') as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f'{path} is not UTF-8 text: {e}') from e
    for line, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith('#'):
            continue
        entry = re.fullmatch(r'\[([^\]]*)\]\s*(.*)', text)
        if entry is None:
            word = re.split(r'[\s:]', text, maxsplit=1)[0]
            letter = word if word in _AXIS_LETTERS else names.get(
                word.lower())
            if letter is None:
                raise row_error(
                    path, line, f'expected an axis header (T, D, A, B or '
                    f'technical, directional, anatomical, biological) or an '
                    f'entry "[code] label", got {text[:80]!r}')
            if letter in axis_line:
                raise row_error(
                    path, line, f'axis {letter} ({_AXIS_LETTERS[letter]}) '
                    f'already started on line {axis_line[letter]}; expected '
                    'one section per axis')
            axis_line[letter] = line
            axis = letter
            continue
        if axis is None:
            raise row_error(
                path, line, f'entry {text[:80]!r} before any axis header; '
                'expected a header such as "T: technical" first')
        code, label = entry.group(1).strip().lower(), entry.group(2).strip()
        length = _AXIS_LENGTHS[axis]
        if not re.fullmatch(rf'[0-9a-z]{{1,{length}}}', code):
            raise row_error(
                path, line, f'code {entry.group(1)!r} is not a prefix of a '
                f'{_AXIS_LETTERS[axis]} code: expected 1 to {length} '
                'characters 0-9 or a-z')
        if not label:
            raise row_error(path, line,
                            f'code [{code}] has no label; expected '
                            '"[code] label"')
        if code in first_line[axis]:
            raise row_error(
                path, line, f'duplicate {axis} code [{code}] (first on line '
                f'{first_line[axis][code]}); expected every code once')
        first_line[axis][code] = line
        labels[axis][code] = label
    return labels


def describe_irma_axis(letter: str,
                       value: str,
                       hierarchy: Optional[Dict[str, Dict[str, str]]] = None
                       ) -> str:
    """Describe one axis of a code, level by level.

    The description joins with ``', '`` the labels of the code's prefixes
    (``1``, ``11``, ``112``, ``1121``) up to the first ``0``, which means
    unspecified from there on. A prefix takes its label from ``hierarchy``,
    else from :data:`BUILTIN_LABELS`; a prefix with neither is skipped.

    Args:
        letter (str): The axis, ``'T'``, ``'D'``, ``'A'`` or ``'B'``.
        value (str): The axis's characters, e.g. ``'1121'``.
        hierarchy (dict, optional): From :func:`load_irma_hierarchy`.

    Returns:
        str: E.g. ``'x-ray, plain radiography'``; ``'unspecified'`` when the
        first character is ``0``; ``'{axis name} code {value}'`` when no
        level has a label.
    """
    specified = value.split('0', 1)[0]
    if not specified:
        return UNSPECIFIED
    given = (hierarchy or {}).get(letter, {})
    builtin = BUILTIN_LABELS[letter]
    labels = []
    for end in range(1, len(specified) + 1):
        prefix = specified[:end]
        label = given.get(prefix, builtin.get(prefix))
        if label is not None:
            labels.append(label)
    return ', '.join(labels) or f'{_AXIS_LETTERS[letter]} code {value}'


def check_template(template: str) -> str:
    """Return ``template`` if it only uses :data:`TEMPLATE_FIELDS`.

    Raises:
        ValueError: If it uses another field or is not a format string.
    """
    try:
        fields = [
            name for _, name, _, _ in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as e:
        raise ValueError(f'text_template {template!r} is not a format '
                         f'string: {e}') from e
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown:
        raise ValueError(
            f'text_template {template!r} uses {{{unknown[0]}}}; expected '
            f'only the fields {", ".join(TEMPLATE_FIELDS)}')
    try:
        # Format specs and conversions fail only when applied.
        template.format(**dict.fromkeys(TEMPLATE_FIELDS, ''))
    except ValueError as e:
        raise ValueError(f'text_template {template!r} cannot be applied to '
                         f'text fields: {e}') from e
    return template


def irma_code_to_text(code: str,
                      hierarchy: Optional[Dict[str, Dict[str, str]]] = None,
                      template: str = DEFAULT_TEMPLATE) -> str:
    """Describe an IRMA code in words, axis by axis.

    Args:
        code (str): An IRMA code, e.g. ``'1121-120-942-700'``.
        hierarchy (dict, optional): From :func:`load_irma_hierarchy`;
            without it the built-in top-level labels are used.
        template (str): A ``str.format`` template with the fields
            ``technical``, ``directional``, ``anatomical``, ``biological``
            (each axis's description) and ``code`` (the normalised code).
            Defaults to :data:`DEFAULT_TEMPLATE`.

    Returns:
        str: E.g. ``'Modality: x-ray, plain radiography. Orientation:
        coronal, anteroposterior (AP). Body region: lower extremity (leg),
        knee. System: musculoskeletal system.'`` for
        ``'1121-120-942-700'`` without a hierarchy.

    Raises:
        ValueError: If ``code`` is not an IRMA code.
    """
    parsed = parse_irma_code(code)
    fields = {
        name: describe_irma_axis(letter, value, hierarchy)
        for (name, letter, _), value in zip(AXES, parsed)
    }
    return check_template(template).format(code=str(parsed), **fields)


@DATASETS.register_module()
class IRMADataset(BaseDataset):
    """IRMA radiographs (ImageCLEF 2009) with texts made from their codes.

    The ImageCLEF 2009 medical image annotation task (Deserno and Ott,
    "15,363 IRMA images of 193 categories for ImageCLEFmed 2009", RWTH
    Aachen, doi:10.18154/RWTH-2016-06143) has 12,677 training and 1,733
    test radiographs, each labelled with an IRMA code ``TTTT-DDD-AAA-BBB``
    (technical, directional, anatomical, biological axes). Each image gets
    a text made from its code by :func:`irma_code_to_text`.

    IRMA dataset directory (the official files, unchanged): ::

        data_root
        ├── ImageCLEFmed2009_train_codes.02.csv   image_id;irma_code;...
        ├── ImageCLEFmed2009_test_codes.03.csv    (';'-separated, \\N = missing)
        ├── ImageCLEFmed2009_train.02
        │   ├── 1880.png                          {image_id}.png
        │   └── ...
        ├── ImageCLEFmed2009_test.03
        │   └── ...
        └── irma_code_hierarchy.txt               (optional, see below)

    Some mirrors nest the image folders twice
    (``ImageCLEFmed2009_train.02/ImageCLEFmed2009_train.02/1880.png``);
    both layouts are found. The code files have the header
    ``image_id;irma_code;05_class;05_irma_code_submask;06_class;
    06_irma_code;07_irma_code;08_irma_code``; only ``image_id`` and the
    code column are read.

    **Texts.** Each axis is described level by level (see
    :func:`describe_irma_axis`). Built in, with no extra file, are the
    labels of the levels we are sure of from the published code definition
    (:data:`BUILTIN_LABELS`): every axis's top level (T: 1 x-ray,
    2 sonography, 3 MR, 4 nuclear medicine, 5 optical imaging,
    6 biophysical procedure, 7 others, 8 secondary digitalization;
    D: 1 coronal, 2 sagittal, 3 axial, 4 other; A: 1 whole body,
    2 cranium, 3 spine, 4 upper extremity, 5 chest, 6 breast, 7 abdomen,
    8 pelvis, 9 lower extremity; B: 1 cerebrospinal, 2 cardiovascular,
    3 respiratory, 4 gastrointestinal, 5 uropoietic, 6 reproductive,
    7 musculoskeletal, 8 endocrine, 9 immune system), and the second
    level of T 1 (11 plain radiography, 12 fluoroscopy, 13 angiography),
    of D 1 and 2 (11 PA, 12 AP, 21 lateral right-left, 22 lateral
    left-right) and of A 4 and 9 (hand ... shoulder, foot ... hip). A full
    code hierarchy file (format in :func:`load_irma_hierarchy`) adds or
    overrides labels at every level. Without it, codes that differ only
    below the built-in levels get the same text; the data set warns and
    treats them as one text (see below).

    **Items.** Retrieval is class-level: every image with the same text is
    a positive of it. In training there is one item per image with
    ``text`` (str), ``text_id`` (the text's index among the distinct
    texts) and ``image_id``, which is *not* the image's index: images with
    the same text share it, because ``CLIPContrastiveHead`` treats samples
    with equal ``image_id`` as positives, and two images with one text in a
    batch must not be pushed apart. In test mode there is one item per
    image in the format of :class:`mmpretrain.datasets.COCORetrieval`: the
    text gallery holds each distinct text once, listed in ``text`` of the
    first image that has it (other images have an empty ``text`` list);
    ``gt_text_id`` is ``[the image's text id]``; ``gt_image_id`` holds, for
    the listed text, the list of all images with it; ``image_id`` is the
    image's index. All items also carry ``img_path``, ``ori_id`` (the
    file's ``image_id``), ``code`` (normalised IRMA code) and ``gt_label``
    (the code's index in ``classes``).

    **Checks.** At construction: a missing file or image folder, a missing
    column or wrong delimiter, a duplicate or empty ``image_id``, a missing
    (``\\N`` or empty) or malformed code, a code not in the given
    ``classes``, a bad hierarchy file or template — each raises naming the
    file, the line and what was expected. ``check_images=True`` also lists
    every missing or unreadable image up front.

    Args:
        data_root (str): The folder holding the files above.
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        test_mode (bool): Whether to return one item per image in retrieval
            evaluation format. Defaults to False.
        ann_file (str, optional): The code file, absolute or relative to
            ``data_root``. Defaults to None, the official name of ``split``.
        img_dir (str, optional): The image folder, absolute or relative to
            ``data_root``. Defaults to None, the official folder of
            ``split`` (or the same name nested twice).
        code_column (str): The column with the codes. Defaults to
            ``'irma_code'``.
        delimiter (str): The field delimiter. Defaults to ``';'``.
        hierarchy_file (str, optional): A code hierarchy file, absolute or
            relative to ``data_root``. Defaults to None (built-in labels).
        text_template (str): How a code's axis descriptions become its text;
            see :func:`irma_code_to_text`. Defaults to
            :data:`DEFAULT_TEMPLATE`.
        check_images (bool): Whether to check at construction that every
            image exists and passes ``PIL.Image.verify``. Defaults to False.
        subset_size (int, optional): Keep a deterministic subset of this
            many images (e.g. 2000 for the common 2,000-pair test subset),
            drawn by their ``ori_id`` with ``subset_seed`` before the
            retrieval items are built, so the galleries and positives are
            the subset's. Defaults to None (all). Use this, not
            ``indices``.
        subset_seed (int): The subset's seed. Defaults to 0.
        pipeline (Sequence): Processing pipeline. Defaults to an empty tuple.
        classes (Sequence[str], optional): The codes, in class-index order
            (e.g. the training split's ``dataset.CLASSES``, so test labels
            match). Defaults to None: the split's distinct codes, sorted.
        **kwargs: Other keyword arguments of :class:`BaseDataset`, such as
            ``lazy_init``. Not ``indices``: the galleries are the whole
            split.

    Attributes:
        img_size (int): The number of images.
        text_size (int): The number of distinct texts.
        hierarchy (dict | None): From ``hierarchy_file``, if given.

    Examples:
        On the synthetic sample written by
        :func:`~qwenclip_mm.testing.make_synthetic_irma` (the real data
        works the same with ``data_root='data/irma'``):

        >>> from qwenclip_mm.datasets import IRMADataset
        >>> train = IRMADataset('data/synthetic-irma', split='train')
        >>> train
        Dataset IRMADataset
            Number of samples:  480
            Number of categories:       8
            Split:              train
            Annotation file:    data/synthetic-irma/ImageCLEFmed2009_train_codes.02.csv
            Prefix of images:   data/synthetic-irma/ImageCLEFmed2009_train.02
            Code column:        irma_code
            Distinct texts:     8
            Hierarchy file:     none (built-in top-level labels)
        >>> item = train.get_data_info(0)
        >>> item['ori_id'], item['code'], item['text']
        ('1002', '3000-300-200-100', 'Modality: magnetic resonance (MR). Orientation: axial. Body region: cranium. System: cerebrospinal system.')
        >>> test = IRMADataset('data/synthetic-irma', split='test',
        ...                    test_mode=True, classes=train.CLASSES)
        >>> item = test.get_data_info(0)
        >>> item['text'], item['gt_text_id'], item['gt_image_id']
        (['Modality: x-ray, plain radiography. Orientation: coronal, posteroanterior (PA). Body region: chest. System: unspecified.'], [0], [[0, 6, 11, 23, 26, 36, 40, 48, 58, 67, 69, 77]])
        >>> test.get_data_info(9)['text']  # its text is listed earlier
        []
    """  # noqa: E501

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 test_mode: bool = False,
                 ann_file: Optional[str] = None,
                 img_dir: Optional[str] = None,
                 code_column: str = 'irma_code',
                 delimiter: str = ';',
                 hierarchy_file: Optional[str] = None,
                 text_template: str = DEFAULT_TEMPLATE,
                 check_images: bool = False,
                 subset_size: Optional[int] = None,
                 subset_seed: int = 0,
                 pipeline: Sequence = (),
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        self.split = split
        self.code_column = code_column
        self.delimiter = delimiter
        self.text_template = check_template(text_template)
        self.check_images = check_images
        self.subset_size = subset_size
        self.subset_seed = subset_seed
        data_root = osp.expanduser(data_root)
        self.hierarchy_file = resolve_path(data_root, hierarchy_file)
        self.hierarchy: Optional[Dict[str, Dict[str, str]]] = None
        self._find_img_dir = img_dir is None
        self.img_size = 0
        self.text_size = 0
        super().__init__(
            ann_file=ann_file or ANN_FILES[split],
            data_root=data_root,
            data_prefix=dict(img_path=img_dir or ''),
            test_mode=test_mode,
            pipeline=pipeline,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the codes and images of the split.

        Returns:
            list[dict]: The items described in the class docstring.
        """
        if self.hierarchy_file is not None:
            self.hierarchy = load_irma_hierarchy(self.hierarchy_file)
        path = self.ann_file
        ids, codes, lines = [], [], []
        first_line: Dict[str, int] = {}
        for line, (ori_id, raw) in read_csv_records(
                path, (ID_COLUMN, self.code_column), self.delimiter):
            ori_id = check_key(path, line, ori_id, ID_COLUMN, first_line)
            if raw.strip() in ('', MISSING):
                raise row_error(
                    path, line, f'image {ori_id!r} has no code in column '
                    f'{self.code_column!r} ({raw!r}); expected an IRMA code '
                    'TTTT-DDD-AAA-BBB')
            try:
                code = str(parse_irma_code(raw))
            except ValueError as e:
                raise row_error(path, line,
                                f'column {self.code_column!r}: {e}') from e
            ids.append(ori_id)
            codes.append(code)
            lines.append(line)
        if not ids:
            raise ValueError(f'{path} has a header but no rows: expected one '
                             'row per image')

        class_index = self._class_index(codes)
        for line, code in zip(lines, codes):
            if code not in class_index:
                raise row_error(
                    path, line, f'code {code} is not in the given classes '
                    f'({len(class_index)} codes); expected one of them')

        texts = {
            code: irma_code_to_text(code, self.hierarchy, self.text_template)
            for code in dict.fromkeys(codes)
        }
        self._warn_shared_texts(texts)
        img_prefix = self._resolve_img_dir()
        images = [
            dict(
                img_path=osp.join(img_prefix, f'{ori_id}.png'),
                ori_id=ori_id,
                code=code,
                gt_label=class_index[code])
            for ori_id, code in zip(ids, codes)
        ]
        captions = [[texts[code]] for code in codes]
        images, captions = select_subset(images, captions, self.subset_size,
                                         self.subset_seed, self.ann_file)
        if self.check_images:
            check_images([image['img_path'] for image in images],
                         self.ann_file, img_prefix)
        data_list, self.img_size, self.text_size = build_retrieval_items(
            images, captions, self.test_mode,
            merge_identical_texts=True)
        return data_list

    def _class_index(self, codes: List[str]) -> Dict[str, int]:
        """Map each normalised code of ``classes`` to its class index.

        Without given classes they are the distinct ``codes``, sorted, and
        are stored in the metainfo.
        """
        classes = self._metainfo.get('classes')
        if classes is None:
            classes = tuple(sorted(set(codes)))
            self._metainfo['classes'] = classes
        index = {}
        for i, code in enumerate(classes):
            try:
                index[str(parse_irma_code(code))] = i
            except ValueError as e:
                raise ValueError(f'classes[{i}]: {e}') from e
        return index

    def _warn_shared_texts(self, texts: Dict[str, str]) -> None:
        """Warn when several codes are described by the same text."""
        by_text: Dict[str, List[str]] = {}
        for code, text in texts.items():
            by_text.setdefault(text, []).append(code)
        shared = [codes for codes in by_text.values() if len(codes) > 1]
        if shared:
            warnings.warn(
                f'{self.ann_file}: {sum(map(len, shared))} of {len(texts)} '
                f'IRMA codes share their text with another code (e.g. '
                f'{", ".join(shared[0][:3])}), so retrieval treats each such '
                'group as one text; pass hierarchy_file= to describe every '
                'level of the codes')

    def _resolve_img_dir(self) -> str:
        """Find the split's image folder and store it in ``data_prefix``."""
        if self._find_img_dir:
            name = IMG_DIRS[self.split]
            candidates = [
                osp.join(self.data_root, name),
                osp.join(self.data_root, name, name)
            ]
            # The nested folder first: the outer one of a nested layout
            # exists too but holds only the inner folder.
            found = [c for c in reversed(candidates) if osp.isdir(c)]
            if not found:
                raise FileNotFoundError(
                    f'No image folder for split {self.split!r}: expected '
                    f'{candidates[0]} or {candidates[1]}; pass img_dir= if '
                    'the images are elsewhere')
            self.data_prefix['img_path'] = found[0]
        elif not osp.isdir(self.img_prefix):
            raise FileNotFoundError(
                f'img_dir {self.img_prefix} is not a folder; expected the '
                f'images of split {self.split!r} as {{image_id}}.png in it')
        return self.img_prefix

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Split: \t{self.split}',
            f'Annotation file: \t{self.ann_file}',
            f'Prefix of images: \t{self.img_prefix}',
            f'Code column: \t{self.code_column}',
            f'Distinct texts: \t{self.text_size}',
            'Hierarchy file: \t' +
            (self.hierarchy_file or 'none (built-in top-level labels)'),
        ]
