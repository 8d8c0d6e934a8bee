"""What MMEngine's ``FSDPStrategy`` needs from a config to shard QwenCLIP."""
from typing import Sequence

import torch.nn as nn
from mmengine.registry import FUNCTIONS


@FUNCTIONS.register_module()
def wrap_by_class_name(module: nn.Module,
                       recurse: bool,
                       nonwrapped_numel: int,
                       class_names: Sequence[str] = ()) -> bool:
    """FSDP auto-wrap policy: one FSDP unit per module of the named classes.

    ``torch.distributed.fsdp.wrap.ModuleWrapPolicy`` needs the classes
    themselves, which a config file cannot hold; MMEngine's
    ``MMFullyShardedDataParallel`` looks this function up by name and binds
    ``class_names``::

        model_wrapper=dict(
            auto_wrap_policy=dict(
                type='wrap_by_class_name',
                class_names=['Qwen3DecoderLayer', 'Qwen3Model', 'Embedding']))

    For QwenCLIP, wrap the LLM's decoder layers (each is gathered only while
    it runs), its token embedding (QwenCLIP looks tokens up outside the
    LLM's forward, so it must be a unit of its own) and the LLM itself (its
    final norm, bf16, may not share a flat parameter with the fp32 modules
    left in the root unit).

    Args:
        module (nn.Module): The module FSDP asks about.
        recurse (bool): True when FSDP asks whether to look inside
            ``module``; always yes.
        nonwrapped_numel (int): Parameters not yet wrapped (unused).
        class_names (Sequence[str]): ``type(module).__name__`` values to
            wrap.

    Returns:
        bool: Whether to look inside (``recurse``) or to wrap ``module``.
    """
    if recurse:
        return True
    return type(module).__name__ in class_names
