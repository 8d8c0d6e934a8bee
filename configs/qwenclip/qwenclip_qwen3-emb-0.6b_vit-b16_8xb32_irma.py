# The paper's model (Qwen3-Embedding-0.6B frozen, learnable hybrid prompt,
# MLP projection, CLIP ViT-B/16 from OpenAI weights) on IRMA radiographs
# with texts made from their IRMA codes, 8 GPUs x 32 images.
_base_ = [
    '../_base_/models/qwenclip_qwen3-emb-0.6b_vit-b16_openai-clip.py',
    '../_base_/datasets/irma_retrieval.py',
    '../_base_/schedules/adamw_cosine_10e.py',
    '../_base_/default_runtime.py',
]

# Without a code hierarchy file, codes that differ only below the built-in
# top levels share one text (IRMADataset warns). With one, set
# ``hierarchy_file`` (relative to data_root) in the three datasets, e.g.
# --cfg-options train_dataloader.dataset.hierarchy_file=irma_hierarchy.txt
# val_dataloader.dataset.hierarchy_file=irma_hierarchy.txt
# test_dataloader.dataset.hierarchy_file=irma_hierarchy.txt

# Validation runs on the test split (IRMA has no other): keep the last
# checkpoint instead of choosing the best on test.
default_hooks = dict(checkpoint=dict(save_best=None))
