"""Encode the evaluation text gallery shortest first, in one pass."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SortedTextEvalHook(Hook):
    """Let a retrieval loop encode all captions in length-sorted batches.

    mmpretrain's ``RetrievalValLoop`` / ``RetrievalTestLoop`` encode each
    batch of images together with its own captions, so a text batch mixes
    short and long captions and pads them all to its longest. While this
    hook is active (from ``before_val_epoch`` / ``before_test_epoch`` to
    the end of the epoch), :class:`~qwenclip_mm.models.QwenCLIP` encodes
    only the images batch by batch and, in ``predict_all``, this rank's
    whole text gallery without gradients, shortest first, in batches of
    ``model.eval_text_batch_size``, put back in dataset order before any
    score is computed. The loops themselves are unchanged. A model without
    the ``defer_text_feat`` switch is left alone, and so is a model sharded
    with FSDP: there every LLM call is a collective that all ranks must make
    together, and ranks hold different numbers of captions, so the loop's
    own batches (the same count on every rank) are kept.
    """

    priority = 'NORMAL'

    @staticmethod
    def _set(runner, value: bool) -> None:
        from torch.distributed.fsdp import FullyShardedDataParallel
        if isinstance(runner.model, FullyShardedDataParallel):
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if hasattr(model, 'defer_text_feat'):
            model.defer_text_feat = value

    def before_val_epoch(self, runner) -> None:
        self._set(runner, True)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._set(runner, False)

    def before_test_epoch(self, runner) -> None:
        self._set(runner, True)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._set(runner, False)
