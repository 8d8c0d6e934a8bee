"""Turn images and their captions into retrieval data set items.

One function serves every data set, so the training pairs and the
evaluation format (that of :class:`mmpretrain.datasets.COCORetrieval`,
which ``RetrievalValLoop`` and ``QwenCLIP.predict_all`` consume) mean the
same everywhere.
"""
from typing import Dict, List, Sequence, Tuple


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
