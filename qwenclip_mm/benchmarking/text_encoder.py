"""A Qwen3 text encoder with random weights of a published shape."""
from typing import Optional

import torch
from mmpretrain.registry import MODELS

from qwenclip_mm.models.text_encoder import Qwen3TextEncoder
from qwenclip_mm.testing.qwen3_shapes import (QWEN3_EMBEDDING_CONFIGS,
                                              qwen3_embedding_config)
from qwenclip_mm.testing.tiny_qwen3 import padded_vocab_rows

#: Qwen3 architectures (without weights): ``tiny`` is the test one, the
#: others are Qwen3-Embedding's published configs.
QWEN3_SHAPES = ('tiny', *QWEN3_EMBEDDING_CONFIGS)
TINY_SHAPE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16)


@MODELS.register_module()
class BenchmarkQwen3TextEncoder(Qwen3TextEncoder):
    """:class:`Qwen3TextEncoder` with random weights of a Qwen3 shape.

    Only loading differs: the tokenizer comes from ``pretrained`` and the
    model is built from its shape (:data:`QWEN3_SHAPES`) instead of read
    from disk, so a 0.6B-8B model costs no download and no disk.

    Args:
        shape (str): A key of :data:`QWEN3_SHAPES`.
        num_layers (int, optional): Build only this many of the shape's
            decoder layers (all of them identical in size). A ratio between
            two ways of running the same layers does not depend on the
            depth, so a shallower model measures it in less time.
            Defaults to None: the shape's depth.
        **kwargs: Arguments of :class:`Qwen3TextEncoder`.
    """

    def __init__(self, shape: str, num_layers: Optional[int] = None,
                 **kwargs):
        if num_layers is not None and (not isinstance(num_layers, int)
                                       or num_layers < 1):
            raise ValueError(f'num_layers must be an int >= 1 or None, got '
                             f'{num_layers!r}')
        # Read by _load, which the parent's __init__ calls.
        self.shape = shape
        self.num_layers = num_layers
        super().__init__(**kwargs)

    def _load(self, pretrained, what, local_files_only, **kwargs):
        if what == 'tokenizer':
            return super()._load(pretrained, what, local_files_only)
        from transformers import AutoModel, Qwen3Config
        depth = {} if self.num_layers is None else dict(
            num_hidden_layers=self.num_layers)
        if self.shape == 'tiny':
            # As make_tiny_qwen3 sizes it.
            config = Qwen3Config(
                vocab_size=padded_vocab_rows(len(self.tokenizer)),
                **dict(TINY_SHAPE, **depth))
        else:
            config = qwen3_embedding_config(self.shape, **depth)
        dtype = kwargs['dtype']
        return AutoModel.from_config(
            config,
            dtype=torch.bfloat16 if dtype == 'auto' else dtype,
            attn_implementation=kwargs['attn_implementation'])
