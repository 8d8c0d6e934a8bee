"""Load a trained model and encode images and captions with it.

The encoders reuse what evaluation uses: images go through the config's
test pipeline and the model's data preprocessor, captions through the
model's own tokenization (the prompt learner), so a feature computed here
equals the one ``tools/test.py`` scores.
"""
import copy
import os
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import LoadImageFromFile
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample
from tqdm import tqdm

#: An image given to :func:`encode_image`: a file path or a uint8 array.
ImageInput = Union[str, os.PathLike, np.ndarray]


def load_model(config: Union[str, os.PathLike, Config],
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None,
               strict: bool = True) -> BaseModel:
    """Build a model from its config and load a checkpoint, for inference.

    The config is kept on the model as ``model._config``, where MMPretrain's
    inferencers look for it, so the result can be passed to
    ``TextToImageRetrievalInferencer`` and ``ImageToTextRetrievalInferencer``
    as well as to :func:`encode_image` and :func:`encode_text`.

    Args:
        config (str | os.PathLike | Config): A config file or object. A
            Config object is copied, not changed.
        checkpoint (str, optional): An MMEngine checkpoint (``state_dict``
            inside) such as ``tools/train.py`` writes. Defaults to None,
            which initialises the weights as the config's ``init_cfg`` says
            instead (e.g. pretrained towers, for zero-shot use).
        device (str | torch.device): Where to put the model. Defaults to
            ``'cpu'``.
        cfg_options (dict, optional): Config overrides with dotted keys, as
            ``--cfg-options`` gives them, e.g.
            ``{'model.text_encoder.pretrained': 'path/to/Qwen3'}``.
        strict (bool): Whether every weight of the model must be in the
            checkpoint and vice versa. Defaults to True, so a checkpoint of
            another model fails instead of leaving weights random.

    Returns:
        BaseModel: The model in eval mode on ``device``.

    Raises:
        TypeError: If ``config`` is neither a path nor a Config.
        KeyError: If the config has no ``model``.
        FileNotFoundError: If ``checkpoint`` does not exist.
        RuntimeError: If ``strict`` and the weights do not match.

    Examples:
        >>> from qwenclip_mm.apis import encode_text, load_model
        >>> model = load_model(
        ...     'configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py',
        ...     'work_dirs/qwenclip_tiny_1xb32_synthetic-rocov2/epoch_12.pth')
        >>> encode_text(model, ['CT head: small hyperdense lesion.']).shape
        torch.Size([1, 64])
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif isinstance(config, (str, os.PathLike)):
        cfg = Config.fromfile(os.fspath(config))
    else:
        raise TypeError('config must be a file path or an mmengine Config, '
                        f'got {type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'config {cfg.filename or "(Config object)"} has no '
                       '"model" entry to build')
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(cfg.model)
    if checkpoint is None:
        model.init_weights()
    else:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=strict)
    model._config = cfg
    return model.to(device).eval()


@contextmanager
def _eval_mode(model: BaseModel) -> Iterator[None]:
    """Run in eval mode (no dropout), then restore the caller's mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _batches(num: int, batch_size: int, progress: bool,
             unit: str) -> Iterator[Tuple[int, int]]:
    """``(start, end)`` of each batch, with an optional tqdm bar."""
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    with tqdm(total=num, unit=unit, disable=not progress) as bar:
        for start in range(0, num, batch_size):
            end = min(start + batch_size, num)
            yield start, end
            bar.update(end - start)


@torch.no_grad()
def encode_text(model: BaseModel,
                texts: Sequence[str],
                batch_size: int = 64,
                progress: bool = False) -> torch.Tensor:
    """L2-normalised joint-space features of captions or text queries.

    Captions need no pipeline: the model tokenizes them itself, exactly as
    in evaluation. They are encoded shortest first (in tokens, for a model
    with ``text_lengths`` such as QwenCLIP), so each batch pads to similar
    lengths; a caption's feature does not depend on its batch.

    Args:
        model (BaseModel): A model with mmpretrain's retrieval contract
            (``extract_feat(data_samples=...)`` giving ``text_feat``), e.g.
            from :func:`load_model`.
        texts (Sequence[str]): The texts.
        batch_size (int): Texts per forward pass. Defaults to 64.
        progress (bool): Whether to show a progress bar. Defaults to False.

    Returns:
        torch.Tensor: Float32 ``(len(texts), D)`` on the CPU, rows of unit
        length, in the order of ``texts``.

    Raises:
        TypeError: If ``texts`` is a single str or holds a non-str.
        ValueError: If ``texts`` is empty.
    """
    if isinstance(texts, str):
        raise TypeError('texts must be a sequence of str, got one str; '
                        'pass [text]')
    texts = list(texts)
    if not texts:
        raise ValueError('texts is empty; expected at least one text')
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f'texts[{i}] must be a str, got {type(text).__name__}')
    # Shortest first: in tokens where the model counts them (QwenCLIP's
    # text_lengths), else in characters.
    text_lengths = getattr(model, 'text_lengths', None)
    lengths = text_lengths(texts) if callable(text_lengths) else [
        len(text) for text in texts
    ]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    feats = []
    with _eval_mode(model):
        for start, end in _batches(len(texts), batch_size, progress, 'text'):
            samples = [DataSample(text=texts[i]) for i in order[start:end]]
            feat = model.extract_feat(data_samples=samples)['text_feat']
            feats.append(feat.float().cpu())
    sorted_feats = torch.cat(feats)
    result = torch.empty_like(sorted_feats)
    result[order] = sorted_feats
    return F.normalize(result, dim=-1)


