import pytest
import torch

from qwenclip_mm.models import DEFAULT_INIT_PHRASE

CAPTION = 'CT of the chest shows a large mass in the upper left lobe.'
LONG = ('History of cough and weight loss over several months. ' * 30 +
        'A small nodule sits in the lower right lobe.')


def official_ids(tok, caption, task=DEFAULT_INIT_PHRASE):
    """Qwen3-Embedding's recipe: one string, EOS appended by the tokenizer."""
    return tok(f'Instruct: {task}\nQuery:{caption}')['input_ids']


def test_sequence_layout_and_eos(build_tiny_model):
    model = build_tiny_model()
    prompt = model.prompt_learner
    tok = model.text_encoder.tokenizer
    (seq, ), kept = prompt.tokenize([CAPTION], max_length=128)
    want = official_ids(tok, CAPTION)
    k = len(prompt.instruction_ids)
    soft_end = k + prompt.num_soft_tokens
    # The official ids with the task's tokens as soft slots (pad ids).
    assert seq == want[:k] + [prompt.pad_id] * prompt.num_soft_tokens + \
        want[soft_end:]
    # 'Instruct: ' keeps 'Instruct' ':'; its space starts the task's ' Create'.
    assert tok.decode(prompt.instruction_ids) == 'Instruct:'
    assert seq[-1] == tok.convert_tokens_to_ids('<|endoftext|>')
    caption_ids = tok('\nQuery:' + CAPTION, add_special_tokens=False)[
        'input_ids'][len(prompt.query_ids):]
    assert kept == [len(caption_ids)]


def test_soft_prompt_initialised_from_phrase_in_place(build_tiny_model):
    model = build_tiny_model()
    tok = model.text_encoder.tokenizer
    prompt = model.prompt_learner
    # As tokenised inside the official prompt, with its leading space.
    phrase_ids = tok(
        'Instruct: ' + DEFAULT_INIT_PHRASE,
        add_special_tokens=False)['input_ids'][len(prompt.instruction_ids):]
    assert tok.decode(phrase_ids) == ' ' + DEFAULT_INIT_PHRASE
    table = model.text_encoder.model.get_input_embeddings().weight
    assert prompt.num_soft_tokens == len(phrase_ids)
    torch.testing.assert_close(prompt.soft_prompt.data,
                               table[torch.tensor(phrase_ids)].detach())


def test_phrase_merging_into_query_prefix_is_an_error(build_tiny_model):
    # 'retri' + 'eval' is one word: its token ' retrie' crosses the boundary.
    with pytest.raises(ValueError, match='ends inside a token shared with'):
        build_tiny_model(
            prompt_learner=dict(
                init_phrase='image retri', query_prefix='eval\nQuery:'))


def test_random_init_with_k_vectors(build_tiny_model):
    model = build_tiny_model(
        prompt_learner=dict(init_phrase=None, num_soft_tokens=7))
    assert model.prompt_learner.soft_prompt.shape == (
        7, model.text_encoder.hidden_size)


def test_phrase_and_k_mismatch_is_an_error(build_tiny_model):
    with pytest.raises(ValueError, match='num_soft_tokens=3 but init_phrase'):
        build_tiny_model(prompt_learner=dict(num_soft_tokens=3))


def test_truncation_trims_caption_never_prompt_or_eos(build_tiny_model):
    model = build_tiny_model()
    prompt = model.prompt_learner
    max_length = prompt.num_prompt_tokens + 10
    (seq, ), kept = prompt.tokenize([LONG], max_length=max_length)
    tok = model.text_encoder.tokenizer
    # As the official recipe's tokenizer truncates: first tokens, EOS kept.
    want = tok(
        f'Instruct: {DEFAULT_INIT_PHRASE}\nQuery:{LONG}',
        truncation=True,
        max_length=max_length)['input_ids']
    k = len(prompt.instruction_ids)
    assert len(seq) == max_length
    assert kept == [10]
    assert seq[-1] == prompt.eos_id
    assert seq[:k] == want[:k] == prompt.instruction_ids
    assert seq[k + prompt.num_soft_tokens:] == \
        want[k + prompt.num_soft_tokens:]


def test_max_length_shorter_than_prompt_fails_at_build(build_tiny_model):
    with pytest.raises(ValueError, match='text_encoder.max_length=8 leaves'):
        build_tiny_model(text_encoder=dict(max_length=8))


def test_embedding_independent_of_batch_and_padding(build_tiny_model):
    model = build_tiny_model().eval()
    others = ['x', LONG, 'MRI of the brain, no acute findings.']
    with torch.no_grad():
        alone = model.encode_text([CAPTION])[0]
        for i in range(len(others) + 1):
            batch = others[:i] + [CAPTION] + others[i:]
            together = model.encode_text(batch)[i]
            assert (alone - together).abs().max().item() < 1e-5


def test_frozen_soft_prompt_gets_no_gradient(build_tiny_model):
    model = build_tiny_model(prompt_learner=dict(freeze=True))
    assert not model.prompt_learner.trainable
    assert not model.text_side_trains
    model.encode_text([CAPTION]).sum().backward()
    assert model.prompt_learner.soft_prompt.grad is None
    assert model.text_projection.proj[0].weight.grad is not None


def test_unknown_eos_token_is_an_error(build_tiny_model):
    with pytest.raises(ValueError, match="eos_token='<nope>'"):
        build_tiny_model(prompt_learner=dict(eos_token='<nope>'))


def test_max_caption_tokens_caps_the_caption_only(build_tiny_model):
    model = build_tiny_model(prompt_learner=dict(max_caption_tokens=5))
    prompt = model.prompt_learner
    (seq, ), kept = prompt.tokenize([LONG], max_length=128)
    assert kept == [5]
    assert len(seq) == prompt.num_prompt_tokens + 5
    assert seq[-1] == prompt.eos_id
    with pytest.raises(ValueError, match='max_caption_tokens=0'):
        build_tiny_model(prompt_learner=dict(max_caption_tokens=0))
