"""SortedTextEvalHook: length-sorted gallery encoding, the same metrics."""
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from utils import TINY_CONFIG, cfg_overrides, make_tiny_data


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp('data'))


def run_test(tiny_data, tiny_qwen3_dir, work_dir, sorted_text, batch_size):
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.merge_from_dict(cfg_overrides(tiny_data, tiny_qwen3_dir))
    if not sorted_text:
        del cfg.default_hooks.sorted_text_eval
    cfg.work_dir = str(work_dir)
    # Several image batches, so the loop's own text batches differ from the
    # length-sorted ones.
    cfg.test_dataloader.batch_size = 5
    cfg.model.eval_text_batch_size = batch_size
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    calls = []
    model = runner.model
    original = model.encode_text
    model.encode_text = lambda texts: calls.append(list(texts)) or original(
        texts)
    metrics = runner.test()
    return metrics, calls, model


def test_same_metrics_as_the_loops_order(tiny_data, tiny_qwen3_dir,
                                         tmp_path):
    plain, plain_calls, _ = run_test(tiny_data, tiny_qwen3_dir,
                                     tmp_path / 'a', False, 7)
    ordered, sorted_calls, model = run_test(tiny_data, tiny_qwen3_dir,
                                            tmp_path / 'b', True, 7)
    assert ordered == plain
    # The loop's batches hold 5 images' captions in dataset order; sorted,
    # batches of 7 go shortest first.
    assert [len(c) for c in plain_calls] == [5, 5, 5, 1]
    assert [len(c) for c in sorted_calls] == [7, 7, 2]
    # Shortest first in the text tower's tokens.
    flat = model.text_lengths([t for batch in sorted_calls for t in batch])
    assert flat == sorted(flat)
    assert sorted(t for b in sorted_calls for t in b) == sorted(
        t for b in plain_calls for t in b)


def test_gallery_features_in_dataset_order(build_tiny_model):
    model = build_tiny_model().eval()
    texts = ['x' * n for n in (40, 3, 17, 3, 90, 1)] + ['CT chest.']
    with torch.no_grad():
        one_by_one = torch.cat([model.encode_text([t]) for t in texts])
    gallery = model.encode_text_gallery(texts, batch_size=3)
    assert (gallery - one_by_one).abs().max().item() < 1e-5
    assert model.encode_text_gallery([]).shape == (0, 16)


def test_lengths_are_the_llm_sequences(build_tiny_model):
    model = build_tiny_model().eval()
    texts = ['CT chest.', '1 2 3 4 5 6 7 8 9',
             'Computed tomography of the chest']
    sequences, _ = model.prompt_learner.tokenize(
        texts, model.text_encoder.max_length)
    assert model.text_lengths(texts) == [len(s) for s in sequences]
    # Spaced digits are a token each, common words one token: characters
    # would sort these two the other way.
    lengths = model.text_lengths(texts)
    assert lengths[2] < lengths[1] and len(texts[2]) > len(texts[1])
