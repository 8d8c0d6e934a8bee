import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmpretrain.registry import DATASETS
from PIL import Image

from qwenclip_mm.apis import (encode_image, encode_text, load_model,
                              load_split, search)


def write_image(path, seed, size=(90, 70), mode='RGB'):
    """A random image file that needs resizing to the tiny model's 64 px."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == 'RGB' else (size[1], size[0])
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels, mode).save(path)
    return str(path), pixels


def test_load_model_loads_the_checkpoint(tiny_model, tiny_checkpoint):
    assert not tiny_model.training
    assert tiny_model._config.model.type == 'QwenCLIP'
    loaded = tiny_model.state_dict()
    assert loaded.keys() == tiny_checkpoint.state_dict.keys()
    for key, value in tiny_checkpoint.state_dict.items():
        assert torch.equal(loaded[key], value), key

    # Without a checkpoint the weights are initialised (seeded) instead.
    torch.manual_seed(2)
    fresh = load_model(
        tiny_checkpoint.config, cfg_options=tiny_checkpoint.cfg_options)
    differ = [
        key for key, value in fresh.state_dict().items()
        if not torch.equal(value, loaded[key])
    ]
    assert any(key.startswith('vision_backbone.') for key in differ)


def test_load_model_errors(tiny_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_model(tiny_checkpoint.config, str(tmp_path / 'missing.pth'),
                   cfg_options=tiny_checkpoint.cfg_options)

    partial = dict(tiny_checkpoint.state_dict)
    del partial['head.logit_scale']
    path = str(tmp_path / 'partial.pth')
    torch.save({'state_dict': partial, 'meta': {}}, path)
    with pytest.raises(RuntimeError, match='head.logit_scale'):
        load_model(
            tiny_checkpoint.config,
            path,
            cfg_options=tiny_checkpoint.cfg_options)

    with pytest.raises(TypeError, match='got dict'):
        load_model(dict(model=dict(type='QwenCLIP')))
    with pytest.raises(KeyError, match='no "model"'):
        load_model(Config(dict(default_scope='mmpretrain')))


def test_features_match_evaluation(tiny_model):
    """Same features as the test loop computes from the config's loader."""
    cfg = tiny_model._config
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    batch = default_collate([dataset[i] for i in range(4)])
    with torch.no_grad():
        data = tiny_model.data_preprocessor(batch, False)
        expected = tiny_model.extract_feat(data['images'],
                                           data['data_samples'])
    infos = [dataset.get_data_info(i) for i in range(4)]
    image_feats = encode_image(tiny_model, [i['img_path'] for i in infos])
    text_feats = encode_text(tiny_model, [i['text'][0] for i in infos])
    torch.testing.assert_close(
        image_feats, expected['image_feat'], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        text_feats, expected['text_feat'], atol=1e-5, rtol=0)


def test_path_and_array_give_the_same_feature(tiny_model, tmp_path):
    path, rgb = write_image(tmp_path / 'rgb.png', seed=0)
    other, _ = write_image(tmp_path / 'other.png', seed=1)
    from_files = encode_image(tiny_model, [path, other])
    torch.testing.assert_close(
        encode_image(tiny_model, [rgb]), from_files[:1], atol=1e-6, rtol=0)
    torch.testing.assert_close(
        encode_image(tiny_model, [rgb[..., ::-1]], channel_order='bgr'),
        from_files[:1],
        atol=1e-6,
        rtol=0)
    # The check above would pass for a model blind to its input.
    assert (from_files[0] - from_files[1]).abs().max() > 1e-4

    gray_path, gray = write_image(tmp_path / 'gray.png', seed=2, mode='L')
    torch.testing.assert_close(
        encode_image(tiny_model, [gray]),
        encode_image(tiny_model, [gray_path]),
        atol=1e-6,
        rtol=0)


def test_batching_and_order_do_not_change_features(tiny_model, synthetic):
    split = load_split(tiny_model._config)
    paths = split.image_paths[:6]
    full = encode_image(tiny_model, paths, batch_size=32)
    for batch_size in (1, 4):
        torch.testing.assert_close(
            encode_image(tiny_model, paths, batch_size=batch_size),
            full,
            atol=1e-5,
            rtol=0)

    # Short and long reports, so batches pad differently.
    texts = sorted(split.texts, key=len)
    texts = texts[:3] + texts[-3:]
    full = encode_text(tiny_model, texts, batch_size=64)
    for batch_size in (1, 4):
        torch.testing.assert_close(
            encode_text(tiny_model, texts, batch_size=batch_size),
            full,
            atol=1e-5,
            rtol=0)
    order = [3, 0, 5, 1, 4, 2]
    torch.testing.assert_close(
        encode_text(tiny_model, [texts[i] for i in order], batch_size=2),
        full[order],
        atol=1e-5,
        rtol=0)


