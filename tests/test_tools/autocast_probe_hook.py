"""A hook that records the autocast state the model's forward runs under.

Imported by end-to-end tests through ``custom_imports``.
"""
import json

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class AutocastProbeHook(Hook):
    """Write, for each test forward, whether autocast is on and its dtypes.

    ``cuda_dtype`` is what MMEngine's ``autocast`` (and so the test loops'
    ``fp16`` option) casts to on a GPU, read even on a CPU-only machine.

    Args:
        out (str): JSON file to write after the test.
    """

    def __init__(self, out: str):
        self.out = out
        self.records = []

    def _record(self, module, args):
        self.records.append(
            dict(
                cpu_enabled=torch.is_autocast_enabled('cpu'),
                cpu_dtype=str(torch.get_autocast_dtype('cpu')),
                cuda_dtype=str(torch.get_autocast_dtype('cuda'))))

    def before_test(self, runner) -> None:
        runner.model.register_forward_pre_hook(self._record)

    def after_test(self, runner) -> None:
        with open(self.out, 'w') as f:
            json.dump(self.records, f)
