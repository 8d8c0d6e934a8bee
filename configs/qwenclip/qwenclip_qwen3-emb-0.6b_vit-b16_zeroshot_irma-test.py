# Paper-style zero-shot evaluation on the IRMA (ImageCLEF 2009) test split
# of a model trained elsewhere (e.g. on ROCOv2): test only, checkpoint
# given on the command line:
#   python tools/test.py THIS_CONFIG CHECKPOINT
# e.g. CHECKPOINT = work_dirs/qwenclip_qwen3-emb-0.6b_vit-b16_8xb32_rocov2/
# epoch_10.pth, from training with the matching 8xb32_rocov2 config.
# The text gallery is one text per IRMA class present in the test split, so
# besides class-level retrieval (i2t/ and t2i/ Recall@K) the image-to-text
# pass gives zero-shot classification accuracy (i2t/zero_shot/top1, top5,
# mean_class_top1) and image-to-image retrieval by class (i2t/
# image_retrieval/Precision@K, mAP@K; relevant = same IRMA code). Set
# ``hierarchy_file`` on the test dataset to tell codes apart below the
# built-in top levels (see the IRMA training config).
_base_ = [
    '../_base_/models/qwenclip_qwen3-emb-0.6b_vit-b16.py',
    '../_base_/datasets/irma_retrieval.py',
    '../_base_/default_runtime.py',
]

train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None

test_cfg = dict(type='RetrievalTestLoop')
test_evaluator = [
    dict(type='ImageTextRetrievalMetric', topk=(1, 5, 10)),
    dict(type='ZeroShotClassificationMetric', topk=(1, 5)),
    dict(type='ImageToImageRetrievalMetric', topk=(1, 5, 10),
         label_key='code'),
]
