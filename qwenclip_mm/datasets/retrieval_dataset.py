"""The part that every image-text retrieval data set of QwenCLIP shares."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmpretrain.datasets import BaseDataset

from .annotations import check_images
from .retrieval_items import build_retrieval_items, select_subset


class BaseRetrievalDataset(BaseDataset):
    """A data set of images with captions, for training and retrieval.

    A subclass reads only its own files: :meth:`load_images_and_captions`
    returns each image's keys and captions. This class draws the subset,
    checks the images and builds the items, which are the same for every
    subclass (see :func:`~qwenclip_mm.datasets.build_retrieval_items`):

    - **Training** (``test_mode=False``): one item per image-caption pair,
      with ``img_path``, ``text`` (str), ``image_id`` and ``text_id``
      (contiguous ints in file order), plus the image's own keys (such as
      ``ori_id``, ``gt_label``). Images that share a text through
      ``merge_identical_texts`` share an ``image_id``, so the contrastive
      head treats them as positives.
    - **Test** (``test_mode=True``): one item per image in the format of
      :class:`mmpretrain.datasets.COCORetrieval`, as ``RetrievalValLoop``
      expects: ``text`` (the captions this image adds to the text gallery, a
      list), ``gt_text_id`` (the gallery ids of all its captions),
      ``gt_image_id`` (per listed caption, its positive image, or a sorted
      list of them when identical texts are merged) and ``image_id``.

    Attributes ``img_size`` and ``text_size`` are the sizes of the image and
    text galleries (of the subset, if one is drawn).

    Args:
        ann_file (str): The annotation file.
        data_root (str): The folder that relative paths start from.
        img_dir (str, optional): The image folder, absolute or relative to
            ``data_root``. None lets :meth:`resolve_img_dir` look for it in
            :meth:`img_dir_candidates`.
        test_mode (bool): Whether to build test items. Defaults to False.
        merge_identical_texts (bool): Whether identical texts are one
            gallery entry with all their images as positives. Defaults to
            False.
        check_images (bool): Whether to check at construction that every
            image exists and passes ``PIL.Image.verify``. Defaults to False.
        subset_size (int, optional): Keep a deterministic subset of this
            many images (e.g. 2000 for the common 2,000-pair test subset),
            drawn by their ``ori_id`` with ``subset_seed`` before the
            retrieval items are built, so the galleries and positives are
            the subset's. Defaults to None (all). Use this, not
            ``indices``.
        subset_seed (int): The subset's seed. Defaults to 0.
        pipeline (Sequence): Processing pipeline. Defaults to ``()``.
        **kwargs: Other keyword arguments of :class:`BaseDataset` (not
            ``indices``: the galleries are those of the whole file).
    """

    #: How the images are named, for error messages.
    IMAGE_NAMES = 'one file per image'

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 img_dir: Optional[str] = None,
                 test_mode: bool = False,
                 merge_identical_texts: bool = False,
                 check_images: bool = False,
                 subset_size: Optional[int] = None,
                 subset_seed: int = 0,
                 pipeline: Sequence = (),
                 **kwargs):
        self.merge_identical_texts = merge_identical_texts
        self.check_images = check_images
        self.subset_size = subset_size
        self.subset_seed = subset_seed
        self._find_img_dir = img_dir is None
        self.img_size = 0
        self.text_size = 0
        super().__init__(
            ann_file=ann_file,
            data_root=osp.expanduser(data_root),
            data_prefix=dict(img_path=img_dir or ''),
            test_mode=test_mode,
            pipeline=pipeline,
            **kwargs)

    def load_images_and_captions(self) -> Tuple[List[dict], List[List[str]]]:
        """Read the subclass's files.

        Returns:
            tuple[list[dict], list[list[str]]]: Per image, the keys its items
            carry (at least ``img_path`` and ``ori_id``), and its captions
            (at least one).
        """
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """Read the files and build the items described above."""
        images, captions = self.load_images_and_captions()
        images, captions = select_subset(images, captions, self.subset_size,
                                         self.subset_seed, self.ann_file)
        if self.check_images:
            check_images([image['img_path'] for image in images],
                         self.ann_file, self.img_prefix)
        data_list, self.img_size, self.text_size = build_retrieval_items(
            images, captions, self.test_mode, self.merge_identical_texts)
        return data_list

    def img_dir_candidates(self) -> List[str]:
        """The folders where the images may be, in search order."""
        return []

    def resolve_img_dir(self) -> str:
        """Find the image folder, store it in ``data_prefix`` and return it.

        For subclasses whose files come in splits (``self.split``).

        Raises:
            FileNotFoundError: No candidate folder exists, or the given
                ``img_dir`` is not a folder.
        """
        if self._find_img_dir:
            candidates = self.img_dir_candidates()
            found = next((c for c in candidates if osp.isdir(c)), None)
            if found is None:
                expected = ' or '.join(sorted(candidates, key=len))
                raise FileNotFoundError(
                    f'No image folder for split {self.split!r}: expected '
                    f'{expected}; pass img_dir= if the images are elsewhere')
            self.data_prefix['img_path'] = found
        elif not osp.isdir(self.img_prefix):
            raise FileNotFoundError(
                f'img_dir {self.img_prefix} is not a folder; expected the '
                f'images of split {self.split!r} as {self.IMAGE_NAMES} in it')
        return self.img_prefix

    def extra_repr(self) -> List[str]:
        """The annotation file and the image folder, for ``repr``."""
        return [
            f'Annotation file: \t{self.ann_file}',
            f'Prefix of images: \t{self.img_prefix}',
        ]
