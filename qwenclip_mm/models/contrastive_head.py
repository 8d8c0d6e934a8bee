"""CLIP-style symmetric contrastive loss over the global batch."""
import math
from typing import Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_rank, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch.distributed._functional_collectives import all_gather_single


class _ScaleGrad(torch.autograd.Function):
    """Identity in the forward pass; multiplies the gradient by ``factor``."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.factor, None


def gather_features(
    image_feat: torch.Tensor,
    text_feat: torch.Tensor,
    image_ids: torch.Tensor,
    gather_with_grad: bool = True,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate features and image ids from every rank, in rank order.

    With ``gather_with_grad`` the gather is differentiable: its backward
    pass sums, over all ranks, the gradients of each rank's slice, so a
    rank's features get the gradients of the losses computed on every rank.
    Otherwise the other ranks' features are constants and only the local
    slice keeps its graph (open_clip's ``gather_with_grad=False``). Every
    rank must pass the same number of rows.

    Args:
        image_feat (torch.Tensor): ``(B, D)`` local image features.
        text_feat (torch.Tensor): ``(B, D)`` local text features.
        image_ids (torch.Tensor): ``(B,)`` global image ids.
        gather_with_grad (bool): Differentiable gather. Defaults to True.

    Returns:
        tuple: All image features, all text features and all image ids, each
        with ``world_size * B`` rows. Unchanged on a single process.
    """
    world_size = get_world_size()
    if world_size == 1:
        return image_feat, text_feat, image_ids
    ids = [torch.empty_like(image_ids) for _ in range(world_size)]
    dist.all_gather(ids, image_ids)
    if gather_with_grad:
        # Differentiable: the backward pass reduce-scatters (sums) the
        # gradients. torch.distributed.nn.functional.all_gather is
        # deprecated in favour of it.
        all_image = all_gather_single(image_feat, 0, dist.group.WORLD)
        all_text = all_gather_single(text_feat, 0, dist.group.WORLD)
    else:
        rank = get_rank()
        gathered = []
        for feat in (image_feat, text_feat):
            parts = [torch.empty_like(feat) for _ in range(world_size)]
            dist.all_gather(parts, feat.detach())
            parts[rank] = feat
            gathered.append(torch.cat(parts, dim=0))
        all_image, all_text = gathered
    return all_image, all_text, torch.cat(ids, dim=0)


