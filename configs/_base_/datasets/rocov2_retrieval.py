# ROCOv2 image-text retrieval, CLIP-style 224px preprocessing.
# No horizontal flip: captions state laterality ("left lower lobe").
dataset_type = 'ROCOv2Dataset'
data_root = 'data/rocov2'

train_pipeline = [
    # Names the file when an image is corrupt (mmcv's loader may not).
    dict(type='LoadImageFromFileStrict'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.8, 1.0),
        interpolation='bicubic'),
    dict(
        type='PackInputs',
        algorithm_keys=['text', 'image_id', 'text_id'],
        meta_keys=['ori_id']),
]

test_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(
        type='ResizeEdge', scale=224, edge='short', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(
        type='PackInputs',
        algorithm_keys=['text', 'gt_text_id', 'gt_image_id'],
        # `cuis` lets ImageToImageRetrievalMetric judge relevance.
        meta_keys=['image_id', 'ori_id', 'cuis']),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    # Workers restarted each epoch take EpochSeedHook's epoch seed, so a
    # resumed run augments exactly as an uninterrupted one.
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    drop_last=True,
)

val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='valid',
        test_mode=True,
        pipeline=test_pipeline),
    # Contiguous chunks per rank, so gathered features keep dataset order.
    sampler=dict(type='SequentialSampler', subsample_type='sequential'),
    collate_fn=dict(type='default_collate'),
)
val_evaluator = dict(type='ImageTextRetrievalMetric', topk=(1, 5, 10))

test_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='SequentialSampler', subsample_type='sequential'),
    collate_fn=dict(type='default_collate'),
)
test_evaluator = val_evaluator
