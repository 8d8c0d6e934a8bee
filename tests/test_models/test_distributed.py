"""Two CPU processes (gloo) against one: the contrastive loss over the global
batch under DDP and FSDP, distributed retrieval, and the real tools started
by torchrun.

DDP and FSDP average the ranks' gradients, so the gradient the optimiser
sees is the mean over ranks; it must equal the single-process gradient of the
same global batch. A rank's feature gradient must be ``world_size`` times the
single-process one: that factor is what the averaging then removes.
"""
import json
import math
import os
import os.path as osp
import re
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.structures import DataSample
from torch.nn.parallel import DistributedDataParallel
from utils import TINY_CONFIG as CONFIG
from utils import REPO_ROOT, cfg_options, run_tool

from qwenclip_mm.engine import sharded_clip_grad_norm_
from qwenclip_mm.models import CLIPContrastiveHead
from qwenclip_mm.testing.synthetic_rocov2 import make_synthetic_rocov2

WORLD_SIZE = 2
LOCAL_BATCH = 4
# Images 0 and 3 have a caption on each rank: positives across ranks.
IMAGE_IDS = [0, 1, 2, 3, 3, 4, 0, 5]
CAPTIONS = [
    'CT of the chest with a large mass in the upper left lobe.',
    'MRI of the brain, small lesion in the lower right.',
    'Chest x-ray, no acute findings.',
    'CT of the abdomen showing a small cyst in the upper right.',
    'Axial CT: the same cyst, now with a thin rim.',
    'Radiograph of the skull, bulky opacity lower left.',
    'Chest CT, large hyperdense mass, left upper lobe.',
    'MRI of the thorax, tiny hypointense focus upper right.',
]
HEADS = {
    'full': dict(gather_with_grad=True, local_loss=False),
    'local': dict(gather_with_grad=True, local_loss=True),
    'no_grad_gather': dict(gather_with_grad=False, local_loss=False),
}
# Small enough that every step clips.
CLIP_NORM = 1e-3
# An odd test split: the sampler repeats image 0 at the end of rank 1.
NUM_TEST = 15
FSDP_STRATEGY = osp.join(REPO_ROOT, 'configs', '_base_', 'strategies',
                         'fsdp_qwen3.py')
FSDP_CONFIGS = [
    osp.join(REPO_ROOT, 'configs', 'qwenclip',
             f'qwenclip_qwen3-emb-{size}_vit-b16_8xb32_rocov2_fsdp.py')
    for size in ('4b', '8b')
]
# The paper's setting, which the FSDP configs keep: the LLM does not train
# (the tiny config trains its random one).
FROZEN_LLM = 'model.text_encoder.train_mode=frozen'
# What the CPU needs in place of the GPU defaults: gloo, and no device ids
# for the DDP and FSDP wrappers.
CPU_DDP = ('env_cfg.dist_cfg.backend=gloo',
           'model_wrapper_cfg.device_ids=None')
CPU_FSDP = ('env_cfg.dist_cfg.backend=gloo',
            'strategy.model_wrapper.device_id=cpu')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rows(rank):
    return slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)


class TwoTowers(nn.Module):
    """A linear image tower and text tower feeding the contrastive head."""

    def __init__(self, **head_cfg):
        super().__init__()
        self.image_tower = nn.Linear(6, 8)
        self.text_tower = nn.Linear(5, 8)
        self.head = CLIPContrastiveHead(**head_cfg)

    def forward(self, images, texts, image_ids):
        image_feat = F.normalize(self.image_tower(images), dim=-1)
        text_feat = F.normalize(self.text_tower(texts), dim=-1)
        image_feat.retain_grad()
        text_feat.retain_grad()
        loss = self.head.loss(image_feat, text_feat, image_ids)['loss']
        return loss, image_feat, text_feat


