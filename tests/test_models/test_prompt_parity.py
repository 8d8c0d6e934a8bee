"""Token-exact parity with the official Qwen3-Embedding recipe.

The official recipe embeds ``f'Instruct: {task}\\nQuery:{caption}'``
tokenised as one string (the tokenizer appends ``<|endoftext|>``), and
pools the last token's hidden state. With the soft vectors initialised from
``task``, QwenCLIP's hybrid prompt must give the same ids (soft slots in
place of the task's tokens) and the same pooled embedding. Checked on a
tiny random Qwen3 with Qwen's real vocabulary, where BPE merges cross the
``':'`` / caption boundary.

Tolerance: 1e-5 (max abs) on pooled fp32 hidden states. Both sides run the
same weights on the same input embeddings; they differ only in padding
(official: left, ours: right) and batch composition, which change the order
of float32 reductions in attention (measured differences are ~1e-7).
"""
import pytest
import torch
from tricky_captions import TRICKY_CAPTIONS

from qwenclip_mm.models import DEFAULT_INIT_PHRASE

TOLERANCE = 1e-5


@pytest.fixture(scope='module')
def real_vocab_model(build_real_vocab_model):
    """Tiny QwenCLIP with the base config's prompt, on the real vocabulary."""
    return build_real_vocab_model(
        text_encoder=dict(max_length=4096),
        # The paper configs' prompt (configs/_base_/models/...).
        prompt_learner=dict(
            instruction='Instruct: ',
            query_prefix='\nQuery:',
            init_phrase=DEFAULT_INIT_PHRASE)).eval()


def official_texts(captions, task=DEFAULT_INIT_PHRASE):
    return [f'Instruct: {task}\nQuery:{caption}' for caption in captions]


def official_embed(model, captions, max_length):
    """Qwen3-Embedding's published usage: one string, left padding (its
    tokenizer's default), truncation at ``max_length``, last token."""
    tokenizer = model.text_encoder.tokenizer
    batch = tokenizer(
        official_texts(captions),
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors='pt')
    assert tokenizer.padding_side == 'left'
    with torch.no_grad():
        out = model.text_encoder.model(**batch)
    return out.last_hidden_state[:, -1]


def soft_slots(model, official_ids):
    """The official ids with the task's tokens replaced by soft slots."""
    learner = model.prompt_learner
    start = len(learner.instruction_ids)
    end = start + learner.num_soft_tokens
    return (official_ids[:start] + [learner.pad_id] * (end - start) +
            official_ids[end:])


def assert_same_ids(model, captions, max_length):
    tokenizer = model.text_encoder.tokenizer
    learner = model.prompt_learner
    ours, _ = learner.tokenize(captions, max_length)
    official = tokenizer(
        official_texts(captions), truncation=True,
        max_length=max_length).input_ids
    phrase_ids = tokenizer(
        'Instruct: ' + DEFAULT_INIT_PHRASE,
        add_special_tokens=False).input_ids[len(learner.instruction_ids):]
    differ = []
    for caption, seq, want in zip(captions, ours, official):
        start = len(learner.instruction_ids)
        assert want[start:start + len(phrase_ids)] == phrase_ids
        if seq != soft_slots(model, want):
            differ.append(caption)
    assert differ == []


def assert_same_embeddings(model, captions, max_length, batch_size=64):
    model.text_encoder.max_length = max_length
    worst = 0.0
    # Batches of similar length keep the padded work small.
    order = sorted(range(len(captions)), key=lambda i: len(captions[i]))
    for i in range(0, len(order), batch_size):
        batch = [captions[j] for j in order[i:i + batch_size]]
        with torch.no_grad():
            ours = model._llm_embed(batch)[0]
        want = official_embed(model, batch, max_length)
        worst = max(worst, (ours - want).abs().max().item())
    assert worst < TOLERANCE


def test_parity_ids_of_tricky_captions(real_vocab_model):
    assert_same_ids(real_vocab_model, TRICKY_CAPTIONS, max_length=4096)


def test_parity_ids_when_truncated(real_vocab_model):
    # 40 tokens: every caption longer than ~20 tokens is cut, EOS kept.
    assert_same_ids(real_vocab_model, TRICKY_CAPTIONS, max_length=40)
    ours, kept = real_vocab_model.prompt_learner.tokenize(
        TRICKY_CAPTIONS, 40)
    assert max(len(s) for s in ours) == 40
    assert all(s[-1] == real_vocab_model.prompt_learner.eos_id for s in ours)


def test_parity_merges_are_in_the_tricky_set(real_vocab_model):
    """The set does hit cross-boundary merges (else parity would be easy)."""
    tokenizer = real_vocab_model.text_encoder.tokenizer
    alone = tokenizer('\nQuery:', add_special_tokens=False).input_ids
    merged = [
        c for c in TRICKY_CAPTIONS
        if tokenizer('\nQuery:' + c, add_special_tokens=False).input_ids[
            :len(alone)] != alone
    ]
    assert len(merged) >= 10


def test_parity_embeddings_of_tricky_captions(real_vocab_model):
    assert_same_embeddings(real_vocab_model, TRICKY_CAPTIONS, 4096)
    assert_same_embeddings(real_vocab_model, TRICKY_CAPTIONS, 40)


def test_parity_on_real_rocov2_test_captions(real_vocab_model,
                                             rocov2_captions):
    captions = rocov2_captions
    assert len(captions) == 9927
    assert_same_ids(real_vocab_model, captions, max_length=4096)
    assert_same_embeddings(real_vocab_model, captions, max_length=4096)
