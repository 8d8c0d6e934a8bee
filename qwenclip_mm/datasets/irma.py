"""IRMA (ImageCLEF 2009 medical annotation) radiographs for retrieval.

The texts come from the images' IRMA codes (:mod:`.irma_code`).
"""
import os.path as osp
import warnings
from typing import Dict, List, Optional, Tuple

from mmpretrain.registry import DATASETS

from .annotations import check_key, read_csv_records, resolve_path, row_error
from .irma_code import (DEFAULT_TEMPLATE, check_template, irma_code_to_text,
                        load_irma_hierarchy, parse_irma_code)
from .retrieval_dataset import BaseRetrievalDataset


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


@DATASETS.register_module()
class IRMADataset(BaseRetrievalDataset):
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
    :func:`~qwenclip_mm.datasets.describe_irma_axis`). Built in, with no extra file, are the
    labels of the levels we are sure of from the published code definition
    (:data:`~qwenclip_mm.datasets.irma_code.BUILTIN_LABELS`): every axis's top level (T: 1 x-ray,
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

    **Items.** Those of :class:`~qwenclip_mm.datasets.BaseRetrievalDataset`
    with identical texts always merged: retrieval is class-level, every
    image with the same text is a positive of it. In training there is one
    item per image, and images with the same text share ``image_id``; in
    test mode the text gallery holds each distinct text once, listed in
    ``text`` of the first image that has it (other images have an empty
    ``text`` list), and ``gt_image_id`` holds, for the listed text, the
    list of all images with it. All items also carry ``img_path``, ``ori_id`` (the
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
        classes (Sequence[str], optional): The codes, in class-index order
            (e.g. the training split's ``dataset.CLASSES``, so test labels
            match). Defaults to None: the split's distinct codes, sorted.
        **kwargs: ``check_images``, ``subset_size``, ``subset_seed`` and
            ``pipeline``, as for
            :class:`~qwenclip_mm.datasets.BaseRetrievalDataset`, and other
            keyword arguments of :class:`BaseDataset` (not ``indices``: the
            galleries are the whole split).

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

    IMAGE_NAMES = '{image_id}.png'

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
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        self.split = split
        self.code_column = code_column
        self.delimiter = delimiter
        self.text_template = check_template(text_template)
        self.hierarchy_file = resolve_path(
            osp.expanduser(data_root), hierarchy_file)
        self.hierarchy: Optional[Dict[str, Dict[str, str]]] = None
        # Class-level retrieval: every image with a code's text is a positive.
        super().__init__(
            ann_file or ANN_FILES[split], data_root, img_dir, test_mode,
            merge_identical_texts=True, **kwargs)

    def load_images_and_captions(
            self) -> Tuple[List[dict], List[List[str]]]:
        """Read the codes of the split and find its images."""
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
        img_prefix = self.resolve_img_dir()
        images = [
            dict(
                img_path=osp.join(img_prefix, f'{ori_id}.png'),
                ori_id=ori_id,
                code=code,
                gt_label=class_index[code])
            for ori_id, code in zip(ids, codes)
        ]
        return images, [[texts[code]] for code in codes]

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

    def img_dir_candidates(self) -> List[str]:
        """The nested folder first: the outer one of a nested layout exists
        too but holds only the inner folder."""
        name = IMG_DIRS[self.split]
        return [
            osp.join(self.data_root, name, name),
            osp.join(self.data_root, name)
        ]

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Split: \t{self.split}',
            *super().extra_repr(),
            f'Code column: \t{self.code_column}',
            f'Distinct texts: \t{self.text_size}',
            'Hierarchy file: \t' +
            (self.hierarchy_file or 'none (built-in top-level labels)'),
        ]
