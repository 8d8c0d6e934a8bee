"""ROCOv2 radiology image-caption data set for retrieval."""
import csv
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

SPLITS = ('train', 'valid', 'test')
CAPTION_COLUMNS = ('ID', 'Caption')
CONCEPT_COLUMNS = ('ID', 'CUIs')
CUI_MAPPING_COLUMNS = ('CUI', 'Canonical name')


def read_rocov2_csv(path: str,
                    columns: Sequence[str]) -> List[Tuple[int, List[str]]]:
    """Read one of ROCOv2's CSV files.

    The real files have Windows line endings, quoted fields holding commas,
    ``""`` and line breaks, and may lack a final newline or start with a
    byte-order mark; the csv module with ``newline=''`` reads all of that
    exactly. It reads in strict mode, as otherwise an unclosed quote would
    silently swallow the rest of the file into one caption.

    Args:
        path (str): The CSV file.
        columns (Sequence[str]): The column names the header must contain.
            Other columns are allowed and ignored.

    Returns:
        list[tuple[int, list[str]]]: For every record, the line it starts on
        (the header is line 1) and its values for ``columns``, in that order,
        unstripped.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not UTF-8, lacks a column, or a record has
            a different number of fields than the header.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: expected a CSV file with the header '
            f'{",".join(columns)!r}')
    expected = ','.join(columns)
    records = []
    line = 1
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.reader(f, strict=True)
            header = next(reader, None)
            if header is None:
                raise ValueError(
                    f'{path} is empty: expected the header {expected!r}')
            names = [name.strip() for name in header]
            missing = [c for c in columns if c not in names]
            if missing:
                raise ValueError(
                    f'{path}, line 1: expected the header {expected!r}, got '
                    f'{",".join(header)!r} (missing {", ".join(missing)})')
            index = [names.index(c) for c in columns]
            while True:
                # ``line_num`` counts physical lines read so far, so a record
                # with quoted line breaks is reported where it starts.
                line = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    break
                if not row:
                    continue  # a blank line
                if len(row) != len(header):
                    raise ValueError(
                        f'{path}, line {line}: expected {len(header)} fields '
                        f'({",".join(header)}), got {len(row)}: '
                        f'{",".join(row)[:120]!r} (quote fields that contain '
                        'commas)')
                records.append((line, [row[i] for i in index]))
    except UnicodeDecodeError as e:
        raise ValueError(f'{path} is not UTF-8 text: {e}') from e
    except csv.Error as e:
        raise ValueError(f'{path}, line {line}: {e} (check the quotes of '
                         'this record)') from e
    return records


@DATASETS.register_module()
class ROCOv2Dataset(BaseDataset):
    """ROCOv2 radiology image-caption data set for image-text retrieval.

    ROCOv2, Radiology Objects in COntext version 2 (Rückert et al.,
    Scientific Data 11:688, 2024; Zenodo record 10821435), pairs about 80k
    radiology images from PubMed Central articles with their figure
    captions, UMLS concepts (CUIs) extracted from the captions and manually
    checked modality concepts. Splits: train 59,958, valid 9,904, test 9,927
    images, one caption each.

    ROCOv2 dataset directory (the official files, unchanged): ::

        data_root
        ├── train_captions.csv           ID,Caption
        ├── train_concepts.csv           ID,CUIs (optional, ``;``-separated)
        ├── train_concepts_manual.csv    ID,CUIs (optional)
        ├── valid_captions.csv
        ├── ...
        ├── test_concepts_manual.csv
        ├── cui_mapping.csv              CUI,Canonical name (optional)
        ├── train
        │   ├── ROCOv2_2023_train_000001.jpg
        │   └── ...
        ├── valid
        └── test

    As unzipped from Zenodo the images are one level deeper,
    ``train_images/train/ROCOv2_2023_train_000001.jpg``; both layouts are
    found automatically.

    In training mode there is one item per image-caption pair with keys
    ``img_path``, ``text`` (str), ``image_id`` and ``text_id`` (contiguous
    ints in file order), ``ori_id`` (the ROCOv2 ID), ``cuis`` and
    ``cuis_manual`` (lists of CUIs, empty when the file or row has none).
    In test mode there is one item per image in the format of
    :class:`mmpretrain.datasets.COCORetrieval`: ``text``, ``gt_text_id`` and
    ``gt_image_id`` are lists (one entry per caption), as
    ``RetrievalValLoop`` expects. Captions are kept exactly as written except
    for leading and trailing whitespace, which is removed.

    Files are checked when the data set is built, and every problem is
    reported with the file, the line and what was expected: a missing
    captions file or image folder, a missing column, a duplicate or empty
    ID, an empty caption, a record with the wrong number of fields. Concept
    rows whose ID has no caption are ignored with a warning (so a captions
    file filtered to a subset still works with the official concept files).
    Missing images are listed up front only with ``check_images=True``, as
    that touches every file.

    Args:
        data_root (str): The folder holding the files above.
        split (str): ``'train'``, ``'valid'`` or ``'test'``.
            Defaults to ``'train'``.
        test_mode (bool): Whether to return one item per image in retrieval
            evaluation format instead of one per image-caption pair.
            Defaults to False.
        img_dir (str, optional): The folder with the images of ``split``,
            absolute or relative to ``data_root``. Defaults to None, which
            uses ``{split}`` or else ``{split}_images/{split}``.
        check_images (bool): Whether to check at construction that every
            image exists. Defaults to False.
        pipeline (Sequence): Processing pipeline. Defaults to an empty tuple.
        **kwargs: Other keyword arguments of :class:`BaseDataset`, such as
            ``lazy_init`` or ``serialize_data``. Not ``indices``: like
            :class:`~mmpretrain.datasets.COCORetrieval`, the data set keeps
            ``img_size``, ``text_size`` and the ids of the whole split.

    Attributes:
        img_size (int): The number of images.
        text_size (int): The number of captions.
        cui_names (dict[str, str] | None): CUI to canonical name, from
            ``cui_mapping.csv``; None when that file is absent.

    Examples:
        >>> from qwenclip_mm.datasets import ROCOv2Dataset
        >>> test_dataset = ROCOv2Dataset('data/rocov2', split='test')
        >>> test_dataset
        Dataset ROCOv2Dataset
            Number of samples:  9927
            Split:              test
            Annotation file:    data/rocov2/test_captions.csv
            Prefix of images:   data/rocov2/test_images/test
            Concept files:      test_concepts.csv, test_concepts_manual.csv
            CUI names:          1935
        >>> item = test_dataset[0]  # with an empty pipeline
        >>> item['ori_id'], item['text'], item['cuis']
        ('ROCOv2_2023_test_000001', 'CT chest axial view showing a huge ascending aortic aneurysm (*).', ['C0040405', 'C0856747'])
        >>> test_dataset.cui_names['C0040405']
        'X-Ray Computed Tomography'
        >>> val_dataset = ROCOv2Dataset(
        ...     'data/rocov2', split='test', test_mode=True)
        >>> item = val_dataset[0]
        >>> item['text'], item['gt_text_id'], item['gt_image_id']
        (['CT chest axial view showing a huge ascending aortic aneurysm (*).'], [0], [0])
    """  # noqa: E501

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 test_mode: bool = False,
                 img_dir: Optional[str] = None,
                 check_images: bool = False,
                 pipeline: Sequence = (),
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        self.split = split
        self.check_images = check_images
        self._find_img_dir = img_dir is None
        self.img_size = 0
        self.text_size = 0
        self.cui_names: Optional[Dict[str, str]] = None
        super().__init__(
            ann_file=f'{split}_captions.csv',
            data_root=osp.expanduser(data_root),
            data_prefix=dict(img_path=img_dir or ''),
            test_mode=test_mode,
            pipeline=pipeline,
            **kwargs)

    def _path(self, name: str) -> str:
        return osp.join(self.data_root, name)

    def load_data_list(self) -> List[dict]:
        """Read the split's captions, concepts and images.

        Returns:
            list[dict]: The items described in the class docstring.
        """
        ids, captions = self._load_captions()
        cuis = self._load_concepts(f'{self.split}_concepts.csv', ids)
        cuis_manual = self._load_concepts(f'{self.split}_concepts_manual.csv',
                                          ids)
        self.cui_names = self._load_cui_names()
        img_prefix = self._resolve_img_dir()

        data_list = []
        for i, (ori_id, text) in enumerate(zip(ids, captions)):
            item = dict(
                img_path=osp.join(img_prefix, f'{ori_id}.jpg'),
                image_id=i,
                ori_id=ori_id,
                cuis=cuis.get(ori_id, []),
                cuis_manual=cuis_manual.get(ori_id, []))
            if self.test_mode:
                item.update(text=[text], gt_text_id=[i], gt_image_id=[i])
            else:
                item.update(text=text, text_id=i)
            data_list.append(item)

        if self.check_images:
            self._check_images([item['img_path'] for item in data_list])
        # ROCOv2 has exactly one caption per image.
        self.img_size = self.text_size = len(data_list)
        return data_list

    def _load_captions(self) -> Tuple[List[str], List[str]]:
        """Return the IDs and stripped captions of ``self.ann_file``."""
        path = self.ann_file
        ids, captions = [], []
        first_line = {}
        for line, (ori_id, caption) in read_rocov2_csv(path,
                                                       CAPTION_COLUMNS):
            ori_id = self._check_key(path, line, ori_id, 'ID', first_line)
            text = caption.strip()
            if not text:
                raise ValueError(
                    f'{path}, line {line}: the caption of {ori_id!r} is '
                    f'empty or only whitespace ({caption!r}); expected text')
            ids.append(ori_id)
            captions.append(text)
        return ids, captions

    @staticmethod
    def _check_key(path: str, line: int, key: str, column: str,
                   first_line: Dict[str, int]) -> str:
        """Return the stripped key of a row, recording it in ``first_line``.

        Raises:
            ValueError: If the key is empty or was seen before.
        """
        key = key.strip()
        if not key:
            raise ValueError(f'{path}, line {line}: empty {column}; expected '
                             f'a {column} in every row')
        if key in first_line:
            raise ValueError(
                f'{path}, line {line}: duplicate {column} {key!r} (first on '
                f'line {first_line[key]}); expected every {column} once')
        first_line[key] = line
        return key

    def _load_concepts(self, name: str,
                       ids: List[str]) -> Dict[str, List[str]]:
        """Return ID -> CUIs from an optional concepts file.

        Rows with IDs that have no caption are dropped with one warning.
        """
        path = self._path(name)
        if not osp.isfile(path):
            return {}
        known = set(ids)
        concepts, first_line, orphans = {}, {}, []
        for line, (ori_id, value) in read_rocov2_csv(path, CONCEPT_COLUMNS):
            ori_id = self._check_key(path, line, ori_id, 'ID', first_line)
            if ori_id not in known:
                orphans.append(f'line {line}: {ori_id}')
                continue
            concepts[ori_id] = [
                cui.strip() for cui in value.split(';') if cui.strip()
            ]
        if orphans:
            warnings.warn(
                f'{path}: {len(orphans)} row(s) name IDs without a caption in '
                f'{self.ann_file} and are ignored (first: '
                f'{"; ".join(orphans[:5])})')
        return concepts

    def _load_cui_names(self) -> Optional[Dict[str, str]]:
        """Return CUI -> canonical name, or None without a mapping file."""
        path = self._path('cui_mapping.csv')
        if not osp.isfile(path):
            return None
        names, first_line = {}, {}
        for line, (cui, name) in read_rocov2_csv(path, CUI_MAPPING_COLUMNS):
            cui = self._check_key(path, line, cui, 'CUI', first_line)
            names[cui] = name.strip()
        return names

    def _resolve_img_dir(self) -> str:
        """Find the split's image folder and store it in ``data_prefix``."""
        if self._find_img_dir:
            candidates = [
                self._path(self.split),
                self._path(osp.join(f'{self.split}_images', self.split))
            ]
            found = [c for c in candidates if osp.isdir(c)]
            if not found:
                raise FileNotFoundError(
                    f'No image folder for split {self.split!r}: expected '
                    f'{candidates[0]} or {candidates[1]}; pass img_dir= if '
                    'the images are elsewhere')
            self.data_prefix['img_path'] = found[0]
        elif not osp.isdir(self.img_prefix):
            raise FileNotFoundError(
                f'img_dir {self.img_prefix} is not a folder; expected the '
                f'images of split {self.split!r} as ID.jpg in it')
        return self.img_prefix

    def _check_images(self, paths: List[str]):
        """Raise listing the images in ``paths`` that do not exist."""
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            shown = '\n  '.join(missing[:5])
            raise FileNotFoundError(
                f'{len(missing)} of {len(paths)} images listed in '
                f'{self.ann_file} are missing from {self.img_prefix}; '
                f'first {min(5, len(missing))}:\n  {shown}')

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        concept_files = [
            name for name in (f'{self.split}_concepts.csv',
                              f'{self.split}_concepts_manual.csv')
            if osp.isfile(self._path(name))
        ]
        body = [
            f'Split: \t{self.split}',
            f'Annotation file: \t{self.ann_file}',
            f'Prefix of images: \t{self.img_prefix}',
            f'Concept files: \t{", ".join(concept_files) or "none"}',
        ]
        if self.cui_names is not None:
            body.append(f'CUI names: \t{len(self.cui_names)}')
        return body
