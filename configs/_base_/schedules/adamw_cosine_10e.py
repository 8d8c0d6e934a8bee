# AdamW, one warm-up epoch, cosine decay over the remaining nine, bf16 AMP.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(
        type='AdamW', lr=1e-4, weight_decay=0.05, betas=(0.9, 0.98),
        eps=1e-6),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        custom_keys={
            # The pretrained image tower moves slower than the new parts.
            'vision_backbone': dict(lr_mult=0.1),
            'logit_scale': dict(decay_mult=0.),
            'soft_prompt': dict(decay_mult=0.),
        }),
    clip_grad=dict(max_norm=1.0),
)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=1,
        end=10,
        convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')

# The leaf configs' 8 GPUs x 32 captions.
auto_scale_lr = dict(base_batch_size=256, enable=False)
