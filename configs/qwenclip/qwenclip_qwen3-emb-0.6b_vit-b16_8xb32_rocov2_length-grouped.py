# The paper's setting with length-grouped batches: each batch holds captions
# of similar length, so the LLM pads far less (on ROCOv2, random batches of
# 32 are about 60% padding, grouped ones under 10%).
_base_ = './qwenclip_qwen3-emb-0.6b_vit-b16_8xb32_rocov2.py'

batch_size = 32
train_dataloader = dict(
    batch_size=batch_size,
    sampler=dict(
        _delete_=True,
        type='LengthGroupedSampler',
        # The sampler forms the batches, so it needs the same batch size.
        batch_size=batch_size,
        # Group by the text encoder's tokens (characters group less tightly);
        # point it where model.text_encoder.pretrained points.
        tokenizer={{_base_.model.text_encoder.pretrained}}))
