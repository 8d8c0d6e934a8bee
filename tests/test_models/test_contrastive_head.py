import math

import torch
import torch.nn.functional as F

from qwenclip_mm.models import CLIPContrastiveHead


def _feats(n, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (F.normalize(torch.randn(n, d, generator=g), dim=1),
            F.normalize(torch.randn(n, d, generator=g), dim=1))


def test_matches_clip_loss_with_unique_images():
    img, txt = _feats(5)
    head = CLIPContrastiveHead()
    out = head.loss(img, txt, torch.arange(5))
    logits = img @ txt.t() / 0.07
    target = torch.arange(5)
    expected = (F.cross_entropy(logits, target) +
                F.cross_entropy(logits.t(), target)) / 2
    torch.testing.assert_close(out['loss'], expected)
    assert math.isclose(out['logit_scale'].item(), 1 / 0.07, rel_tol=1e-6)


def test_loss_is_a_mean_not_a_sum():
    img, txt = _feats(4)
    head = CLIPContrastiveHead()
    ids = torch.arange(4)
    single = head.loss(img, txt, ids)['loss']
    # Two independent copies of the batch: a summed loss would double
    # (and gain negatives); the mean of identical rows barely moves.
    doubled = head.loss(torch.cat([img, img]), torch.cat([txt, txt]),
                        torch.cat([ids, ids]))['loss']
    assert doubled < single * 1.5


def test_captions_of_the_same_image_are_both_positives():
    # Image 0 appears twice (two captions, two augmented views).
    img, txt = _feats(4)
    img[1] = F.normalize(img[0] + 0.3 * img[1], dim=0)
    ids = torch.tensor([0, 0, 1, 2])
    head = CLIPContrastiveHead()
    out = head.loss(img, txt, ids)['loss']
    logits = img @ txt.t() / 0.07
    pos = (ids[:, None] == ids[None, :]).float()
    target = pos / pos.sum(1, keepdim=True)
    ce = lambda lg: -(target * lg.log_softmax(1)).sum(1).mean()  # noqa: E731
    torch.testing.assert_close(out, (ce(logits) + ce(logits.t())) / 2)
    as_negatives = head.loss(img, txt, torch.arange(4))['loss']
    assert not torch.isclose(out, as_negatives)


def test_logit_scale_is_clamped():
    head = CLIPContrastiveHead(max_logit_scale=100.)
    with torch.no_grad():
        head.logit_scale.fill_(math.log(1e6))
    img, txt = _feats(3)
    assert head.loss(img, txt, torch.arange(3))['logit_scale'].item() == 100.
