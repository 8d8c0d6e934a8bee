"""Config handling shared by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp
from copy import deepcopy

import torch
from mmengine.config import ConfigDict

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def set_work_dir(cfg, config_path: str, work_dir=None) -> None:
    """Work dir priority: command line > config > ``work_dirs/<config>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def set_dataloader_defaults(cfg,
                            pin_memory: bool = True,
                            persistent_workers: bool = True) -> None:
    """Fill the dataloader options mmpretrain's tools fill, safely.

    ``default_collate`` stacks images as ``MultiModalDataPreprocessor``
    expects (configs normally set it themselves). ``persistent_workers`` is
    switched off where ``num_workers == 0``, which torch rejects, and is not
    filled in for the training loader: ``EpochSeedHook`` seeds the workers
    of each epoch, which persistent workers would skip, so a resumed run
    would not replay an uninterrupted one (a config may still set it).
    Memory is pinned only where there is a GPU to copy to.
    """
    pin_memory = pin_memory and torch.cuda.is_available()
    defaults = ConfigDict(
        pin_memory=pin_memory,
        persistent_workers=persistent_workers,
        collate_fn=dict(type='default_collate'))
    for field in DATALOADERS:
        if cfg.get(field, None) is None:
            continue
        loader = deepcopy(defaults)
        if field == 'train_dataloader':
            loader.persistent_workers = False
        loader.update(cfg[field])
        if not pin_memory:
            loader.pin_memory = False
        if not persistent_workers or loader.get('num_workers', 0) == 0:
            loader.persistent_workers = False
        cfg[field] = loader
