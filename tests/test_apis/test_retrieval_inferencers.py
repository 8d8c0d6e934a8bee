"""mmpretrain's retrieval inferencers run QwenCLIP unchanged, and score as
qwenclip_mm.apis does."""
import pytest
import torch
from mmpretrain.apis import (ImageToTextRetrievalInferencer,
                             TextToImageRetrievalInferencer)

from qwenclip_mm.apis import encode_image, encode_text, load_split, search


def assert_same_ranking(matches, expected_scores, all_scores):
    """``matches`` (one query's inferencer output) rank like ``search``.

    Compared by score, so near-ties that float noise may swap still agree.
    """
    scores = torch.stack([m['match_score'] for m in matches])
    torch.testing.assert_close(scores, expected_scores, atol=1e-5, rtol=0)
    picked = all_scores[[int(m['sample_idx']) for m in matches]]
    torch.testing.assert_close(picked, scores, atol=1e-5, rtol=0)


def test_text_to_image_from_config_and_checkpoint(tiny_model,
                                                  tiny_checkpoint,
                                                  tiny_qwen3_dir):
    split = load_split(tiny_model._config)
    paths = split.image_paths
    # The way mmpretrain documents it: a config path and a checkpoint;
    # keyword arguments override the model config.
    inferencer = TextToImageRetrievalInferencer(
        tiny_checkpoint.config,
        prototype=paths,
        pretrained=tiny_checkpoint.path,
        device='cpu',
        text_encoder=dict(pretrained=tiny_qwen3_dir))
    queries = [split.texts[0], 'MRI chest: large hypointense lesion.']
    results = inferencer(queries, topk=3)

    image_feats = encode_image(tiny_model, paths)
    query_feats = encode_text(tiny_model, queries)
    expected, _ = search(query_feats, image_feats, topk=3)
    assert len(results) == 2
    for matches, row, feat in zip(results, expected, query_feats):
        assert len(matches) == 3
        assert_same_ranking(matches, row, image_feats @ feat)
        for match in matches:
            assert match['sample']['img_path'] == \
                paths[match['sample_idx']]


def test_text_to_image_over_a_rocov2_dataset(tiny_model, tiny_checkpoint,
                                             synthetic):
    inferencer = TextToImageRetrievalInferencer(
        tiny_model,
        prototype=dict(
            type='ROCOv2Dataset',
            data_root=synthetic['data_root'],
            split='test'),
        device='cpu')
    split = load_split(tiny_model._config)
    query_feat = encode_text(tiny_model, [split.texts[3]])[0]
    matches = inferencer(split.texts[3], topk=4)[0]
    image_feats = encode_image(tiny_model, split.image_paths)
    all_scores = image_feats @ query_feat
    assert_same_ranking(matches, all_scores.topk(4).values, all_scores)
    # Results name the images by their ROCOv2 IDs.
    assert [m['sample']['ori_id'] for m in matches] == \
        [split.image_ids[m['sample_idx']] for m in matches]


def test_image_to_text(tiny_model):
    split = load_split(tiny_model._config)
    # A model from load_model carries its config, as inferencers need.
    inferencer = ImageToTextRetrievalInferencer(
        tiny_model, prototype=split.texts, device='cpu')
    queries = split.image_paths[:2]
    results = inferencer(queries, topk=2)

    text_feats = encode_text(tiny_model, split.texts)
    query_feats = encode_image(tiny_model, queries)
    expected, _ = search(query_feats, text_feats, topk=2)
    for matches, row, feat in zip(results, expected, query_feats):
        assert_same_ranking(matches, row, text_feats @ feat)
        for match in matches:
            assert match['text'] == split.texts[match['sample_idx']]


@pytest.mark.parametrize('inferencer_type', [
    TextToImageRetrievalInferencer, ImageToTextRetrievalInferencer
])
def test_prototype_cache_round_trip(tiny_model, tmp_path, inferencer_type):
    split = load_split(tiny_model._config)
    prototype = (
        split.image_paths[:3] if inferencer_type is
        TextToImageRetrievalInferencer else split.texts[:3])
    cache = str(tmp_path / 'prototype.pth')
    first = inferencer_type(
        tiny_model, prototype=prototype, prototype_cache=cache)
    # Loaded with torch's weights_only loading: plain tensors only.
    second = inferencer_type(
        tiny_model, prototype=prototype, prototype_cache=cache)
    assert first.prototype.keys() == second.prototype.keys()
    for key, value in first.prototype.items():
        assert torch.equal(second.prototype[key], value)
