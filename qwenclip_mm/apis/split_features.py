"""Command-line plumbing shared by the tools that encode a whole split.

``tools/analysis_tools/extract_embeddings.py`` and
``tools/visualization/retrieval_demo.py`` both take a config, a checkpoint
and the same split / batch / device options, load the model, read the split
and encode its image and caption galleries; this module is that part.
"""
import argparse
from typing import NamedTuple, Optional

import torch
from mmengine.config import DictAction
from mmengine.model import BaseModel

from .inference import encode_image, encode_text, load_model
from .retrieval_split import RetrievalSplit, load_split


class SplitFeatures(NamedTuple):
    """A loaded model, a split of its config and the split's features.

    Attributes:
        model (BaseModel): The model of :func:`load_model`.
        split (RetrievalSplit): The split of :func:`load_split`.
        image_feats (torch.Tensor, optional): ``encode_image`` of
            ``split.image_paths``, ``(images, D)``; None if not asked for.
        text_feats (torch.Tensor, optional): ``encode_text`` of
            ``split.texts``, ``(captions, D)``; None if not asked for.
    """
    model: BaseModel
    split: RetrievalSplit
    image_feats: Optional[torch.Tensor]
    text_feats: Optional[torch.Tensor]


def add_split_arguments(
        parser: argparse.ArgumentParser,
        split_help: Optional[str] = None) -> argparse.ArgumentParser:
    """Add the arguments that :func:`load_split_features` reads.

    These are the positional ``config`` and ``checkpoint`` and the options
    ``--split`` (default ``test``), ``--batch-size`` (images per batch,
    default 32), ``--text-batch-size`` (captions per batch, default 64),
    ``--device`` (``cuda`` if available, else ``cpu``) and
    ``--cfg-options``. Add a tool's own options before calling this to list
    them first in ``--help``.

    Args:
        parser (argparse.ArgumentParser): The parser to add them to.
        split_help (str, optional): The help text of ``--split``. Defaults
            to None, i.e. ``"data split of the config's test data set
            (default: test)"``.

    Returns:
        argparse.ArgumentParser: ``parser``.

    Examples:
        >>> parser = argparse.ArgumentParser()
        >>> args = add_split_arguments(parser).parse_args(
        ...     ['config.py', 'epoch_1.pth', '--split', 'valid'])
        >>> args.split, args.batch_size, args.text_batch_size
        ('valid', 32, 64)
    """
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    if split_help is None:
        split_help = ('data split of the config\'s test data set '
                      '(default: test)')
    parser.add_argument('--split', default='test', help=split_help)
    parser.add_argument(
        '--batch-size', type=int, default=32, help='images per batch')
    parser.add_argument(
        '--text-batch-size', type=int, default=64, help='captions per batch')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device to run the model on')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'test_dataloader.dataset.data_root=data/rocov2')
    return parser


def load_split_features(args: argparse.Namespace,
                        images: bool = True,
                        texts: bool = True,
                        verbose: bool = False) -> SplitFeatures:
    """Load the model, read its split and encode the split's galleries.

    Runs :func:`load_model` with ``args.config``, ``args.checkpoint``,
    ``args.device`` and ``args.cfg_options``, :func:`load_split` of
    ``args.split`` from the model's config, then :func:`encode_image` of the
    split's images (``args.batch_size`` at a time) and :func:`encode_text`
    of its captions (``args.text_batch_size`` at a time), with progress bars
    on stderr.

    Args:
        args (argparse.Namespace): Arguments parsed by a parser that
            :func:`add_split_arguments` set up.
        images (bool): Whether to encode the images. Defaults to True.
        texts (bool): Whether to encode the captions. Defaults to True.
        verbose (bool): Whether to print the split's name and size to
            stdout before encoding. Defaults to False.

    Returns:
        SplitFeatures: The model, the split and its image and caption
        features, None for a gallery not encoded.
    """
    model = load_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options)
    split = load_split(model._config, args.split)
    if verbose:
        print(f'split {args.split!r}: {len(split.image_paths)} images, '
              f'{len(split.texts)} captions')
    image_feats = encode_image(
        model, split.image_paths, batch_size=args.batch_size,
        progress=True) if images else None
    text_feats = encode_text(
        model, split.texts, batch_size=args.text_batch_size,
        progress=True) if texts else None
    return SplitFeatures(model, split, image_feats, text_feats)
