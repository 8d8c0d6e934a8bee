import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

CAPTIONS = [
    'CT of the chest with a large mass in the upper left lobe.',
    'MRI of the brain, small lesion in the lower right.',
    'Chest x-ray, no acute findings.',
    'CT of the abdomen showing a small cyst in the upper right.',
]


def _train_batch(n=4):
    images = torch.randn(n, 3, 32, 32)
    samples = [
        DataSample(text=CAPTIONS[i % len(CAPTIONS)], image_id=i)
        for i in range(n)
    ]
    return images, samples


def test_one_step_trains_soft_prompt_and_keeps_llm_bit_identical(
        build_tiny_model):
    model = build_tiny_model().train()
    llm_before = {
        k: v.clone()
        for k, v in model.text_encoder.model.state_dict().items()
    }
    prompt_before = model.prompt_learner.soft_prompt.detach().clone()
    optim = build_optim_wrapper(
        model,
        dict(optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05)))
    images, samples = _train_batch()
    losses = model(images, samples, mode='loss')
    losses['loss'].backward()
    grad = model.prompt_learner.soft_prompt.grad
    assert grad is not None and grad.abs().sum() > 0
    optim.step()
    assert not torch.equal(model.prompt_learner.soft_prompt, prompt_before)
    for k, v in model.text_encoder.model.state_dict().items():
        assert torch.equal(v, llm_before[k]), k


def test_tensor_mode_returns_normalised_features(build_tiny_model):
    model = build_tiny_model().eval()
    images, _ = _train_batch(2)
    samples = [DataSample(text=CAPTIONS[:2]), DataSample(text=CAPTIONS[2:3])]
    feats = model(images, samples, mode='tensor')
    assert feats['image_feat'].shape == (2, 16)
    assert feats['text_feat'].shape == (3, 16)
    for f in feats.values():
        torch.testing.assert_close(f.norm(dim=1), torch.ones(f.size(0)))
    assert set(model.extract_feat(images=images)) == {'image_feat'}
    assert set(model.extract_feat(data_samples=samples)) == {'text_feat'}


def test_features_are_fp32_under_autocast(build_tiny_model):
    # The retrieval loops score them against each other outside autocast.
    model = build_tiny_model().eval()
    images, samples = _train_batch(2)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        feats = model(images, samples, mode='tensor')
    assert {f.dtype for f in feats.values()} == {torch.float32}


def test_predict_all_follows_retrieval_contract(build_tiny_model):
    model = build_tiny_model().eval()
    images = torch.randn(2, 3, 32, 32)
    samples = [
        DataSample(
            text=CAPTIONS[:2], gt_text_id=[0, 1], gt_image_id=[0, 0]),
        DataSample(text=[CAPTIONS[2]], gt_text_id=[2], gt_image_id=[1]),
    ]
    with torch.no_grad():
        feats = model.extract_feat(images, samples)
        i2t, t2i = model.predict_all(
            feats, samples, num_images=2, num_texts=3)
    assert len(i2t) == 2 and len(t2i) == 3
    assert i2t[0].pred_score.shape == (3, )
    assert i2t[0].gt_label == [0, 1]
    assert t2i[2].pred_score.shape == (2, )
    assert [s.gt_label for s in t2i] == [0, 0, 1]
    expected = feats['text_feat'] @ feats['image_feat'].t()
    torch.testing.assert_close(
        torch.stack([s.pred_score for s in t2i]), expected)
    # The inputs are left as they were.
    assert 'gt_label' not in samples[0]


def test_predictions_are_data_samples_with_the_usual_dict(build_tiny_model):
    # The Evaluator turns every prediction into a dict; the fast to_dict of
    # RetrievalDataSample must give exactly what DataSample's would.
    model = build_tiny_model().eval()
    images = torch.randn(3, 3, 32, 32)
    samples = [
        DataSample(
            text=[CAPTIONS[i]], gt_text_id=[i], gt_image_id=[i],
            metainfo=dict(ori_id=f'ROCOv2_2023_test_00000{i}', cuis=['C1']))
        for i in range(3)
    ]
    with torch.no_grad():
        feats = model.extract_feat(images, samples)
        i2t, t2i = model.predict_all(feats, samples)
    for prediction in (*i2t, *t2i):
        assert isinstance(prediction, DataSample)
        fast = prediction.to_dict()
        usual = DataSample.to_dict(prediction)
        assert fast.keys() == usual.keys()
        for key, value in usual.items():
            assert fast[key] is value, key
        # One argmax over the score matrix, the same as one per row.
        assert prediction.pred_label.tolist() == [
            int(prediction.pred_score.argmax())
        ]
    assert {'ori_id', 'cuis', 'image_feat', 'pred_score', 'gt_label',
            'text'} <= i2t[0].to_dict().keys()
    # A field holding a data element becomes a dict, as in DataSample.
    i2t[0].extra = DataSample(metainfo=dict(a=1))
    assert i2t[0].to_dict()['extra'] == {'a': 1}


def test_predict_mode(build_tiny_model):
    model = build_tiny_model().eval()
    images = torch.randn(1, 3, 32, 32)
    samples = [DataSample(text=[CAPTIONS[0]], gt_text_id=[0],
                          gt_image_id=[0])]
    with torch.no_grad():
        i2t, t2i = model(images, samples, mode='predict')
    assert i2t[0].pred_label.item() == 0 and t2i[0].pred_label.item() == 0


def test_loss_needs_one_caption_per_image(build_tiny_model):
    model = build_tiny_model()
    images = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match='exactly one caption per image'):
        model(images, [DataSample(text=CAPTIONS[:2])], mode='loss')


def test_frozen_text_side_builds_no_llm_graph(build_tiny_model):
    model = build_tiny_model(prompt_learner=dict(freeze=True)).train()
    images, samples = _train_batch()
    model(images, samples, mode='loss')['loss'].backward()
    assert model.prompt_learner.soft_prompt.grad is None
    assert model.text_projection.proj[0].weight.grad is not None
    assert model.vision_backbone.cls_token.grad is not None


def test_frozen_text_side_is_decided_at_construction(build_tiny_model):
    # FSDP with use_orig_params=True shows a frozen soft prompt that shares
    # a flat parameter with trainable ones as requires_grad=True in forward.
    model = build_tiny_model(prompt_learner=dict(freeze=True)).train()
    model.prompt_learner.soft_prompt.requires_grad_(True)
    assert not model.text_side_trains
    images, samples = _train_batch()
    model(images, samples, mode='loss')['loss'].backward()
    # No graph through the LLM: nothing reached the soft prompt.
    assert model.prompt_learner.soft_prompt.grad is None
    assert model.text_projection.proj[0].weight.grad is not None


def test_mismatched_projection_size_fails_at_build(build_tiny_model):
    with pytest.raises(ValueError, match='text_projection.in_channels=99'):
        build_tiny_model(text_projection=dict(in_channels=99))


def test_retrieval_batch_without_captions(build_tiny_model):
    model = build_tiny_model().eval()
    images = torch.randn(2, 3, 32, 32)
    samples = [DataSample(text=[]), DataSample(text=[])]
    with torch.no_grad():
        feats = model.extract_feat(images, samples)
    assert feats['text_feat'].shape == (0, 16)
    assert feats['image_feat'].shape == (2, 16)
