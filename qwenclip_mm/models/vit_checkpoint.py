"""MMPretrain's VisionTransformer with activation checkpointing per layer."""
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS
from torch.distributed._composable import checkpoint


@MODELS.register_module()
class CheckpointVisionTransformer(VisionTransformer):
    """A :class:`mmpretrain.models.VisionTransformer` that recomputes each
    encoder layer's activations in the backward pass.

    MMPretrain's ViT has no ``with_cp`` option. This class takes exactly the
    ViT's arguments and builds the same modules with the same parameter
    names, so OpenAI CLIP weights converted for ``VisionTransformer``, and
    checkpoints saved with or without checkpointing, load into either. Each
    layer keeps only its input for the backward pass, not its attention and
    MLP activations, at the cost of a second forward pass of every layer.
    Gradients are unchanged (dropout and drop-path replay the same random
    masks).

    To switch it on in any config whose image tower is a
    ``VisionTransformer``, change only the type::

        model = dict(vision_backbone=dict(type='CheckpointVisionTransformer'))

    Args:
        **kwargs: The arguments of
            :class:`mmpretrain.models.VisionTransformer`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for layer in self.layers:
            # Hooks rather than a wrapper module keep the parameter names;
            # non-reentrant, so gradients reach the inputs of every layer.
            checkpoint(layer)
