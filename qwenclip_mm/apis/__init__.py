"""Inference helpers for users: load a model, encode, search."""
from .inference import encode_image, encode_text, load_model
from .retrieval_split import RetrievalSplit, load_split
from .search import search
from .split_features import (SplitFeatures, add_split_arguments,
                             load_split_features)

__all__ = [
    'load_model', 'encode_image', 'encode_text', 'search', 'RetrievalSplit',
    'load_split', 'SplitFeatures', 'add_split_arguments',
    'load_split_features'
]
