import numpy as np
import pytest
from mmengine.dataset import BaseDataset, DefaultSampler
from mmengine.runner import Runner
from mmpretrain.registry import DATA_SAMPLERS

from qwenclip_mm.datasets.samplers import (LengthGroupedSampler,
                                           length_grouped_sampler)

BATCH = 8


class Captions(BaseDataset):
    """Captions with a ROCOv2-like long-tailed length mix, no images."""

    def __init__(self, n=1000, seed=0, **kwargs):
        self.n, self.seed = n, seed
        super().__init__(**kwargs)

    def load_data_list(self):
        rng = np.random.default_rng(self.seed)
        lengths = np.clip(rng.lognormal(np.log(120), 0.6, self.n), 10, 2000)
        return [dict(text='x' * int(n), image_id=i)
                for i, n in enumerate(lengths)]


def _batches(sampler, batch_size=BATCH):
    indices = list(sampler)
    return [indices[i:i + batch_size]
            for i in range(0, len(indices), batch_size)]


def _padding(dataset, batches):
    """Padded over real characters, as the text tower would pad them."""
    lengths = [len(dataset.get_data_info(i)['text']) for i in range(
        len(dataset))]
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return padded / sum(lengths[i] for b in batches for i in b)


def _ranks(monkeypatch, dataset, world_size, **kwargs):
    samplers = []
    for rank in range(world_size):
        monkeypatch.setattr(length_grouped_sampler, 'get_dist_info',
                            lambda r=rank: (r, world_size))
        samplers.append(
            LengthGroupedSampler(dataset, batch_size=BATCH, seed=3, **kwargs))
    return samplers


def test_registered_and_built_by_the_runner():
    dataset = Captions(100)
    loader = Runner.build_dataloader(
        dict(
            batch_size=BATCH,
            dataset=dataset,
            sampler=dict(
                type='mmpretrain.LengthGroupedSampler', batch_size=BATCH),
            collate_fn=dict(type='pseudo_collate')),
        seed=0)
    assert isinstance(loader.sampler, LengthGroupedSampler)
    assert DATA_SAMPLERS.get('LengthGroupedSampler') is LengthGroupedSampler
    image_ids = [i for batch in loader for i in batch['image_id']]
    assert sorted(image_ids) == list(range(100))


def test_one_epoch_is_a_permutation_with_little_padding():
    dataset = Captions()
    sampler = LengthGroupedSampler(dataset, batch_size=BATCH, seed=0)
    indices = list(sampler)
    assert len(sampler) == len(indices) == len(dataset)
    assert sorted(indices) == list(range(len(dataset)))

    random = _padding(dataset, _batches(DefaultSampler(dataset, seed=0)))
    grouped = _padding(dataset, _batches(sampler))
    assert random > 1.8 and grouped < 1.1


def test_batches_are_random_not_sorted():
    dataset = Captions()
    sampler = LengthGroupedSampler(
        dataset, batch_size=BATCH, window_batches=16, seed=0)
    lengths = [sampler.lengths[i] for i in sampler]
    batches = [lengths[i:i + BATCH] for i in range(0, len(lengths), BATCH)]
    # The batch order is shuffled: its lengths go up and down.
    means = [np.mean(b) for b in batches]
    assert abs(np.corrcoef(np.arange(len(means)), means)[0, 1]) < 0.5
    # Within a batch, lengths are close: a run of a sorted window.
    spread = np.median([max(b) - min(b) for b in batches])
    random_spread = np.median([
        max(b) - min(b) for b in np.reshape(
            np.random.default_rng(0).permutation(lengths), (-1, BATCH))
    ])
    assert spread < 0.1 * random_spread


def test_deterministic_per_seed_and_epoch():
    dataset = Captions(200)
    a = LengthGroupedSampler(dataset, batch_size=BATCH, seed=7)
    b = LengthGroupedSampler(dataset, batch_size=BATCH, seed=7)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b) != first
    assert list(LengthGroupedSampler(dataset, batch_size=BATCH,
                                     seed=8)) != first


@pytest.mark.parametrize('n, round_up', [(1000, True), (1003, True),
                                         (1003, False)])
def test_ranks_share_whole_grouped_batches(monkeypatch, n, round_up):
    world_size = 4
    dataset = Captions(n)
    samplers = _ranks(monkeypatch, dataset, world_size, round_up=round_up)
    per_rank = [list(s) for s in samplers]
    # As many indices per rank as DefaultSampler gives.
    for rank, (sampler, indices) in enumerate(zip(samplers, per_rank)):
        expected = -(-n // world_size) if round_up else -(-(n - rank) //
                                                          world_size)
        assert len(sampler) == len(indices) == expected
    everything = sorted(i for indices in per_rank for i in indices)
    assert set(everything) == set(range(n))
    if not round_up:
        assert everything == list(range(n))

    # At each step the ranks hold neighbouring lengths: rank r's longest is
    # at most rank r+1's shortest (one sorted global batch, cut in order).
    full_steps = min(len(i) for i in per_rank) // BATCH
    for step in range(full_steps):
        lengths = samplers[0].lengths
        batches = [[
            lengths[i] for i in indices[step * BATCH:(step + 1) * BATCH]
        ] for indices in per_rank]
        for low, high in zip(batches, batches[1:]):
            assert max(low) <= min(high)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match='batch_size must be an int >= 1'):
        LengthGroupedSampler(Captions(10), batch_size=0)
    with pytest.raises(TypeError, match='get_data_info'):
        LengthGroupedSampler(list(range(10)), batch_size=2)

    class NoText(Captions):

        def load_data_list(self):
            return [dict(caption='a')] * 3

    with pytest.raises(TypeError, match="item 0: .*'text'.*length_key"):
        LengthGroupedSampler(NoText(), batch_size=2)


def test_counts_tokens_with_a_tokenizer(tiny_qwen3_dir):
    from transformers import AutoTokenizer

    class Retrieval(Captions):

        def load_data_list(self):
            return [
                dict(text=['CT chest.', 'MRI of the brain with oedema.']),
                dict(text=['Axial CT of the abdomen shows a mass.']),
                dict(text=[]),
            ]

    dataset = Retrieval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3_dir)
    tokens = [
        max((len(tokenizer(t, add_special_tokens=False)['input_ids'])
             for t in item['text']), default=0)
        for item in dataset.load_data_list()
    ]
    by_tokens = LengthGroupedSampler(
        dataset, batch_size=1, tokenizer=tiny_qwen3_dir)
    assert by_tokens.lengths == tokens and tokens[0] != len(
        'MRI of the brain with oedema.')
    by_chars = LengthGroupedSampler(dataset, batch_size=1)
    assert by_chars.lengths == [29, 37, 0]


def test_rocov2_items_give_lengths(tmp_path):
    from qwenclip_mm.datasets import ROCOv2Dataset
    from qwenclip_mm.testing import make_synthetic_rocov2
    make_synthetic_rocov2(
        str(tmp_path), num_train=24, num_valid=4, num_test=4, img_size=8)
    dataset = ROCOv2Dataset(str(tmp_path), split='train')
    sampler = LengthGroupedSampler(dataset, batch_size=4, seed=0)
    assert sampler.lengths == [
        len(dataset.get_data_info(i)['text']) for i in range(len(dataset))
    ]
    assert sorted(sampler) == list(range(24))
