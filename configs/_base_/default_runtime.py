# Components of mmpretrain and of qwenclip_mm, registered on import.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['qwenclip_mm'], allow_failed_imports=False)

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
    # The three hooks below are not MMEngine defaults, so `None` cannot
    # remove them; redefine default_hooks with `_delete_=True` to drop one.
    # Random state from (seed, epoch): a resumed run replays the
    # augmentations of an uninterrupted one.
    epoch_seed=dict(type='EpochSeedHook'),
    # Stop at a NaN/inf loss term or gradient, naming it; action='skip'
    # drops such steps instead and logs how many.
    nonfinite_guard=dict(type='NonFiniteGuardHook', action='raise'),
    # Keep the stored logit scale at or below log(max_logit_scale).
    logit_scale_clamp=dict(type='LogitScaleClampHook'),
)
# Adds ``mean_recall`` (i2t and t2i) to validation and test metrics, and
# encodes the evaluation captions in length-sorted batches (same metrics,
# less padding).
custom_hooks = [
    dict(type='RetrievalMeanRecallHook'),
    dict(type='SortedTextEvalHook'),
]

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