def _towers_step(name, rows=slice(None), wrap=lambda m: m):
    """Loss, feature gradients and parameter gradients of one step."""
    g = torch.Generator().manual_seed(0)
    images = torch.randn(len(IMAGE_IDS), 6, generator=g)
    texts = torch.randn(len(IMAGE_IDS), 5, generator=g)
    ids = torch.tensor(IMAGE_IDS)
    torch.manual_seed(1)
    model = TwoTowers(**HEADS[name])
    # DDP's reducer lives with the wrapper: keep it until after backward.
    wrapped = wrap(model)
    loss, image_feat, text_feat = wrapped(images[rows], texts[rows],
                                          ids[rows])
    loss.backward()
    return dict(
        loss=loss.detach(),
        image_grad=image_feat.grad,
        text_grad=text_feat.grad,
        params={n: p.grad
                for n, p in model.named_parameters()})


def _tiny_qwenclip(model_dir, state=None, **head_cfg):
    """The tiny config's QwenCLIP with a frozen LLM, in training mode.

    Args:
        model_dir (str): The tiny Qwen3 checkpoint.
        state (dict, optional): Weights to load; otherwise a fixed seed's.
        **head_cfg: Overrides of the contrastive head's config.
    """
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(CONFIG).model
    cfg.text_encoder.update(pretrained=model_dir, train_mode='frozen')
    cfg.head.update(head_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    if state is None:
        model.init_weights()
    else:
        model.load_state_dict(state)
    return model.train()


def _qwenclip_batch():
    images = torch.randn(
        len(IMAGE_IDS), 3, 64, 64, generator=torch.Generator().manual_seed(0))
    samples = [
        DataSample(text=text, image_id=image_id)
        for text, image_id in zip(CAPTIONS, IMAGE_IDS)
    ]
    return images, samples


def _trainable_grads(model):
    # FSDP inserts this prefix into the names of the modules it wraps.
    return {
        n.replace('_fsdp_wrapped_module.', ''): p.grad.clone()
        for n, p in model.named_parameters() if p.requires_grad
    }


def _parameters(module):
    return {
        n.replace('_fsdp_wrapped_module.', ''): p.detach().clone()
        for n, p in module.named_parameters()
    }


def _retrieval_inputs():
    """Features and retrieval-format samples of a NUM_TEST-image split."""
    g = torch.Generator().manual_seed(0)
    feats = {
        k: F.normalize(torch.randn(NUM_TEST, 16, generator=g), dim=1)
        for k in ('image_feat', 'text_feat')
    }
    samples = [
        DataSample(text=[f'caption {i}'], gt_text_id=[i], gt_image_id=[i])
        for i in range(NUM_TEST)
    ]
    return feats, samples


def _scores(predictions):
    return dict(
        scores=torch.stack([s.pred_score for s in predictions]),
        gts=[s.gt_label for s in predictions])


def _rank_results(rank, model_dir, state_path):
    """Everything the tests compare, computed on one of two ranks."""
    from mmengine.model.wrappers import MMFullyShardedDataParallel as FSDP
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODEL_WRAPPERS
    from mmpretrain.datasets import SequentialSampler

    import qwenclip_mm.engine.fsdp  # noqa: F401  (the wrap policy)

    state = torch.load(state_path)

    def qwenclip(**head_cfg):
        return _tiny_qwenclip(model_dir, state, **head_cfg)

    results = dict(towers={
        name: _towers_step(name, _rows(rank), DistributedDataParallel)
        for name in HEADS
    })

    images, samples = _qwenclip_batch()
    rows = _rows(rank)
    results['ddp'] = {}
    for name in ('full', 'local'):
        model = qwenclip(**HEADS[name])
        ddp = DistributedDataParallel(model)
        loss = ddp(images[rows], samples[rows], mode='loss')['loss']
        loss.backward()
        results['ddp'][name] = dict(
            loss=loss.detach(), grads=_trainable_grads(model))

    # Samples without an image_id are only their own positive: their
    # fallback ids must not collide with another rank's.
    model = qwenclip(**HEADS['full'])
    no_ids = [DataSample(text=s.text) for s in samples[rows]]
    with torch.no_grad():
        results['ddp']['no_ids'] = model(
            images[rows], no_ids, mode='loss')['loss']

    model = qwenclip(**HEADS['full'])
    wrapper = Config.fromfile(FSDP_STRATEGY).strategy.model_wrapper
    fsdp = MODEL_WRAPPERS.build(
        wrapper, default_args=dict(module=model, device_id='cpu'))
    llm = model.text_encoder.model
    fsdp_info = dict(
        units=sorted(
            type(unit.module).__name__ for unit in FSDP.fsdp_modules(fsdp)),
        # Outside forward, each original parameter views this rank's shard.
        llm_local_numel=sum(p.numel() for p in llm.parameters()),
        llm_trainable=any(p.requires_grad for p in llm.parameters()))
    loss = fsdp(images[rows], samples[rows], mode='loss')['loss']
    loss.backward()
    with FSDP.summon_full_params(fsdp, with_grads=True):
        fsdp_info.update(loss=loss.detach(), grads=_trainable_grads(model))
    # Clip the shards this rank holds, as FSDPOptimWrapper does.
    trainable = [p for p in model.parameters() if p.requires_grad]
    fsdp_info['clip_norm'] = sharded_clip_grad_norm_(trainable, CLIP_NORM)
    fsdp_info['torch_clip_norm'] = torch.nn.utils.clip_grad_norm_(
        [p.grad.clone() for p in trainable if p.grad is not None], 1e9)
    with FSDP.summon_full_params(fsdp, with_grads=True):
        fsdp_info['clipped_grads'] = _trainable_grads(model)
    # A step as in training: AdamW with weight decay over all parameters.
    build_optim_wrapper(
        fsdp,
        dict(optimizer=dict(type='AdamW', lr=1e-2,
                            weight_decay=0.05))).step()
    with FSDP.summon_full_params(fsdp):
        fsdp_info['llm_after_step'] = _parameters(llm)
        fsdp_info['soft_prompt_after_step'] = \
            model.prompt_learner.soft_prompt.detach().clone()
    results['fsdp'] = fsdp_info

    feats, samples = _retrieval_inputs()
    indices = list(
        SequentialSampler(
            dataset=range(NUM_TEST), subsample_type='sequential'))
    local_feats = {k: v[indices] for k, v in feats.items()}
    with torch.no_grad():
        i2t, t2i = model.predict_all(
            local_feats, [samples[i] for i in indices],
            num_images=NUM_TEST,
            num_texts=NUM_TEST)
    results['retrieval'] = dict(
        indices=indices, i2t=_scores(i2t), t2i=_scores(t2i))
    return results


def _worker(rank, port, out_dir, model_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=WORLD_SIZE)
    # Two ranks share the CPU cores.
    torch.set_num_threads(1)
    try:
        results = _rank_results(rank, model_dir,
                                osp.join(out_dir, 'state.pt'))
        torch.save(results, osp.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory, tiny_qwen3_dir):
    """Results of both ranks, and the tiny QwenCLIP weights they used."""
    model = _tiny_qwenclip(tiny_qwen3_dir)
    out_dir = str(tmp_path_factory.mktemp('two-ranks'))
    torch.save(model.state_dict(), osp.join(out_dir, 'state.pt'))
    mp.spawn(
        _worker,
        args=(_free_port(), out_dir, tiny_qwen3_dir),
        nprocs=WORLD_SIZE)
    ranks = [
        torch.load(osp.join(out_dir, f'rank{r}.pt'))
        for r in range(WORLD_SIZE)
    ]
    return ranks, model.state_dict()


@pytest.fixture
def reference_qwenclip(tiny_qwen3_dir, two_ranks):
    """One-process tiny QwenCLIP with the weights the ranks used."""

    def build(**head_cfg):
        return _tiny_qwenclip(tiny_qwen3_dir, two_ranks[1], **head_cfg)

    return build


def _assert_grads_close(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(
            actual[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize('name', list(HEADS))
def test_two_rank_gradients_equal_one_process(two_ranks, name):
    ranks = [r['towers'][name] for r in two_ranks[0]]
    single = _towers_step(name)

    losses = torch.stack([r['loss'] for r in ranks])
    if HEADS[name]['local_loss']:
        # Each rank's rows against the global batch; their mean is the loss.
        torch.testing.assert_close(losses.mean(), single['loss'])
    else:
        torch.testing.assert_close(losses, single['loss'].expand(2))

    for key in ('image_grad', 'text_grad'):
        gathered = torch.cat([r[key] for r in ranks])
        torch.testing.assert_close(gathered / WORLD_SIZE, single[key])

    # DDP left the same averaged gradient on both ranks.
    _assert_grads_close(ranks[0]['params'], single['params'])
    _assert_grads_close(ranks[1]['params'], single['params'])


def test_local_loss_needs_gather_with_grad():
    with pytest.raises(ValueError, match='needs head.gather_with_grad'):
        CLIPContrastiveHead(gather_with_grad=False, local_loss=True)


@pytest.mark.parametrize('name', ['full', 'local'])
def test_ddp_qwenclip_gradients_equal_one_process(two_ranks,
                                                  reference_qwenclip, name):
    model = reference_qwenclip(**HEADS[name])
    images, samples = _qwenclip_batch()
    loss = model(images, samples, mode='loss')['loss']
    loss.backward()
    expected = _trainable_grads(model)
    # The soft prompt's gradient went back through the frozen LLM.
    assert expected['prompt_learner.soft_prompt'].abs().sum() > 0

    ranks = [r['ddp'][name] for r in two_ranks[0]]
    if not HEADS[name]['local_loss']:
        torch.testing.assert_close(ranks[0]['loss'], loss.detach())
    for rank in ranks:
        _assert_grads_close(rank['grads'], expected)


def test_samples_without_image_id_stay_apart_across_ranks(
        two_ranks, reference_qwenclip):
    images, samples = _qwenclip_batch()
    no_ids = [DataSample(text=s.text) for s in samples]
    with torch.no_grad():
        loss = reference_qwenclip()(images, no_ids, mode='loss')['loss']
    for rank in two_ranks[0]:
        torch.testing.assert_close(rank['ddp']['no_ids'], loss)


def test_fsdp_shards_frozen_llm_and_matches_one_process(
        two_ranks, reference_qwenclip):
    fsdp = [r['fsdp'] for r in two_ranks[0]]
    # The root, the LLM, its embedding table and each decoder layer.
    assert fsdp[0]['units'] == [
        'Embedding', 'Qwen3DecoderLayer', 'Qwen3DecoderLayer', 'Qwen3Model',
        'QwenCLIP'
    ]
    model = reference_qwenclip(**HEADS['full'])
    llm_numel = sum(p.numel() for p in model.text_encoder.model.parameters())
    for rank in fsdp:
        assert not rank['llm_trainable']
        # Each rank holds about half of the LLM.
        assert rank['llm_local_numel'] <= llm_numel * 0.55

    images, samples = _qwenclip_batch()
    loss = model(images, samples, mode='loss')['loss']
    loss.backward()
    expected = _trainable_grads(model)
    for rank in fsdp:
        torch.testing.assert_close(rank['loss'], loss.detach())
        _assert_grads_close(rank['grads'], expected)

    # An optimizer step moved the soft prompt and left the LLM as loaded.
    llm = _parameters(model.text_encoder.model)
    for rank in fsdp:
        assert not torch.equal(rank['soft_prompt_after_step'],
                               model.prompt_learner.soft_prompt)
        assert rank['llm_after_step'].keys() == llm.keys()
        for name, value in llm.items():
            assert torch.equal(rank['llm_after_step'][name], value), name

    # Clipping the shards: every rank gets the norm of the whole gradient
    # (not of its own shard) and the whole gradient is scaled by it.
    norm = torch.linalg.vector_norm(
        torch.cat([grad.flatten() for grad in expected.values()]))
    assert norm > 100 * CLIP_NORM
    for rank in fsdp:
        torch.testing.assert_close(rank['clip_norm'], norm, rtol=1e-4, atol=0)
        assert abs(rank['torch_clip_norm'] - norm) > 1e-2 * norm
        for name, grad in expected.items():
            torch.testing.assert_close(
                rank['clipped_grads'][name],
                grad * (CLIP_NORM / (norm + 1e-6)),
                rtol=1e-4,
                atol=1e-10,
                msg=name)


def test_logit_scale_is_shardable_and_old_checkpoints_load():
    head = CLIPContrastiveHead(logit_scale_init=10.)
    # FSDP refuses 0-d parameters.
    assert head.logit_scale.shape == (1, )
    head.load_state_dict({'logit_scale': torch.tensor(math.log(20.))})
    assert head.get_logit_scale().dim() == 0
    assert head.get_logit_scale().item() == pytest.approx(20.)


def test_padded_retrieval_split_scores_like_one_process(
        two_ranks, reference_qwenclip):
    feats, samples = _retrieval_inputs()
    with torch.no_grad():
        i2t, t2i = reference_qwenclip().predict_all(feats, samples)
    expected = dict(i2t=_scores(i2t), t2i=_scores(t2i))

    ranks = [r['retrieval'] for r in two_ranks[0]]
    # SequentialSampler pads rank 1 with image 0 again.
    assert ranks[0]['indices'] == list(range(8))
    assert ranks[1]['indices'] == list(range(8, NUM_TEST)) + [0]
    for rank in ranks:
        for direction in ('i2t', 't2i'):
            got, want = rank[direction], expected[direction]
            # Galleries hold NUM_TEST items, without the repeated one.
            assert got['scores'].shape == (len(rank['indices']), NUM_TEST)
            torch.testing.assert_close(got['scores'],
                                       want['scores'][rank['indices']])
            assert got['gts'] == [want['gts'][i] for i in rank['indices']]


def test_fsdp_configs_build():
    from mmengine.registry import FUNCTIONS, RUNNERS, STRATEGIES
    from mmpretrain.registry import MODELS

    for path in FSDP_CONFIGS:
        cfg = Config.fromfile(path)
        assert RUNNERS.get(cfg.runner_type) is not None
        assert STRATEGIES.get(cfg.strategy.type) is not None
        policy = cfg.strategy.model_wrapper.auto_wrap_policy
        assert FUNCTIONS.get(policy.type) is not None
        assert MODELS.get(cfg.model.vision_backbone.type) is not None
        assert cfg.model.text_encoder.train_mode == 'frozen'
        # Clipping by the norm over all shards, as DDP would.
        assert cfg.optim_wrapper.type == 'FSDPAmpOptimWrapper'
        assert cfg.optim_wrapper.clip_grad == dict(max_norm=1.0)
    assert Config.fromfile(FSDP_CONFIGS[0]).model.text_encoder.pretrained \
        == 'Qwen/Qwen3-Embedding-4B'


# The real tools, two processes started by torchrun.


@pytest.fixture(scope='module')
def odd_split_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic-rocov2-odd'))
    make_synthetic_rocov2(root, num_train=48, num_valid=16, num_test=NUM_TEST)
    return root


def _torchrun(*args):
    return run_tool([
        '-m', 'torch.distributed.run', f'--nproc_per_node={WORLD_SIZE}',
        '--master_addr=127.0.0.1', f'--master_port={_free_port()}', *args,
        '--launcher', 'pytorch'
    ])


def _train_options(data_root, model_dir, cpu_options):
    # One epoch of three iterations of 2 x 8 pairs, then validation.
    return cfg_options(
        data_root,
        model_dir,
        epochs=1,
        extra=('train_dataloader.batch_size=8', 'param_scheduler.1.end=2',
               FROZEN_LLM, *cpu_options))


def _train_losses(log, key='loss'):
    return [
        float(m) for m in re.findall(
            r'Epoch\(train\) +\[1\]\[\d/3\].* ' + key + r': ([0-9.]+)',
            log)
    ]


@pytest.fixture(scope='module')
def ddp_run(odd_split_data, tiny_qwen3_dir, tmp_path_factory):
    """Train the tiny model one epoch under DDP through tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp('ddp') / 'work')
    # Clipping every step, so FSDP's must clip by the same global norm.
    result = _torchrun(
        'tools/train.py', CONFIG, '--work-dir', work_dir,
        *_train_options(
            odd_split_data, tiny_qwen3_dir,
            (*CPU_DDP, f'optim_wrapper.clip_grad.max_norm={CLIP_NORM}')))
    return work_dir, result.stdout + result.stderr


@pytest.fixture(scope='module')
def fsdp_run(odd_split_data, tiny_qwen3_dir, tmp_path_factory):
    """Train the tiny model one epoch under FSDP through tools/train.py."""
    tmp = tmp_path_factory.mktemp('fsdp')
    config = tmp / 'tiny_fsdp.py'
    config.write_text(
        f'_base_ = [{CONFIG!r}, {FSDP_STRATEGY!r}]\n'
        "custom_imports = dict(imports=['qwenclip_mm', "
        "'qwenclip_mm.engine.fsdp'], allow_failed_imports=False)\n"
        "optim_wrapper = dict(type='FSDPOptimWrapper', "
        f'clip_grad=dict(max_norm={CLIP_NORM}))\n')
    work_dir = str(tmp / 'work')
    result = _torchrun(
        'tools/train.py', str(config), '--work-dir', work_dir,
        *_train_options(odd_split_data, tiny_qwen3_dir, CPU_FSDP))
    return work_dir, result.stdout + result.stderr


def test_torchrun_ddp_train(ddp_run):
    work_dir, log = ddp_run
    assert 'Distributed training: True' in log
    assert len(_train_losses(log)) == 3
    assert 'Epoch(val) [1][1/1]' in log and 'mean_recall' in log
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))


def test_torchrun_fsdp_trains_like_ddp(ddp_run, fsdp_run):
    # Same seed, data and updates: only where the weights live differs.
    assert _train_losses(fsdp_run[1]) == pytest.approx(
        _train_losses(ddp_run[1]), abs=1e-3)
    # Both clipped every step by the norm of the whole gradient.
    norms = _train_losses(ddp_run[1], 'grad_norm')
    assert len(norms) == 3 and min(norms) > 10 * CLIP_NORM
    assert _train_losses(fsdp_run[1], 'grad_norm') == pytest.approx(
        norms, rel=1e-3)


def test_torchrun_fsdp_train_writes_plain_checkpoint(fsdp_run,
                                                     tiny_qwen3_dir):
    work_dir, log = fsdp_run
    assert 'Distributed training: True' in log and 'FSDPStrategy' in log
    assert len(_train_losses(log)) == 3
    assert 'Epoch(val) [1][1/1]' in log and 'mean_recall' in log

    state = torch.load(
        osp.join(work_dir, 'epoch_1.pth'), map_location='cpu')['state_dict']
    model = _tiny_qwenclip(tiny_qwen3_dir)
    # Gathered on rank 0 under the unwrapped model's names, without the
    # frozen LLM weights (`pretrained` restores them), like DDP's.
    assert not any('_fsdp' in name for name in state)
    assert model.state_dict().keys() == state.keys()
    assert not any(name.startswith('text_encoder.model.') for name in state)
    # So a reload takes the LLM from `pretrained`; that FSDP training leaves
    # it unchanged is checked in-process, in
    # test_fsdp_shards_frozen_llm_and_matches_one_process.
    assert not torch.equal(state['prompt_learner.soft_prompt'],
                           model.prompt_learner.soft_prompt)


def test_torchrun_test_equals_one_process(fsdp_run, odd_split_data,
                                          tiny_qwen3_dir, tmp_path):
    checkpoint = osp.join(fsdp_run[0], 'epoch_1.pth')
    options = cfg_options(
        odd_split_data,
        tiny_qwen3_dir,
        extra=('test_dataloader.batch_size=4', FROZEN_LLM))
    metrics = {}
    for processes in (1, WORLD_SIZE):
        out = str(tmp_path / f'metrics_{processes}.json')
        args = ('tools/test.py', CONFIG, checkpoint, '--work-dir',
                str(tmp_path / f'work_{processes}'), '--out', out, *options)
        if processes == 1:
            run_tool(list(args))
        else:
            _torchrun(*args, *CPU_DDP)
        with open(out) as f:
            metrics[processes] = json.load(f)
    assert metrics[1] == pytest.approx(metrics[WORLD_SIZE])
    assert metrics[1]['i2t/retrieval/Recall@10'] > 0
