"""A data split as an image gallery and a caption gallery, with IDs."""
import copy
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS


@dataclass
class RetrievalSplit:
    """The two galleries of a retrieval split, in evaluation order.

    Images are in data set order and captions in the order the retrieval
    loops concatenate them (each item's ``text`` list in turn), so row ``i``
    of features computed from these lists lines up with gallery index ``i``
    of ``tools/test.py``, and the ground truth is the one it scores.

    Attributes:
        image_paths (list[str]): Image files.
        image_ids (list[str]): The data set's ID of each image (ROCOv2's
            ``ori_id`` such as ``ROCOv2_2023_test_000001``), else the file
            name without extension.
        texts (list[str]): The captions.
        text_ids (list[str]): An ID per caption: the ID of the image that
            lists it when that image lists one caption (ROCOv2 keys captions
            by image ID), else ``'{image_id}#{k}'`` for its k-th caption.
        image_gt (list[list[int]]): For each image, the indices in ``texts``
            of its matching captions (the item's ``gt_text_id``).
        text_gt (list[list[int]]): For each caption, the indices in
            ``image_paths`` of its matching images (the item's
            ``gt_image_id`` entry for that caption).
    """
    image_paths: List[str]
    image_ids: List[str]
    texts: List[str]
    text_ids: List[str]
    image_gt: List[List[int]]
    text_gt: List[List[int]]


def _as_list(ids: Union[int, Sequence[int]]) -> List[int]:
    return [int(ids)] if isinstance(ids, int) else [int(i) for i in ids]


def load_split(cfg: Config, split: Optional[str] = 'test') -> RetrievalSplit:
    """Read a split of the config's test data set as two galleries.

    The data set is built from ``cfg.test_dataloader.dataset`` in test mode
    (one item per image with its list of captions and ground truth) without
    a pipeline, so no image is opened here.

    Args:
        cfg (Config): A config with ``test_dataloader.dataset``, e.g. the
            ``model._config`` of :func:`~qwenclip_mm.apis.load_model`.
        split (str, optional): Overrides the data set's ``split`` (e.g.
            ``'valid'``). Defaults to ``'test'``; None keeps the config's.

    Returns:
        RetrievalSplit: The split's images, captions, IDs and ground truth.

    Raises:
        KeyError: If the config has no ``test_dataloader.dataset`` or an item
            lacks a retrieval key (``img_path``, ``text``, ``gt_text_id``,
            ``gt_image_id``).
        ValueError: If an item's ``gt_image_id`` has not one entry per
            caption.
    """
    if cfg.get('test_dataloader', {}).get('dataset') is None:
        raise KeyError(f'config {cfg.filename or "(Config object)"} has no '
                       'test_dataloader.dataset to read the split from')
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg.update(test_mode=True, pipeline=[])
    if split is not None:
        dataset_cfg.split = split
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        dataset = DATASETS.build(dataset_cfg)

    result = RetrievalSplit([], [], [], [], [], [])
    for index in range(len(dataset)):
        item = dataset.get_data_info(index)
        for key in ('img_path', 'text', 'gt_text_id', 'gt_image_id'):
            if key not in item:
                raise KeyError(
                    f'{type(dataset).__name__} item {index} has no {key!r}; '
                    'expected test-mode retrieval items with img_path, text, '
                    'gt_text_id and gt_image_id')
        texts = item['text']
        texts = [texts] if isinstance(texts, str) else list(texts)
        gt_images = item['gt_image_id']
        gt_images = [gt_images] if isinstance(gt_images, int) else gt_images
        if len(gt_images) != len(texts):
            raise ValueError(
                f'{type(dataset).__name__} item {index}: {len(texts)} '
                f'caption(s) but {len(gt_images)} gt_image_id entries; '
                'expected one per caption')
        image_id = str(
            item.get('ori_id')
            or osp.splitext(osp.basename(item['img_path']))[0])
        result.image_paths.append(item['img_path'])
        result.image_ids.append(image_id)
        result.image_gt.append(_as_list(item['gt_text_id']))
        result.texts.extend(texts)
        result.text_ids.extend([image_id] if len(texts) == 1 else
                               [f'{image_id}#{k}' for k in range(len(texts))])
        result.text_gt.extend(_as_list(ids) for ids in gt_images)
    return result
