"""EpochSeedHook: random state that depends on (seed, epoch) only, in the
main process and in DataLoader workers."""
import random
from functools import partial
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader, Dataset

from qwenclip_mm.engine.hooks import EpochSeedHook, epoch_worker_init_fn


def draws():
    """One number from each RNG an augmentation may use."""
    return random.random(), float(np.random.rand()), float(torch.rand(1))


class RandomNumbers(Dataset):
    """Each item is :func:`draws`, made in whichever process loads it."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return torch.tensor(draws())


def fake_runner(seed=42, epoch=0, loader=None):
    return SimpleNamespace(
        seed=seed,
        epoch=epoch,
        train_dataloader=loader,
        logger=MMLogger.get_instance('seeding-test'))


def test_epoch_start_state_ignores_what_was_drawn_before():
    hook = EpochSeedHook()
    runner = fake_runner(epoch=3)
    hook.before_train_epoch(runner)
    fresh = draws()
    # A resumed run has drawn different numbers before reaching epoch 3.
    [draws() for _ in range(5)]
    hook.before_train_epoch(runner)
    assert draws() == fresh
    runner.epoch = 4
    hook.before_train_epoch(runner)
    assert draws() != fresh
    hook.before_train_epoch(fake_runner(seed=43, epoch=3))
    assert draws() != fresh


def worker_epochs(loader, runner, hook, epochs):
    """What the workers draw in each epoch, as the train loop would run."""
    out = []
    for epoch in epochs:
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        out.append(torch.cat(list(loader)))
    return out


def make_loader():
    # What Runner.build_dataloader sets up when a seed is given.
    return DataLoader(
        RandomNumbers(),
        batch_size=1,
        num_workers=2,
        worker_init_fn=partial(
            mmengine_worker_init_fn, num_workers=2, rank=0, seed=42))


def test_workers_augment_differently_each_epoch_and_replay_on_resume():
    loader = make_loader()
    runner = fake_runner(loader=loader)
    hook = EpochSeedHook()
    # MMEngine's worker_init_fn: the same numbers every epoch.
    same = worker_epochs(loader, runner, hook, [0, 1])
    assert torch.equal(same[0], same[1])

    hook.before_train(runner)
    first, second = worker_epochs(loader, runner, hook, [0, 1])
    assert not torch.equal(first, second)
    # Two workers, each with its own stream.
    assert not torch.equal(first[0::2], first[1::2])
    resumed, = worker_epochs(loader, runner, hook, [1])
    assert torch.equal(resumed, second)


def test_workers_of_different_ranks_differ():
    per_rank = []
    for rank in (0, 1):
        # Torch gives worker 0 of every rank the same seed when the ranks
        # share their main seed (MMEngine's default, diff_rank_seed=False).
        torch.manual_seed(7)
        epoch_worker_init_fn(0, rank=rank)
        per_rank.append(draws())
    assert per_rank[0] != per_rank[1]
