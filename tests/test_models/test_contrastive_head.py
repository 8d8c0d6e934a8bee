import math
import socket
import warnings

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from qwenclip_mm.models import CLIPContrastiveHead
from qwenclip_mm.models.contrastive_head import gather_features


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


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _gather_worker(rank, port, queue):
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=2)
    try:
        # Deprecated collectives (torch.distributed.nn.functional) warn.
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            image = torch.full((2, 3), rank + 1., requires_grad=True)
            text = torch.full((2, 3), rank + 3., requires_grad=True)
            all_image, all_text, ids = gather_features(
                image, text, torch.tensor([2 * rank, 2 * rank + 1]))
            # Each rank weighs the gathered rows differently, so a rank's
            # gradient holds the other rank's weights only if the gather
            # sends gradients back across ranks.
            weights = torch.arange(12.).view(4, 3) * (rank + 1)
            ((all_image + 2 * all_text) * weights).sum().backward()
        queue.put((rank, all_image.tolist(), ids.tolist(),
                   image.grad.tolist(), text.grad.tolist()))
    finally:
        dist.destroy_process_group()


def test_gather_with_grad_on_two_ranks():
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    mp.start_processes(
        _gather_worker,
        args=(_free_port(), queue),
        nprocs=2,
        start_method='spawn')
    results = {rank: rest for rank, *rest in (queue.get() for _ in range(2))}
    # Both ranks' weights summed: (1 + 2) times the base weights.
    summed = torch.arange(12.).view(4, 3) * 3
    for rank, (all_image, ids, image_grad, text_grad) in results.items():
        assert all_image == [[1.] * 3] * 2 + [[2.] * 3] * 2
        assert ids == [0, 1, 2, 3]
        rows = slice(2 * rank, 2 * rank + 2)
        torch.testing.assert_close(torch.tensor(image_grad), summed[rows])
        torch.testing.assert_close(
            torch.tensor(text_grad), 2 * summed[rows])
