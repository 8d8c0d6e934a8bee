"""Data sets; importing this package registers them in mmpretrain."""
from .annotations import (check_caption, check_images, check_key,
                          find_bad_images, read_csv_records,
                          read_jsonl_records)
from .image_text import ImageTextDataset
from .irma import IRMADataset
from .irma_code import (IRMACode, describe_irma_axis, irma_code_to_text,
                        load_irma_hierarchy, parse_irma_code)
from .retrieval_dataset import BaseRetrievalDataset
from .retrieval_items import build_retrieval_items
from .rocov2 import ROCOv2Dataset, find_rocov2_img_dir
from .samplers import LengthGroupedSampler
from .transforms import LoadImageFromFileStrict

__all__ = [
    'BaseRetrievalDataset', 'ROCOv2Dataset', 'IRMADataset',
    'ImageTextDataset',
    'LoadImageFromFileStrict', 'IRMACode', 'parse_irma_code',
    'describe_irma_axis', 'irma_code_to_text', 'load_irma_hierarchy',
    'read_csv_records', 'read_jsonl_records', 'check_key', 'check_caption',
    'check_images', 'find_bad_images', 'build_retrieval_items',
    'find_rocov2_img_dir', 'LengthGroupedSampler'
]
