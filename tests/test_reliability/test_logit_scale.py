"""The logit scale never exceeds its clamp, in use or as stored."""
import math
from types import SimpleNamespace

import torch
import torch.nn as nn

from qwenclip_mm.engine.hooks import LogitScaleClampHook
from qwenclip_mm.models import CLIPContrastiveHead


def train_scale(steps, hook=None):
    """Push the scale up: perfectly matching features reward sharpness."""
    model = nn.Module()
    model.head = CLIPContrastiveHead(max_logit_scale=100.)
    optimizer = torch.optim.AdamW([model.head.logit_scale], lr=0.5)
    feats = torch.eye(4)
    stored = []
    for _ in range(steps):
        loss = model.head.loss(feats, feats, torch.arange(4))['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if hook is not None:
            hook.after_train_iter(SimpleNamespace(model=model), 0)
        stored.append(model.head.logit_scale.item())
        assert model.head.get_logit_scale() <= 100.
    return stored


def test_stored_logit_scale_stays_at_its_clamp():
    # The parameter is float32.
    limit = torch.tensor(math.log(100.)).item()
    # Without the hook AdamW's momentum carries the parameter past the
    # clamp, where the clamp passes it no gradient to come back.
    assert max(train_scale(30)) > limit + 0.2
    stored = train_scale(30, LogitScaleClampHook())
    assert max(stored) <= limit
    assert limit in stored
