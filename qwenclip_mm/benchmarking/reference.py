"""The reference implementation: the published QwenCLIP script's text path.

Random batches, ``query prefix + caption + EOS`` left-padded to the batch's
longest with the instruction and soft prompt embeddings concatenated in
front (so padding sits between prompt and caption). Its tokens are the
same as :class:`~qwenclip_mm.models.HybridPromptLearner`'s; only the
layout differs.
"""
from contextlib import nullcontext

import torch
import torch.nn.functional as F


def left_pad(sequences, pad_id, device):
    """Left-pad token id lists to the longest, as the published script."""
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, longest - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[i, longest - len(seq):] = 1
    return ids.to(device), mask.to(device)


def reference_text_embed(model, texts):
    """The reference's pooled LLM embeddings ``(B, H)``.

    The published script's layout: ``query prefix + caption + EOS``
    left-padded, the instruction and soft prompt embeddings concatenated in
    front, so the padding sits between prompt and caption. It tokenizes and
    truncates as ours does, so only the layout differs.
    """
    learner, encoder = model.prompt_learner, model.text_encoder
    sequences, _ = learner.tokenize(texts, encoder.max_length)
    # Drop the instruction and soft slots that tokenize() puts in front.
    start = len(learner.instruction_ids) + learner.num_soft_tokens
    ids, mask = left_pad([s[start:] for s in sequences], learner.pad_id,
                         model.device)
    grad = torch.is_grad_enabled() and model.text_side_trains
    with nullcontext() if grad else torch.no_grad():
        head_ids = torch.tensor(learner.instruction_ids, device=model.device)
        body = encoder.embed_tokens(ids)
        prefix = torch.cat([
            encoder.embed_tokens(head_ids),
            learner.soft_prompt.to(body.dtype)
        ]).expand(len(texts), -1, -1)
        embeds = torch.cat([prefix, body], dim=1)
        mask = torch.cat([mask.new_ones(len(texts), prefix.size(1)), mask],
                         dim=1)
        return encoder(embeds, mask)


def reference_loss(model, images, samples):
    """The reference's contrastive loss of a batch, same head as ours."""
    image_feat = model.encode_image(images)
    pooled = reference_text_embed(model, [s.text for s in samples])
    text_feat = F.normalize(model.text_projection(pooled.float()), dim=-1)
    ids = torch.arange(len(samples), device=model.device)
    return model.head.loss(image_feat, text_feat, ids)['loss']
