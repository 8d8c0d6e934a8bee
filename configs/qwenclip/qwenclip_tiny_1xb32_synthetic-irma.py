# Offline demo on IRMA-layout data: the tiny model and schedule of the tiny
# ROCOv2 config on a small synthetic data set written by
# ``python tools/misc/make_synthetic_irma.py data/synthetic-irma`` (needs
# data/qwen3-tiny too: ``python tools/misc/make_tiny_qwen3.py``). Texts come
# from the IRMA codes, so retrieval is class-level: every image with a
# code's text is a positive of it. Trains on a CPU in a few minutes.
_base_ = './qwenclip_tiny_1xb32_synthetic-rocov2.py'

img_size = 64  # the tiny ViT's input size
data_root = 'data/synthetic-irma'

train_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.85, 1.0),
        interpolation='bicubic'),
    dict(
        type='PackInputs',
        algorithm_keys=['text', 'image_id', 'text_id'],
        meta_keys=['ori_id', 'code']),
]
test_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='Resize', scale=(img_size, img_size), interpolation='bicubic'),
    dict(
        type='PackInputs',
        algorithm_keys=['text', 'gt_text_id', 'gt_image_id'],
        meta_keys=['image_id', 'ori_id', 'code']),
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='IRMADataset',
        data_root=data_root,
        split='train',
        check_images=True,
        pipeline=train_pipeline))
# IRMA has no validation split: validation monitors the test split.
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='IRMADataset',
        data_root=data_root,
        split='test',
        test_mode=True,
        check_images=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# Testing adds zero-shot classification against the code texts
# (i2t/zero_shot/top1, top5, mean_class_top1) and image-to-image retrieval
# by class, same IRMA code (i2t/image_retrieval/Precision@K and mAP@K).
test_evaluator = [
    dict(type='ImageTextRetrievalMetric', topk=(1, 5, 10)),
    dict(type='ZeroShotClassificationMetric', topk=(1, 5)),
    dict(type='ImageToImageRetrievalMetric', topk=(1, 5), label_key='code'),
]

# Keep the last checkpoint, not the best on the test split.
default_hooks = dict(checkpoint=dict(save_best=None))
