"""Any image-text data set described by a CSV or JSON Lines file."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmpretrain.registry import DATASETS

from .annotations import (check_caption, read_csv_records, read_jsonl_records,
                          row_error)
from .retrieval_dataset import BaseRetrievalDataset

FORMATS = ('csv', 'jsonl')
_JSONL_SUFFIXES = ('.jsonl', '.ndjson')


@DATASETS.register_module()
class ImageTextDataset(BaseRetrievalDataset):
    """Image-text pairs from one annotation file, for training and retrieval.

    For your own data: a CSV (any delimiter) or JSON Lines file that names
    each image and its caption(s), optionally a class label and concepts.

    Directory (names are free; these are the defaults' examples): ::

        data_root
        ├── train.csv            image,caption[,label][,concepts]
        ├── test.jsonl           {"image": ..., "caption": ...} per line
        └── images               (``img_dir``; paths in the files are
            ├── 0001.png          relative to it, or absolute)
            └── sub/0002.jpg

    **CSV** (``.csv``, ``.tsv`` or any name not ending in ``.jsonl`` /
    ``.ndjson``): a header row naming the columns, then one row per
    (image, caption) pair. Quote fields that contain the delimiter, quotes
    (doubled) or line breaks, as any CSV writer does. An image may appear
    on several rows, one per caption, and/or ``caption_column`` may name
    several columns. Concepts are one cell separated by
    ``concept_separator``. Example::

        image,caption,label
        0001.png,"Chest X-ray, PA view: no consolidation.",normal
        0001.png,Frontal chest radiograph without findings.,normal
        sub/0002.jpg,"Axial CT: 3 cm mass in the ""left"" lobe.",tumour

    **JSON Lines** (``.jsonl`` / ``.ndjson``): one object per line with the
    same keys; a caption may be a string or a list of strings, concepts a
    list of strings or one separated string, a label a string or an int::

        {"image": "0001.png", "caption": ["Chest X-ray.", "No findings."]}

    Items are those of :class:`~qwenclip_mm.datasets.BaseRetrievalDataset`
    (one per (image, caption) pair in training, one per image in test
    mode), with ``ori_id`` (the image as written in the file). With
    ``label_column`` items also have ``gt_label`` (the
    index of the label in ``classes``), with ``concepts_column``
    ``concepts`` (list of str). With ``merge_identical_texts=True``
    identical captions of different images are one gallery entry with all
    those images as positives, and in training such images share an
    ``image_id`` (see
    :func:`~qwenclip_mm.datasets.retrieval_items.build_retrieval_items`),
    which suits class-like captions.

    Captions are kept exactly (commas, quotes, line breaks, non-ASCII)
    except for leading and trailing whitespace. At construction every
    problem raises naming the file, the line and what was expected: a
    missing file, column or key, a wrong delimiter, an empty image path, an
    empty or whitespace-only caption, the same (image, caption) pair twice,
    rows of one image with different labels or concepts, a label not in
    the given ``classes``. ``check_images=True`` also lists every missing
    or unreadable image up front.

    Args:
        ann_file (str): The annotation file, absolute or relative to
            ``data_root``.
        data_root (str): The folder of the data set. Defaults to ``''``.
        img_dir (str): The folder the image paths are relative to,
            absolute or relative to ``data_root``. Defaults to ``''``.
        image_column (str): Column (key) of the image path. Defaults to
            ``'image'``.
        caption_column (str | Sequence[str]): Column(s) (keys) of the
            captions. Defaults to ``'caption'``.
        label_column (str, optional): Column (key) of a class label.
            Defaults to None.
        concepts_column (str, optional): Column (key) of concepts. Defaults
            to None.
        concept_separator (str): Separates concepts within one cell.
            Defaults to ``';'``.
        delimiter (str): The CSV field delimiter. Defaults to ``','``.
        file_format (str, optional): ``'csv'`` or ``'jsonl'``. Defaults to
            None, which decides by the file's suffix.
        test_mode (bool): Whether to return one item per image in retrieval
            evaluation format. Defaults to False.
        classes (Sequence[str], optional): The label names in class-index
            order. Defaults to None: the distinct labels sorted (as numbers
            if all are integers).
        **kwargs: ``merge_identical_texts``, ``check_images``,
            ``subset_size``, ``subset_seed`` and ``pipeline``, as for
            :class:`~qwenclip_mm.datasets.BaseRetrievalDataset`, and other
            keyword arguments of :class:`BaseDataset` (not ``indices``: the
            galleries are the whole file).

    Attributes:
        img_size (int): The number of images.
        text_size (int): The number of texts in the gallery.

    Examples:
        >>> from qwenclip_mm.datasets import ImageTextDataset
        >>> dataset = ImageTextDataset(
        ...     'train.csv', data_root='data/my_set', img_dir='images',
        ...     label_column='label')
        >>> dataset
        Dataset ImageTextDataset
            Number of samples:  3
            Number of categories:       2
            Annotation file:    data/my_set/train.csv
            Prefix of images:   data/my_set/images
            Images:     2
            Texts:      3
        >>> dataset.get_data_info(2)['text'], dataset.get_data_info(2)['gt_label']
        ('Axial CT: 3 cm mass in the "left" lobe.', 1)
        >>> test = ImageTextDataset('train.csv', data_root='data/my_set',
        ...                         img_dir='images', test_mode=True)
        >>> test.get_data_info(0)['gt_text_id']
        [0, 1]
    """  # noqa: E501

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 img_dir: str = '',
                 image_column: str = 'image',
                 caption_column: Union[str, Sequence[str]] = 'caption',
                 label_column: Optional[str] = None,
                 concepts_column: Optional[str] = None,
                 concept_separator: str = ';',
                 delimiter: str = ',',
                 file_format: Optional[str] = None,
                 test_mode: bool = False,
                 **kwargs):
        if file_format is None:
            file_format = 'jsonl' if ann_file.lower().endswith(
                _JSONL_SUFFIXES) else 'csv'
        if file_format not in FORMATS:
            raise ValueError(
                f'file_format must be one of {FORMATS}, got {file_format!r}')
        self.file_format = file_format
        self.image_column = image_column
        self.caption_columns = ((caption_column, ) if isinstance(
            caption_column, str) else tuple(caption_column))
        if not self.caption_columns:
            raise ValueError('caption_column must name at least one column')
        self.label_column = label_column
        self.concepts_column = concepts_column
        if not concept_separator:
            raise ValueError('concept_separator must not be empty')
        self.concept_separator = concept_separator
        self.delimiter = delimiter
        super().__init__(
            ann_file, data_root, img_dir, test_mode,
            **kwargs)

    def load_images_and_captions(
            self) -> Tuple[List[dict], List[List[str]]]:
        """Read the annotation file: the images and their captions."""
        rows = (self._csv_rows()
                if self.file_format == 'csv' else self._jsonl_rows())
        if not rows:
            raise ValueError(f'{self.ann_file} has no rows: expected one per '
                             'image-caption pair')
        path = self.ann_file
        order: Dict[str, int] = {}
        images, captions, first_rows = [], [], []
        seen_pairs: Dict[Tuple[str, str], int] = {}
        for line, image, texts, label, concepts in rows:
            if image not in order:
                order[image] = len(images)
                images.append(
                    dict(
                        img_path=osp.join(self.img_prefix, image),
                        ori_id=image))
                captions.append([])
                first_rows.append((line, label, concepts))
            i = order[image]
            first_line, first_label, first_concepts = first_rows[i]
            for name, value, first in (('label', label, first_label),
                                       ('concepts', concepts,
                                        first_concepts)):
                if value != first:
                    raise row_error(
                        path, line, f'image {image!r} has {name} {value!r} '
                        f'here but {first!r} on line {first_line}; expected '
                        f'one {name} per image')
            for text in texts:
                if (image, text) in seen_pairs:
                    raise row_error(
                        path, line, f'duplicate caption of image {image!r} '
                        f'(first on line {seen_pairs[image, text]}); '
                        'expected every (image, caption) pair once')
                seen_pairs[image, text] = line
                captions[i].append(text)

        if self.label_column is not None:
            self._set_labels(images, [r[0] for r in first_rows],
                             [r[1] for r in first_rows])
        if self.concepts_column is not None:
            for image, (_, _, concepts) in zip(images, first_rows):
                image['concepts'] = concepts
        return images, captions

    def _set_labels(self, images: List[dict], lines: List[int],
                    labels: List[str]) -> None:
        """Set ``gt_label`` of every image, and ``classes`` if not given."""
        classes = self._metainfo.get('classes')
        if classes is None:
            distinct = set(labels)
            numeric = all(label.lstrip('-').isdecimal() for label in distinct)
            classes = tuple(
                sorted(distinct, key=int if numeric else None))
            self._metainfo['classes'] = classes
        index = {str(name): i for i, name in enumerate(classes)}
        for image, line, label in zip(images, lines, labels):
            if label not in index:
                raise row_error(
                    self.ann_file, line, f'label {label!r} is not in the '
                    f'given classes ({len(index)} names); expected one of '
                    'them')
            image['gt_label'] = index[label]

    def _columns(self) -> Tuple[str, ...]:
        """The columns (keys) every row must have."""
        optional = (self.label_column, self.concepts_column)
        return (self.image_column, *self.caption_columns,
                *(c for c in optional if c is not None))

    def _csv_rows(self) -> List[tuple]:
        """Rows of a CSV file as ``(line, image, captions, label,
        concepts)``."""
        path = self.ann_file
        columns = self._columns()
        num_captions = len(self.caption_columns)
        rows = []
        for line, values in read_csv_records(path, columns, self.delimiter):
            image = self._image(line, values[0])
            texts = [
                check_caption(path, line, text, image)
                for text in values[1:1 + num_captions]
            ]
            extra = dict(zip(columns[1 + num_captions:],
                             values[1 + num_captions:]))
            label = (self._label(line, extra[self.label_column])
                     if self.label_column is not None else None)
            concepts = (self._split_concepts(extra[self.concepts_column])
                        if self.concepts_column is not None else None)
            rows.append((line, image, texts, label, concepts))
        return rows

    def _jsonl_rows(self) -> List[tuple]:
        """Rows of a JSON Lines file as ``(line, image, captions, label,
        concepts)``."""
        path = self.ann_file
        rows = []
        for line, record in read_jsonl_records(path):
            missing = [c for c in self._columns() if c not in record]
            if missing:
                raise row_error(
                    path, line, f'missing key {missing[0]!r}; expected the '
                    f'keys {", ".join(self._columns())} '
                    f'(got {", ".join(record) or "none"})')
            image = self._image(line,
                                self._string(line, record, self.image_column))
            texts = []
            for column in self.caption_columns:
                value = record[column]
                values = value if isinstance(value, list) else [value]
                if not values or not all(isinstance(v, str) for v in values):
                    raise row_error(
                        path, line, f'{column!r} must be a string or a '
                        f'non-empty list of strings, got {value!r}')
                texts.extend(
                    check_caption(path, line, text, image) for text in values)
            label = None
            if self.label_column is not None:
                value = record[self.label_column]
                if isinstance(value, bool) or not isinstance(value,
                                                             (str, int)):
                    raise row_error(
                        path, line, f'{self.label_column!r} must be a string '
                        f'or an int, got {value!r}')
                label = self._label(line, str(value))
            concepts = None
            if self.concepts_column is not None:
                value = record[self.concepts_column]
                if isinstance(value, str):
                    concepts = self._split_concepts(value)
                elif isinstance(value, list) and all(
                        isinstance(v, str) for v in value):
                    concepts = [v.strip() for v in value if v.strip()]
                else:
                    raise row_error(
                        path, line, f'{self.concepts_column!r} must be a list '
                        f'of strings or a string, got {value!r}')
            rows.append((line, image, texts, label, concepts))
        return rows

    def _string(self, line: int, record: dict, key: str) -> str:
        """Return ``record[key]``, which must be a string."""
        value = record[key]
        if not isinstance(value, str):
            raise row_error(self.ann_file, line,
                            f'{key!r} must be a string, got {value!r}')
        return value

    def _image(self, line: int, value: str) -> str:
        """Return the stripped image path of a row, refusing an empty one."""
        image = value.strip()
        if not image:
            raise row_error(
                self.ann_file, line, f'empty {self.image_column!r}; expected '
                'an image path in every row')
        return image

    def _label(self, line: int, value: str) -> str:
        """Return the stripped label of a row, refusing an empty one."""
        label = value.strip()
        if not label:
            raise row_error(
                self.ann_file, line, f'empty {self.label_column!r}; expected '
                'a label in every row')
        return label

    def _split_concepts(self, value: str) -> List[str]:
        return [
            c.strip() for c in value.split(self.concept_separator)
            if c.strip()
        ]

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            *super().extra_repr(),
            f'Images: \t{self.img_size}',
            f'Texts: \t{self.text_size}',
        ]