def _image_pipeline(model: BaseModel) -> Tuple[Callable, Callable]:
    """The config's test pipeline as (file loader, the other transforms).

    Separating the loader lets arrays enter the pipeline just where a loaded
    file would, so both go through the same resize, crop and packing.
    """
    cfg = getattr(model, '_config', None)
    if cfg is None:
        raise ValueError(
            'encode_image needs the config the model was built from, for its '
            'test pipeline; load the model with qwenclip_mm.apis.load_model '
            '(or set model._config to the Config)')
    try:
        pipeline_cfg = cfg.test_dataloader.dataset.pipeline
    except AttributeError as e:
        raise KeyError(
            f'config {cfg.filename or "(Config object)"} has no '
            'test_dataloader.dataset.pipeline; encode_image preprocesses '
            'images with it') from e
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        transforms = [TRANSFORMS.build(t) for t in pipeline_cfg]
    loaders = [t for t in transforms if isinstance(t, LoadImageFromFile)]
    others = [t for t in transforms if not isinstance(t, LoadImageFromFile)]
    return (loaders[0] if loaders else LoadImageFromFile()), Compose(others)


def _load_path(load: Callable, index: int, path: str) -> dict:
    """Load one image file, naming it in any error."""
    try:
        results = load(dict(img_path=path))
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f'images[{index}]: image file {path} does not exist') from e
    except Exception as e:  # decoders raise many types; all mean unreadable
        raise ValueError(
            f'images[{index}]: cannot read {path} as an image ({e})') from e
    if results is None:  # a loader configured with ignore_empty=True
        raise ValueError(f'images[{index}]: cannot read {path} as an image')
    return results


def _load_array(index: int, image: np.ndarray, channel_order: str) -> dict:
    """Make an in-memory image look like a freshly loaded file (BGR)."""
    if image.dtype != np.uint8:
        raise TypeError(f'images[{index}]: expected a uint8 array, got dtype '
                        f'{image.dtype}')
    if image.ndim == 2:
        # What a colour decoder makes of a greyscale file.
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 3:
        if channel_order == 'rgb':
            image = image[..., ::-1]
    else:
        raise ValueError(f'images[{index}]: expected an HxW or HxWx3 array, '
                         f'got shape {image.shape}')
    image = np.ascontiguousarray(image)
    shape = image.shape[:2]
    return dict(img=image, img_shape=shape, ori_shape=shape)


@torch.no_grad()
def encode_image(model: BaseModel,
                 images: Sequence[ImageInput],
                 batch_size: int = 32,
                 channel_order: str = 'rgb',
                 progress: bool = False) -> torch.Tensor:
    """L2-normalised joint-space features of images.

    Each image goes through the config's test pipeline (files are loaded by
    its ``LoadImageFromFile``, in BGR like every MMPretrain loader) and the
    model's data preprocessor, as in evaluation. An array equal to the
    decoded file gives the same feature as the file.

    Args:
        model (BaseModel): A model from :func:`load_model` (it needs the
            config kept on the model for the pipeline).
        images (Sequence[str | os.PathLike | np.ndarray]): File paths, or
            uint8 arrays of shape ``(H, W, 3)`` or greyscale ``(H, W)``.
        batch_size (int): Images per forward pass (and in memory at a
            time). Defaults to 32.
        channel_order (str): The channel order of 3-channel arrays:
            ``'rgb'`` (as PIL, matplotlib and imageio give them) or
            ``'bgr'`` (as ``cv2.imread`` / ``mmcv.imread``). Defaults to
            ``'rgb'``. Files are unaffected.
        progress (bool): Whether to show a progress bar. Defaults to False.

    Returns:
        torch.Tensor: Float32 ``(len(images), D)`` on the CPU, rows of unit
        length, in the order of ``images``.

    Raises:
        FileNotFoundError: If a path does not exist (the message names it).
        ValueError: If a file cannot be decoded, an array has the wrong
            shape, ``images`` is empty or ``channel_order`` is unknown.
        TypeError: If an image is neither a path nor a uint8 array.
    """
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(
            f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    if isinstance(images, (str, os.PathLike, np.ndarray)):
        raise TypeError('images must be a sequence of images, got a single '
                        f'{type(images).__name__}; pass [image]')
    images = list(images)
    if not images:
        raise ValueError('images is empty; expected at least one image')
    load, transform = _image_pipeline(model)

    def prepare(index: int) -> dict:
        image = images[index]
        if isinstance(image, (str, os.PathLike)):
            results = _load_path(load, index, os.fspath(image))
        elif isinstance(image, np.ndarray):
            results = _load_array(index, image, channel_order)
        else:
            raise TypeError(f'images[{index}] must be a file path or a uint8 '
                            f'array, got {type(image).__name__}')
        return transform(results)

    feats: List[torch.Tensor] = []
    with _eval_mode(model):
        for start, end in _batches(len(images), batch_size, progress, 'img'):
            batch = default_collate([prepare(i) for i in range(start, end)])
            data = model.data_preprocessor(batch, False)
            feat = model.extract_feat(images=data['images'])['image_feat']
            feats.append(feat.float().cpu())
    return F.normalize(torch.cat(feats), dim=-1)
