"""Projections of image and text features into the joint space."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

TEXT_PROJECTION_MODES = ('mlp', 'linear', 'truncate')


@MODELS.register_module()
class TextProjection(BaseModule):
    """Map the LLM's text embedding into the joint space.

    Modes:

    - ``'mlp'``: ``Linear(H, hidden) -> GELU -> Linear(hidden, out)``, with
      ``hidden`` 1024, or 2048 when ``H >= 4096`` (Qwen3-Embedding-8B).
    - ``'linear'``: ``Linear(H, out)``.
    - ``'truncate'``: the first ``out`` dimensions, no parameters (Qwen3
      embeddings are Matryoshka-trained, so a prefix is itself an embedding).

    Args:
        in_channels (int): H, the LLM hidden size.
        out_channels (int): Joint embedding size. Defaults to 512.
        mode (str): One of ``'mlp'``, ``'linear'``, ``'truncate'``.
            Defaults to ``'mlp'``.
        hidden_channels (int, optional): Width of the MLP's hidden layer.
            Defaults to 1024, or 2048 when ``in_channels >= 4096``.
        init_cfg (dict, optional): Initialisation config of MMEngine.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 512,
                 mode: str = 'mlp',
                 hidden_channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if mode not in TEXT_PROJECTION_MODES:
            raise ValueError(f'text_projection.mode={mode!r} is not '
                             f'supported; expected one of '
                             f'{TEXT_PROJECTION_MODES}')
        if mode == 'truncate' and out_channels > in_channels:
            raise ValueError(
                f'text_projection.out_channels={out_channels} cannot be made '
                f"by mode='truncate' from a {in_channels}-d text embedding; "
                f"expected out_channels <= {in_channels}, or mode 'mlp' / "
                "'linear'")
        self.mode = mode
        self.in_channels = in_channels
        self.out_channels = out_channels
        if mode == 'mlp':
            if hidden_channels is None:
                hidden_channels = 2048 if in_channels >= 4096 else 1024
            self.proj = nn.Sequential(
                nn.Linear(in_channels, hidden_channels), nn.GELU(),
                nn.Linear(hidden_channels, out_channels))
        elif mode == 'linear':
            self.proj = nn.Linear(in_channels, out_channels)
        else:
            self.proj = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``(B, in_channels)`` to ``(B, out_channels)``."""
        if self.proj is None:
            return x[..., :self.out_channels]
        return self.proj(x)


@MODELS.register_module()
class ImageProjection(BaseModule):
    """Map an image backbone's output into the joint space.

    Accepts what mmpretrain backbones return: a tuple of stage outputs (the
    last is used), each either a pooled ``(B, C)`` vector, a ``(B, C, H, W)``
    feature map (global-average pooled) or ``(B, N, C)`` tokens (the first,
    class token is used). The weight is stored as ``proj`` with shape
    ``(in_channels, out_channels)``, the layout of CLIP's ``visual.proj``, so
    OpenAI CLIP weights converted by mmpretrain's
    ``openai-clip_to_mmpretrain-clip.py`` load into it with
    ``prefix='visual_proj.'``.

    Args:
        in_channels (int): Channels of the backbone output.
        out_channels (int): Joint embedding size. Defaults to 512.
        init_cfg (dict, optional): Initialisation config of MMEngine, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='visual_proj.')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 512,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.proj = nn.Parameter(
            torch.randn(in_channels, out_channels) * in_channels**-0.5)

    def forward(self, x: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> torch.Tensor:
        """Pool and project a backbone output to ``(B, out_channels)``."""
        if isinstance(x, (tuple, list)):
            x = x[-1]
        if x.dim() == 4:
            x = x.mean(dim=(2, 3))
        elif x.dim() == 3:
            x = x[:, 0]
        if x.size(-1) != self.in_channels:
            raise ValueError(
                f'image_projection.in_channels={self.in_channels} but the '
                f'image backbone outputs {x.size(-1)} channels; set '
                'image_projection.in_channels to the backbone width')
        return x @ self.proj.to(x.dtype)
