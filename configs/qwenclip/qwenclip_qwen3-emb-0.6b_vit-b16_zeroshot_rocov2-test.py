# Paper-style zero-shot retrieval on the ROCOv2 test split: test only (no
# training or validation), the paper's 0.6B model, checkpoint given on the
# command line:
#   python tools/test.py THIS_CONFIG CHECKPOINT
# e.g. CHECKPOINT = work_dirs/qwenclip_qwen3-emb-0.6b_vit-b16_8xb32_rocov2/
# epoch_10.pth, from training with the matching 8xb32_rocov2 config.
# Reports i2t/ and t2i/ Recall@1/5/10, mean recall and mean/median rank over
# the whole test split, and image-to-image retrieval (i2t/image_retrieval/
# Precision@K, mAP@K) where two images are relevant when their CUI sets have
# a Jaccard index of at least 0.5.
_base_ = [
    '../_base_/models/qwenclip_qwen3-emb-0.6b_vit-b16.py',
    '../_base_/datasets/rocov2_retrieval.py',
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
    dict(
        type='ImageToImageRetrievalMetric',
        topk=(1, 5, 10),
        relevance='concepts',
        concept_key='cuis',
        concept_overlap='jaccard',
        concept_threshold=0.5),
]
