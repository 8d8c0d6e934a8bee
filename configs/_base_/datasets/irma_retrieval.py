# IRMA (ImageCLEF 2009) class-level image-text retrieval, CLIP-style 224px.
# Each radiograph's text is made from its IRMA code (IRMADataset); every
# image with the same text is a positive of it. IRMA has no validation
# split, so validation runs on the test split: use it to monitor training,
# not to pick a checkpoint (the leaf configs keep the last one).
# No horizontal flip: the directional axis tells left-right views apart.
dataset_type = 'IRMADataset'
data_root = 'data/irma'

train_pipeline = [
    # Names the file when an image is corrupt; grey PNGs load as 3 channels.
    dict(type='LoadImageFromFileStrict'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.8, 1.0),
        interpolation='bicubic'),
    dict(
        type='PackInputs',
        algorithm_keys=['text', 'image_id', 'text_id'],
        meta_keys=['ori_id', 'code']),
]

test_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(
        type='ResizeEdge', scale=224, edge='short', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(
        type='PackInputs',
        algorithm_keys=['text', 'gt_text_id', 'gt_image_id'],
        meta_keys=['image_id', 'ori_id', 'code']),
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
        # Lists every missing or unreadable image before training starts
        # (reads the 12,677 PNGs once).
        check_images=True,
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
        split='test',
        test_mode=True,
        check_images=True,
        pipeline=test_pipeline),
    # Contiguous chunks per rank, so gathered features keep dataset order.
    sampler=dict(type='SequentialSampler', subsample_type='sequential'),
    collate_fn=dict(type='default_collate'),
)
val_evaluator = dict(type='ImageTextRetrievalMetric', topk=(1, 5, 10))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
