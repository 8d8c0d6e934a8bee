# Zero-shot retrieval on the common 2,000-pair subset of the ROCOv2 test
# split: the same evaluation as the full-split config, on 2,000 images drawn
# without replacement by a keyed hash of their ROCOv2 IDs with seed 0, so
# every machine and library version evaluates the same pairs:
#   python tools/test.py THIS_CONFIG CHECKPOINT
# Change `subset_seed` for another draw, `subset_size` for another size.
_base_ = ['./qwenclip_qwen3-emb-0.6b_vit-b16_zeroshot_rocov2-test.py']

test_dataloader = dict(dataset=dict(subset_size=2000, subset_seed=0))
