"""Deterministic evaluation subsets, e.g. the common 2,000-pair test subset.

The subset is drawn without replacement by ranking the items by a keyed
hash (BLAKE2b of the seed and the item key) and keeping the ``size``
smallest. Unlike ``numpy``'s or ``torch``'s generators, whose streams may
change between library versions, this depends only on the seed and the
keys, so it is the same on every machine, OS and library version. Keys may
be the items' stable IDs (e.g. ROCOv2's ``ori_id``), which also makes the
subset independent of the order of the annotation file.
"""
import hashlib
from typing import Hashable, List, Optional, Sequence


def _hash_key(seed: int, key: Hashable) -> bytes:
    return hashlib.blake2b(
        f'{seed}\x00{key}'.encode('utf-8'), digest_size=16).digest()


def subset_indices(num_items: int,
                   size: int,
                   seed: int = 0,
                   keys: Optional[Sequence[Hashable]] = None) -> List[int]:
    """Indices of a deterministic random subset, in increasing order.

    Args:
        num_items (int): Number of items to draw from.
        size (int): Subset size, at most ``num_items``.
        seed (int): The seed. Defaults to 0.
        keys (Sequence, optional): One distinct key per item (its string
            form is hashed), e.g. image IDs. Defaults to the indices.

    Returns:
        list[int]: ``size`` distinct indices in ``0..num_items-1``, sorted.

    Raises:
        ValueError: If ``size`` is negative or above ``num_items``, or
            ``keys`` has the wrong length or repeats a key.

    Examples:
        >>> subset_indices(10, 3, seed=0)
        [1, 2, 5]
    """
    if not 0 <= size <= num_items:
        raise ValueError(f'`size` must be in 0..{num_items} (the number of '
                         f'items), got {size}.')
    if keys is None:
        keys = range(num_items)
    elif len(keys) != num_items:
        raise ValueError(f'Got {len(keys)} keys for {num_items} items.')
    elif len(set(map(str, keys))) != num_items:
        raise ValueError('`keys` must be distinct (as strings).')
    order = sorted(range(num_items), key=lambda i: _hash_key(seed, keys[i]))
    return sorted(order[:size])
