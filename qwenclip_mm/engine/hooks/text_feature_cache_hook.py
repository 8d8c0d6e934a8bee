"""Keep QwenCLIP's text feature cache on disk in the work directory."""
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class TextFeatureCacheHook(Hook):
    """Save the model's :class:`TextFeatureCache` after every epoch.

    Before the run, a cache without a ``file`` gets
    ``{work_dir}/{file_name}``, so a resumed run, a later test of the same
    work directory, or a second run with the same frozen text model reads
    the features instead of recomputing them. After every train, validation
    and test epoch that added captions, the file is rewritten. A file made
    by another text model or prompt is refused at first use (see
    :class:`TextFeatureCache`).

    Args:
        file_name (str): File name in the work directory.
            Defaults to ``'text_feature_cache.pth'``.
    """

    priority = 'LOW'

    def __init__(self, file_name: str = 'text_feature_cache.pth'):
        self.file_name = file_name

    @staticmethod
    def _cache(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        cache = getattr(model, 'text_cache', None)
        if cache is None:
            raise ValueError(
                'TextFeatureCacheHook: the model has no text feature cache; '
                'set model.text_cache=dict() (with a frozen text side) or '
                'remove the hook')
        return cache

    def before_run(self, runner) -> None:
        """Point a cache without a file at the work directory."""
        cache = self._cache(runner)
        if cache.file is None:
            cache.file = osp.join(runner.work_dir, self.file_name)

    def _save(self, runner) -> None:
        cache = self._cache(runner)
        if cache.save():
            runner.logger.info(
                f'Saved {len(cache)} text features to {cache.path}')

    def after_train_epoch(self, runner) -> None:
        """Save the captions the epoch added."""
        self._save(runner)

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Save the captions the validation added."""
        self._save(runner)

    def after_test_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Save the captions the test added."""
        self._save(runner)
