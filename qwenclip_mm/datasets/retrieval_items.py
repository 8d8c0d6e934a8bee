"""Turn images and their captions into retrieval data set items.

One function serves every data set, so the training pairs and the
evaluation format (that of :class:`mmpretrain.datasets.COCORetrieval`,
which ``RetrievalValLoop`` and ``QwenCLIP.predict_all`` consume) mean the
same everywhere.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from qwenclip_mm.evaluation.subsets import subset_indices


def _components(captions: Sequence[Sequence[str]]) -> List[int]:
    """Number the groups of images linked by identical captions.

    Two images are in one group when they share a caption, directly or
    through other images. Groups are numbered 0, 1, ... in order of their
    first image.
    """
    parent = list(range(len(captions)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_image: Dict[str, int] = {}
    for i, texts in enumerate(captions):
        for text in texts:
            j = first_image.setdefault(text, i)
            root_i, root_j = find(i), find(j)
            if root_i != root_j:
                # The smaller index stays the root, so roots are first images.
                parent[max(root_i, root_j)] = min(root_i, root_j)
    numbers: Dict[int, int] = {}
    return [numbers.setdefault(find(i), len(numbers))
            for i in range(len(captions))]


def select_subset(images: Sequence[dict], captions: Sequence[Sequence[str]],
                  size: Optional[int], seed: int, source: str
                  ) -> Tuple[List[dict], List[Sequence[str]]]:
    """Keep a deterministic subset of ``size`` images with their captions.

    The images are drawn by :func:`~qwenclip_mm.evaluation.subset_indices`
    keyed by their ``ori_id``, so the subset (e.g. the common 2,000-pair
    test subset) depends only on the seed and the IDs, not on the file
    order or the library versions, and keeps the file order. It is drawn
    before the retrieval items are built, so gallery ids and positives are
    those of the subset.

    Args:
        images (Sequence[dict]): Per image, a dict with ``ori_id``.
        captions (Sequence[Sequence[str]]): Per image, its captions.
        size (int, optional): Images to keep; None keeps all.
        seed (int): The subset's seed.
        source (str): The annotation file, named in errors.

    Returns:
        tuple: ``(images, captions)`` of the subset.

    Raises:
        ValueError: If ``size`` is not a positive int at most the number of
            images.
    """
    if size is None:
        return list(images), list(captions)
    if isinstance(size, bool) or not isinstance(size, int) or not (
            0 < size <= len(images)):
        raise ValueError(f'subset_size must be an int in 1..{len(images)} '
                         f'(the images in {source}), got {size!r}.')
    keep = subset_indices(
        len(images), size, seed, keys=[image['ori_id'] for image in images])
    return [images[i] for i in keep], [captions[i] for i in keep]


def build_retrieval_items(images: Sequence[dict],
                          captions: Sequence[Sequence[str]],
                          test_mode: bool,
                          merge_identical_texts: bool = False
                          ) -> Tuple[List[dict], int, int]:
    """Build training pairs or evaluation items from images and captions.

    Training mode gives one item per (image, caption) pair: ``text`` (str),
    ``text_id`` and ``image_id``. Test mode gives one item per image:
    ``text`` (the captions this item adds to the text gallery, a list),
    ``gt_text_id`` (the gallery ids of all the image's captions),
    ``gt_image_id`` (one entry per listed caption: its positive image(s))
    and ``image_id`` (the image's index). The text gallery is the
    concatenation of every item's ``text`` in item order, as
    ``RetrievalValLoop`` builds it.

    With ``merge_identical_texts=False`` every caption is its own gallery
    entry whose one positive is its image (``gt_image_id`` entries are
    ints), and training ``image_id`` is the image's index.

    With ``merge_identical_texts=True`` identical captions are one gallery
    entry, listed on the first image that has it (later images carry only
    their new captions, possibly none), and its positives are all images
    that have it (``gt_image_id`` entries are sorted lists). In training,
    the contrastive head treats samples sharing an ``image_id`` as
    positives, so ``image_id`` numbers the groups of images linked by
    identical captions: pulling one text towards two images while pushing
    it away from them would contradict itself.

    Args:
        images (Sequence[dict]): Per image, the keys every item of it
            carries (``img_path``, ``ori_id``, labels, ...); copied.
        captions (Sequence[Sequence[str]]): Per image, its captions (at
            least one each).
        test_mode (bool): Whether to build evaluation items.
        merge_identical_texts (bool): See above. Defaults to False.

    Returns:
        tuple: ``(data_list, img_size, text_size)``, the items and the sizes
        of the image and text galleries.
    """
    if merge_identical_texts:
        text_ids: Dict[str, int] = {}
        for texts in captions:
            for text in texts:
                text_ids.setdefault(text, len(text_ids))
        train_image_ids = _components(captions)
    else:
        train_image_ids = list(range(len(images)))
    text_size = len(text_ids) if merge_identical_texts else sum(
        len(texts) for texts in captions)

    if not test_mode:
        data_list = []
        for i, (image, texts) in enumerate(zip(images, captions)):
            for text in texts:
                text_id = text_ids[text] if merge_identical_texts else len(
                    data_list)
                data_list.append(
                    dict(
                        image,
                        text=text,
                        text_id=text_id,
                        image_id=train_image_ids[i]))
        return data_list, len(images), text_size

    if merge_identical_texts:
        positives: List[List[int]] = [[] for _ in range(text_size)]
        for i, texts in enumerate(captions):
            for text_id in sorted({text_ids[t] for t in texts}):
                positives[text_id].append(i)
    data_list = []
    next_text_id = 0
    for i, (image, texts) in enumerate(zip(images, captions)):
        if merge_identical_texts:
            ids = sorted({text_ids[t] for t in texts})
            new = [t for t in ids if t >= next_text_id]
            next_text_id += len(new)
            # Texts are numbered by first appearance, so the new ones are
            # next in gallery order.
            listed = [next(text for text in texts if text_ids[text] == t)
                      for t in new]
            gt_image_id = [positives[t] for t in new]
        else:
            ids = list(range(next_text_id, next_text_id + len(texts)))
            next_text_id += len(texts)
            listed = list(texts)
            gt_image_id = [i] * len(texts)
        data_list.append(
            dict(
                image,
                text=listed,
                gt_text_id=ids,
                gt_image_id=gt_image_id,
                image_id=i))
    return data_list, len(images), text_size
