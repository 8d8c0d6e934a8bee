"""Top-K search of query features in a gallery of features."""
from typing import Tuple, Union

import numpy as np
import torch

#: Features as a torch tensor or a numpy array (e.g. a saved ``.npy``).
Features = Union[torch.Tensor, np.ndarray]


def search(query_feats: Features,
           gallery_feats: Features,
           topk: int = 5,
           chunk_size: int = 1024) -> Tuple[torch.Tensor, torch.Tensor]:
    """Find the best-scoring gallery items of every query.

    Scores are dot products, i.e. cosine similarities for the L2-normalised
    features of :func:`encode_image` and :func:`encode_text`. Queries are
    scored ``chunk_size`` at a time, so memory stays bounded by
    ``chunk_size x len(gallery)`` scores however many queries there are.

    Args:
        query_feats (Tensor | np.ndarray): ``(Q, D)``.
        gallery_feats (Tensor | np.ndarray): ``(G, D)``.
        topk (int): Results per query; fewer when the gallery is smaller.
            Defaults to 5.
        chunk_size (int): Queries scored at a time. Defaults to 1024.

    Returns:
        tuple[Tensor, Tensor]: ``scores`` (float, ``(Q, k)``, descending)
        and ``indices`` (long, ``(Q, k)``, into the gallery), with
        ``k = min(topk, G)``, on the device of the features.

    Raises:
        ValueError: If a feature matrix is not 2-D, their widths differ, the
            gallery is empty, or ``topk`` or ``chunk_size`` is < 1.

    Examples:
        >>> import torch
        >>> gallery = torch.eye(3)
        >>> scores, indices = search(torch.tensor([[0.6, 0.8, 0.]]), gallery,
        ...                          topk=2)
        >>> indices
        tensor([[1, 0]])
    """
    query = torch.as_tensor(query_feats)
    gallery = torch.as_tensor(gallery_feats).to(query.device, query.dtype)
    for name, feats in (('query_feats', query), ('gallery_feats', gallery)):
        if feats.dim() != 2:
            raise ValueError(f'{name} must have shape (N, D), got '
                             f'{tuple(feats.shape)}')
    if query.size(1) != gallery.size(1):
        raise ValueError(
            f'query_feats are {query.size(1)}-d but gallery_feats are '
            f'{gallery.size(1)}-d; both must come from the same model')
    if gallery.size(0) == 0:
        raise ValueError('gallery_feats is empty; nothing to search')
    if topk < 1 or chunk_size < 1:
        raise ValueError(f'topk and chunk_size must be >= 1, got topk={topk},'
                         f' chunk_size={chunk_size}')
    k = min(topk, gallery.size(0))
    scores, indices = [], []
    for chunk in query.split(chunk_size):
        chunk_scores, chunk_indices = (chunk @ gallery.t()).topk(k, dim=1)
        scores.append(chunk_scores)
        indices.append(chunk_indices)
    return torch.cat(scores), torch.cat(indices)