def test_features_are_unit_float32_rows(tiny_model, synthetic):
    split = load_split(tiny_model._config)
    for feats, num in ((encode_image(tiny_model, split.image_paths[:3]), 3),
                       (encode_text(tiny_model, split.texts[:5]), 5)):
        assert feats.shape == (num, 64)
        assert feats.dtype == torch.float32
        assert feats.device.type == 'cpu'
        torch.testing.assert_close(
            feats.norm(dim=1), torch.ones(num), atol=1e-5, rtol=0)


def test_training_mode_is_restored(tiny_model, synthetic):
    split = load_split(tiny_model._config)
    expected = encode_text(tiny_model, split.texts[:2])
    tiny_model.train()
    try:
        # Eval mode inside, whatever the caller's mode.
        torch.testing.assert_close(
            encode_text(tiny_model, split.texts[:2]), expected)
        assert tiny_model.training
    finally:
        tiny_model.eval()


def test_encode_image_errors(tiny_model, tmp_path):
    missing = str(tmp_path / 'missing.jpg')
    with pytest.raises(FileNotFoundError,
                       match=r'images\[1\]: image file .*missing.jpg'):
        encode_image(tiny_model, [write_image(tmp_path / 'a.png', 0)[0],
                                  missing])
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not an image')
    with pytest.raises(ValueError, match=r'images\[0\]: cannot read .*broken'):
        encode_image(tiny_model, [str(broken)])
    with pytest.raises(TypeError, match='uint8 array, got dtype float32'):
        encode_image(tiny_model, [np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match=r'got shape \(8, 8, 4\)'):
        encode_image(tiny_model, [np.zeros((8, 8, 4), np.uint8)])
    with pytest.raises(TypeError, match='pass \\[image\\]'):
        encode_image(tiny_model, missing)
    with pytest.raises(ValueError, match='images is empty'):
        encode_image(tiny_model, [])
    with pytest.raises(ValueError, match="channel_order must be 'rgb' or"):
        encode_image(tiny_model, [missing], channel_order='RGB')


def test_encode_image_needs_the_config(build_tiny_model):
    with pytest.raises(ValueError, match='load_model'):
        encode_image(build_tiny_model(), [np.zeros((8, 8, 3), np.uint8)])


def test_encode_text_errors(tiny_model):
    with pytest.raises(TypeError, match=r'pass \[text\]'):
        encode_text(tiny_model, 'one caption')
    with pytest.raises(TypeError, match=r'texts\[1\] must be a str, got int'):
        encode_text(tiny_model, ['a caption', 7])
    with pytest.raises(ValueError, match='texts is empty'):
        encode_text(tiny_model, [])
    with pytest.raises(ValueError, match='batch_size must be >= 1, got 0'):
        encode_text(tiny_model, ['a caption'], batch_size=0)


def test_search_matches_brute_force():
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(7, 5, generator=generator)
    gallery = torch.randn(11, 5, generator=generator)
    scores, indices = search(query, gallery, topk=3)
    full = query @ gallery.t()
    expected = full.sort(dim=1, descending=True).values[:, :3]
    torch.testing.assert_close(scores, expected)
    torch.testing.assert_close(full.gather(1, indices), expected)

    chunked = search(query.numpy(), gallery.numpy(), topk=3, chunk_size=2)
    assert torch.equal(chunked[0], scores) and torch.equal(
        chunked[1], indices)
    assert search(query, gallery, topk=50)[1].shape == (7, 11)


def test_search_errors():
    with pytest.raises(ValueError, match='5-d but gallery_feats are 4-d'):
        search(torch.zeros(2, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r'query_feats must have shape'):
        search(torch.zeros(5), torch.zeros(3, 5))
    with pytest.raises(ValueError, match='gallery_feats is empty'):
        search(torch.zeros(2, 5), torch.zeros(0, 5))
    with pytest.raises(ValueError, match='topk=0'):
        search(torch.zeros(2, 5), torch.zeros(3, 5), topk=0)


def test_load_split(tiny_model, synthetic):
    split = load_split(tiny_model._config)
    test = synthetic['splits']['test']
    assert split.image_ids == test['ids']
    assert split.text_ids == test['ids']
    assert split.texts == [c.strip() for c in test['captions']]
    assert split.image_gt == [[i] for i in range(10)]
    assert split.text_gt == [[i] for i in range(10)]
    assert [p.rsplit('/', 1)[1] for p in split.image_paths] == \
        [f'{i}.jpg' for i in test['ids']]

    valid = load_split(tiny_model._config, 'valid')
    assert valid.image_ids == synthetic['splits']['valid']['ids']

    with pytest.raises(KeyError, match='test_dataloader.dataset'):
        load_split(Config(dict(model=dict())))
