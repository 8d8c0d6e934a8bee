"""ROCOv2 radiology image-caption data set for retrieval."""
import os.path as osp
import warnings
from typing import Dict, List, Optional, Tuple

from mmpretrain.registry import DATASETS

from .annotations import check_caption, check_key, read_csv_records
from .retrieval_dataset import BaseRetrievalDataset

SPLITS = ('train', 'valid', 'test')
CAPTION_COLUMNS = ('ID', 'Caption')
CONCEPT_COLUMNS = ('ID', 'CUIs')
CUI_MAPPING_COLUMNS = ('CUI', 'Canonical name')
#: The parts ``text_mode`` may add after the caption: per part, the concept
#: file's suffix and the heading its names get in the text.
TEXT_PARTS = {
    'manual': ('_concepts_manual.csv', 'Image type'),
    'concepts': ('_concepts.csv', 'Concepts'),
}


def parse_text_mode(text_mode: str) -> Tuple[str, ...]:
    """Return the parts after ``'caption'`` of a ``text_mode``.

    Raises:
        ValueError: Unless ``text_mode`` is ``'caption'`` followed by
            distinct ``'+manual'`` / ``'+concepts'`` parts.
    """
    parts = text_mode.split('+')
    extra = tuple(parts[1:])
    if (parts[0] != 'caption' or len(set(extra)) != len(extra)
            or any(part not in TEXT_PARTS for part in extra)):
        raise ValueError(
            f'text_mode must be "caption" optionally followed by distinct '
            f'"+manual" and "+concepts" parts (e.g. "caption+concepts"), got '
            f'{text_mode!r}')
    return extra


def find_rocov2_img_dir(data_root: str, split: str) -> Optional[str]:
    """Return the image folder of ``split`` in either layout, or None.

    Looks for ``{split}`` and then ``{split}_images/{split}`` (as unzipped
    from Zenodo) under ``data_root``.
    """
    for candidate in rocov2_img_dir_candidates(data_root, split):
        if osp.isdir(candidate):
            return candidate
    return None


def rocov2_img_dir_candidates(data_root: str, split: str) -> List[str]:
    """The folders where the images of ``split`` may be, in search order."""
    return [
        osp.join(data_root, split),
        osp.join(data_root, f'{split}_images', split)
    ]