def multi_positive_cross_entropy(logits: torch.Tensor,
                                 positives: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a uniform target over each row's positives.

    With exactly one positive per row this is the usual InfoNCE term.

    Args:
        logits (torch.Tensor): ``(N, M)`` scaled similarities.
        positives (torch.Tensor): ``(N, M)`` bool, at least one True per row.

    Returns:
        torch.Tensor: Mean loss over the rows.
    """
    target = positives.float()
    target = target / target.sum(dim=1, keepdim=True)
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


@MODELS.register_module()
class CLIPContrastiveHead(BaseModule):
    """Symmetric InfoNCE between image and text features.

    Two samples are positives when they share an ``image_id``, so two
    captions of the same image in one (global) batch both count as matches
    instead of as negatives. The loss is the mean over rows (never the sum)
    of the image-to-text and text-to-image cross-entropies, averaged.

    Under DDP or FSDP (which average gradients over ranks) every allowed
    combination of ``gather_with_grad`` and ``local_loss`` gives exactly the
    gradients of the single-process loss on the global batch;
    ``docs/distributed.md`` explains why and
    ``tests/test_models/test_distributed.py`` checks it.

    Args:
        logit_scale_init (float): Initial temperature inverse.
            Defaults to ``1 / 0.07``.
        max_logit_scale (float): The scale is clamped at this value.
            Defaults to 100.
        learnable_scale (bool): Learn the logit scale. Defaults to True.
        gather_with_grad (bool): Gather features from the other ranks with
            a differentiable all-gather. Without it, each rank's features
            get gradients only from its own loss, which for the full loss is
            the whole global-batch gradient, multiplied here by the world
            size to undo DDP's averaging. Defaults to True.
        local_loss (bool): Each rank computes the loss of its own rows
            against the global batch (``B x world_size * B`` logits instead
            of the full square, as open_clip's ``local_loss``); otherwise
            every rank computes the full global matrix. Needs
            ``gather_with_grad``. Defaults to False.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        init_cfg (dict, optional): Initialisation config of MMEngine.
    """

    def __init__(self,
                 logit_scale_init: float = 1 / 0.07,
                 max_logit_scale: float = 100.0,
                 learnable_scale: bool = True,
                 gather_with_grad: bool = True,
                 local_loss: bool = False,
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if local_loss and not gather_with_grad:
            # Without the gradient through the gather, no rank would push
            # its features away from the other ranks' rows: the gradient
            # would not be the global batch's, nor proportional to it.
            raise ValueError(
                'head.local_loss=True needs head.gather_with_grad=True')
        if not 0 < logit_scale_init <= max_logit_scale:
            raise ValueError(
                f'head.logit_scale_init={logit_scale_init} must be in '
                f'(0, max_logit_scale={max_logit_scale}]')
        self.max_logit_scale = max_logit_scale
        # One element, not a 0-d tensor: FSDP cannot shard scalars.
        self.logit_scale = nn.Parameter(
            torch.tensor([math.log(logit_scale_init)]),
            requires_grad=learnable_scale)
        self.gather_with_grad = gather_with_grad
        self.local_loss = local_loss
        self.loss_weight = loss_weight

    def get_logit_scale(self) -> torch.Tensor:
        """The current scale (0-d), never above ``max_logit_scale``."""
        return self.logit_scale.exp().clamp(max=self.max_logit_scale)[0]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before the scale became 1-d hold a 0-d one.
        key = prefix + 'logit_scale'
        if key in state_dict and state_dict[key].dim() == 0:
            state_dict[key] = state_dict[key].reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def loss(self, image_feat: torch.Tensor, text_feat: torch.Tensor,
             image_ids: torch.Tensor) -> dict:
        """Compute the contrastive loss of one local batch.

        Args:
            image_feat (torch.Tensor): ``(B, D)`` L2-normalised.
            text_feat (torch.Tensor): ``(B, D)`` L2-normalised; row i is a
                caption of image row i.
            image_ids (torch.Tensor): ``(B,)`` ids; equal ids are positives.

        Returns:
            dict: ``loss`` and the (detached) ``logit_scale`` for logging.
        """
        scale = self.get_logit_scale()
        world_size = get_world_size()
        if not self.gather_with_grad and world_size > 1:
            # This rank's full loss already holds every term of its features,
            # so their gradient is complete; DDP then divides by the world
            # size, which only the scale's gradient (same on every rank)
            # should be.
            image_feat = _ScaleGrad.apply(image_feat, world_size)
            text_feat = _ScaleGrad.apply(text_feat, world_size)
        all_image, all_text, all_ids = gather_features(
            image_feat, text_feat, image_ids, self.gather_with_grad)
        if self.local_loss:
            logits_i2t = scale * image_feat @ all_text.t()
            logits_t2i = scale * text_feat @ all_image.t()
            positives = image_ids[:, None] == all_ids[None, :]
            loss = (multi_positive_cross_entropy(logits_i2t, positives) +
                    multi_positive_cross_entropy(logits_t2i, positives)) / 2
        else:
            logits_i2t = scale * all_image @ all_text.t()
            positives = all_ids[:, None] == all_ids[None, :]
            loss = (
                multi_positive_cross_entropy(logits_i2t, positives) +
                multi_positive_cross_entropy(logits_i2t.t(), positives.t())
            ) / 2
        return dict(
            loss=loss * self.loss_weight, logit_scale=scale.detach())
