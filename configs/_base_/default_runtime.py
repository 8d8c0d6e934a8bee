# Components of mmpretrain and of qwenclip_mm, registered on import.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['qwenclip_mm'], allow_failed_imports=False)

# Every hook, MMEngine's and the plugin's, is a named entry of
# default_hooks (MMEngine builds extra names as it builds its own), so a
# leaf config names only what it changes, and its own custom_hooks need not
# re-list ours:
# - change a setting: default_hooks = dict(logger=dict(interval=10))
# - add a hook: default_hooks = dict(
#       text_feature_cache=dict(type='TextFeatureCacheHook'))
# - drop one of MMEngine's names (timer, logger, param_scheduler,
#   checkpoint, sampler_seed, runtime_info): default_hooks = dict(
#   checkpoint=None)
# - drop a plugin hook (epoch_seed, nonfinite_guard, logit_scale_clamp,
#   mean_recall, sorted_text_eval): MMEngine (0.10) accepts None only for
#   its own names, so redefine default_hooks with `_delete_=True` and the
#   entries to keep (MMEngine adds its own defaults for names left out).
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keep the best checkpoint by the mean of i2t and t2i Recall@1/5/10.
    # Atomic saves: a crash or a full disk never leaves a truncated
    # checkpoint, and the previous one survives a failed save.
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=2,
        save_best='mean_recall',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Random state from (seed, epoch): a resumed run replays the
    # augmentations of an uninterrupted one.
    epoch_seed=dict(type='EpochSeedHook'),
    # Stop at a NaN/inf loss term or gradient, naming it; action='skip'
    # drops such steps instead and logs how many.
    nonfinite_guard=dict(type='NonFiniteGuardHook', action='raise'),
    # Keep the stored logit scale at or below log(max_logit_scale).
    logit_scale_clamp=dict(type='LogitScaleClampHook'),
    # Adds ``mean_recall`` (i2t and t2i) to validation and test metrics.
    mean_recall=dict(type='RetrievalMeanRecallHook'),
    # Encodes the evaluation captions in length-sorted batches (same
    # metrics, less padding).
    sorted_text_eval=dict(type='SortedTextEvalHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=42, deterministic=False)
