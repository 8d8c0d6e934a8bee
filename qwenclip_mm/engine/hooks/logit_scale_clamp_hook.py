"""Keep the stored logit scale inside its clamp, as open_clip does."""
import math

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from ...models.contrastive_head import CLIPContrastiveHead


@HOOKS.register_module()
class LogitScaleClampHook(Hook):
    """Clamp each ``CLIPContrastiveHead.logit_scale`` after every step.

    The head already clamps the scale it uses at ``max_logit_scale``, but
    the clamp has no gradient above the limit: once the optimizer (with
    AdamW's momentum) pushes the stored log-scale past ``log(max)``, no
    gradient can bring it back, and checkpoints hold a value the model never
    uses. Like open_clip's training loop, this hook clamps the parameter
    itself to ``log(max_logit_scale)`` after each training iteration, so it
    stays where gradients reach it.
    """

    priority = 'NORMAL'

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, CLIPContrastiveHead):
                    module.logit_scale.clamp_(
                        max=math.log(module.max_logit_scale))
