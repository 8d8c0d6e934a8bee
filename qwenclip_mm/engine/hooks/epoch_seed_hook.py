"""Random state that depends only on (seed, epoch), so resumed runs replay
the augmentations of an uninterrupted one."""
import random
from functools import partial

import numpy as np
import torch
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed mixed from a base seed and an epoch.

    Mixing (rather than ``seed + epoch``) keeps the epochs of runs with
    neighbouring seeds from sharing random streams.
    """
    sequence = np.random.SeedSequence([seed % 2**64, epoch])
    return int(sequence.generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global and torch's default RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_worker_init_fn(worker_id: int, rank: int) -> None:
    """Seed a DataLoader worker from the seed torch gave it.

    Torch seeds worker ``i``'s torch RNG with ``base_seed + i``, where
    ``base_seed`` is drawn from the main process's torch RNG when the epoch's
    iterator is created, that is after :class:`EpochSeedHook` reseeded it.
    Deriving numpy's and python's seeds (which torch leaves alone) from it
    makes every worker's augmentations a function of (seed, epoch, rank,
    worker): different each epoch, identical after a resume. The rank is
    mixed in as MMEngine's own ``worker_init_fn`` does, so ranks crop
    differently even when they share a seed.

    Args:
        worker_id (int): Index of the worker in its DataLoader.
        rank (int): Global rank of the process owning the DataLoader.
    """
    seed_everything(epoch_seed(torch.initial_seed(), rank))


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed every RNG at the start of each training epoch.

    In an uninterrupted run, the random state at the start of epoch ``e``
    depends on everything drawn before it (augmentations, dropout, the
    validation DataLoader), while a run resumed at epoch ``e`` restarts from
    the configured seed, so its crops and dropout masks differ and its
    weights drift from the uninterrupted run's. This hook reseeds python's
    ``random``, numpy and torch from ``(runner.seed, epoch)`` before each
    epoch, which both runs do alike.

    It also replaces MMEngine's default ``worker_init_fn`` of the training
    DataLoader, which seeds the workers identically every epoch, by
    :func:`epoch_worker_init_fn`. Persistent workers outlive the epoch, so
    with ``num_workers > 0`` resuming is exact only with
    ``persistent_workers=False`` (``tools/train.py
    --no-persistent-workers``); the hook warns otherwise.

    Resuming is exact for checkpoints saved at epoch boundaries (our
    configs' ``CheckpointHook(interval=1)``); MMEngine's epoch-based loop
    restarts the epoch of a mid-epoch checkpoint from its first batch.
    """

    # Before any other hook can draw random numbers for the epoch.
    priority = 'HIGHEST'

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        if loader.num_workers == 0:
            return
        init_fn = loader.worker_init_fn
        if init_fn is None or getattr(init_fn, 'func',
                                      None) is mmengine_worker_init_fn:
            loader.worker_init_fn = partial(
                epoch_worker_init_fn, rank=get_rank())
        else:
            runner.logger.warning(
                'EpochSeedHook keeps the custom worker_init_fn of '
                'train_dataloader; it decides whether resumed runs replay '
                'the augmentations of its workers.')
        if loader.persistent_workers:
            runner.logger.warning(
                'train_dataloader uses persistent_workers=True: its workers '
                'keep their random state across epochs, so a resumed run '
                'augments differently from an uninterrupted one. Set '
                'persistent_workers=False (tools/train.py '
                '--no-persistent-workers) for exact resumption.')

    def before_train_epoch(self, runner) -> None:
        seed_everything(epoch_seed(runner.seed, runner.epoch))
