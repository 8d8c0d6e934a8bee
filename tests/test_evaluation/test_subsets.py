import pytest

from qwenclip_mm.evaluation import subset_indices


def test_deterministic_without_replacement():
    first = subset_indices(9927, 2000, seed=42)

    assert first == subset_indices(9927, 2000, seed=42)
    assert len(first) == len(set(first)) == 2000
    assert first == sorted(first)
    assert 0 <= first[0] and first[-1] < 9927
    assert first != subset_indices(9927, 2000, seed=43)


def test_pinned_values():
    """Golden values: the subset must not change across machines/versions."""
    assert subset_indices(10, 3, seed=0) == [1, 2, 5]
    assert subset_indices(
        4, 2, seed=7, keys=['ROCOv2_2023_test_000001', 'b', 'c',
                            'd']) == [1, 3]


def test_keys_make_subset_order_independent():
    ids = [f'img{i}' for i in range(50)]
    picked = {ids[i] for i in subset_indices(50, 10, seed=1, keys=ids)}
    rev = ids[::-1]
    assert {rev[i] for i in subset_indices(50, 10, seed=1, keys=rev)} == picked


def test_nested_sizes_and_errors():
    assert set(subset_indices(100, 10)) <= set(subset_indices(100, 20))
    assert subset_indices(5, 5) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match='size'):
        subset_indices(5, 6)
    with pytest.raises(ValueError, match='distinct'):
        subset_indices(2, 1, keys=['a', 'a'])