@DATASETS.register_module()
class ROCOv2Dataset(BaseRetrievalDataset):
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

    Items are those of :class:`~qwenclip_mm.datasets.BaseRetrievalDataset`
    (one per image-caption pair in training, one per image in test mode),
    with ``ori_id`` (the ROCOv2 ID), ``cuis`` and ``cuis_manual`` (lists of
    CUIs, empty when the file or row has none). Captions are kept exactly as written except
    for leading and trailing whitespace, which is removed.

    **Texts.** ``text_mode`` says what the text of an image is, in training
    and in evaluation alike:

    - ``'caption'``: the caption only;
    - ``'caption+manual'``: the caption, a line break and
      ``Image type: `` followed by the canonical names of the image's
      manual concepts (the checked modality, view and body region CUIs of
      ``{split}_concepts_manual.csv``), joined by ``'; '``;
    - ``'caption+concepts'``: the same with ``Concepts: `` and the
      automatic concepts of ``{split}_concepts.csv``;
    - ``'caption+manual+concepts'`` (or the two parts in the other order):
      both lines, in the order given.

    For example ``'caption+manual'`` turns the first test image's text into
    ``'CT chest axial view showing a huge ascending aortic aneurysm (*).\\nImage type: X-Ray Computed Tomography'``.
    A line is left out when the image has no such concepts; a CUI missing
    from ``cui_mapping.csv`` is written as the CUI itself. Modes with
    concepts need the concept file and ``cui_mapping.csv``.

    Some captions occur on several images. With
    ``merge_identical_texts=True`` identical texts are one gallery entry
    whose positives are all their images (multi-positive recall), and in
    training such images share an ``image_id``, so the contrastive head
    treats them as positives; see
    :func:`~qwenclip_mm.datasets.retrieval_items.build_retrieval_items`.

    Files are checked when the data set is built, and every problem is
    reported with the file, the line and what was expected: a missing
    captions file or image folder, a missing column, a duplicate or empty
    ID, an empty caption, a record with the wrong number of fields. Concept
    rows whose ID has no caption are ignored with a warning (so a captions
    file filtered to a subset still works with the official concept files).
    Missing and unreadable (``PIL.Image.verify``) images are listed up front
    only with ``check_images=True``, as that touches every file.

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
        text_mode (str): ``'caption'``, ``'caption+manual'``,
            ``'caption+concepts'`` or ``'caption+manual+concepts'``; see
            above. Defaults to ``'caption'``.
        img_size (int): The number of images.
        text_size (int): The number of texts in the gallery (the number of
            captions unless ``merge_identical_texts``).
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

    IMAGE_NAMES = 'ID.jpg'

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 test_mode: bool = False,
                 img_dir: Optional[str] = None,
                 text_mode: str = 'caption',
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        self.split = split
        self.text_mode = text_mode
        self._text_parts = parse_text_mode(text_mode)
        self.cui_names: Optional[Dict[str, str]] = None
        super().__init__(
            f'{split}_captions.csv', data_root, img_dir, test_mode,
            **kwargs)

    def _path(self, name: str) -> str:
        return osp.join(self.data_root, name)

    def load_images_and_captions(
            self) -> Tuple[List[dict], List[List[str]]]:
        """Read the split's captions and concepts, and find its images."""
        ids, captions = self._load_captions()
        concepts = {
            part: self._load_concepts(f'{self.split}{suffix}', ids,
                                      part in self._text_parts)
            for part, (suffix, _) in TEXT_PARTS.items()
        }
        self.cui_names = self._load_cui_names(bool(self._text_parts))
        img_prefix = self.resolve_img_dir()
        images, texts = [], []
        for ori_id, caption in zip(ids, captions):
            cuis = {part: concepts[part].get(ori_id, []) for part in concepts}
            images.append(
                dict(
                    img_path=osp.join(img_prefix, f'{ori_id}.jpg'),
                    ori_id=ori_id,
                    cuis=cuis['concepts'],
                    cuis_manual=cuis['manual']))
            texts.append([self._text(caption, cuis)])
        return images, texts

    def _text(self, caption: str, cuis: Dict[str, List[str]]) -> str:
        """Append the concept names ``text_mode`` asks for to a caption."""
        text = caption
        for part in self._text_parts:
            names = [self.cui_names.get(cui, cui) for cui in cuis[part]]
            if names:
                text += f'\n{TEXT_PARTS[part][1]}: {"; ".join(names)}'
        return text

    def _load_captions(self) -> Tuple[List[str], List[str]]:
        """Return the IDs and stripped captions of ``self.ann_file``."""
        path = self.ann_file
        ids, captions = [], []
        first_line: Dict[str, int] = {}
        for line, (ori_id, caption) in read_csv_records(
                path, CAPTION_COLUMNS):
            ori_id = check_key(path, line, ori_id, 'ID', first_line)
            ids.append(ori_id)
            captions.append(check_caption(path, line, caption, ori_id))
        return ids, captions

    def _load_concepts(self, name: str, ids: List[str],
                       required: bool) -> Dict[str, List[str]]:
        """Return ID -> CUIs from a concepts file.

        Rows with IDs that have no caption are dropped with one warning.

        Raises:
            FileNotFoundError: If the file is ``required`` (by
                ``text_mode``) but absent.
        """
        path = self._path(name)
        if not osp.isfile(path):
            if required:
                raise FileNotFoundError(
                    f'{path} not found: text_mode={self.text_mode!r} needs '
                    f'it (header {",".join(CONCEPT_COLUMNS)!r})')
            return {}
        known = set(ids)
        concepts, first_line, orphans = {}, {}, []
        for line, (ori_id, value) in read_csv_records(path, CONCEPT_COLUMNS):
            ori_id = check_key(path, line, ori_id, 'ID', first_line)
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

    def _load_cui_names(self, required: bool) -> Optional[Dict[str, str]]:
        """Return CUI -> canonical name, or None without a mapping file.

        Raises:
            FileNotFoundError: If the file is ``required`` (by
                ``text_mode``) but absent.
        """
        path = self._path('cui_mapping.csv')
        if not osp.isfile(path):
            if required:
                raise FileNotFoundError(
                    f'{path} not found: text_mode={self.text_mode!r} needs '
                    'the concept names (header '
                    f'{",".join(CUI_MAPPING_COLUMNS)!r})')
            return None
        names, first_line = {}, {}
        for line, (cui, name) in read_csv_records(path, CUI_MAPPING_COLUMNS):
            cui = check_key(path, line, cui, 'CUI', first_line)
            names[cui] = name.strip()
        return names

    def img_dir_candidates(self) -> List[str]:
        """``{split}``, then ``{split}_images/{split}``."""
        return rocov2_img_dir_candidates(self.data_root, self.split)

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        concept_files = [
            name for name in (f'{self.split}_concepts.csv',
                              f'{self.split}_concepts_manual.csv')
            if osp.isfile(self._path(name))
        ]
        body = [
            f'Split: \t{self.split}',
            *super().extra_repr(),
            f'Concept files: \t{", ".join(concept_files) or "none"}',
        ]
        if self.cui_names is not None:
            body.append(f'CUI names: \t{len(self.cui_names)}')
        return body
