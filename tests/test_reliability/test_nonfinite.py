"""NaN injection into real (in-process) training runs of the tiny config:
the default runtime's NonFiniteGuardHook stops with a message naming the
iteration and the loss term or parameter, or skips and counts the step.
Also with a dynamic loss scaler (AMP), on a toy model."""
import glob
from types import SimpleNamespace

import fault_hooks  # noqa: F401  (registers InjectNonFiniteHook)
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import BaseModel
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.runner import Runner
from utils import ITERS_PER_EPOCH, TINY_CONFIG, cfg_overrides, make_tiny_data

from qwenclip_mm.engine.hooks import NonFiniteGuardHook


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp('synthetic-rocov2'))


@pytest.fixture
def one_thread():
    """Tiny models train faster without threads on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_runner(tiny_data, tiny_qwen3_dir, tmp_path, one_thread):
    """A Runner for one epoch of the tiny config with a fault injected."""

    def make(inject, action='raise'):
        cfg = Config.fromfile(TINY_CONFIG)
        cfg.merge_from_dict(
            cfg_overrides(tiny_data, tiny_qwen3_dir, epochs=1))
        cfg.merge_from_dict({
            'default_hooks.nonfinite_guard.action': action,
            # Nothing to save or validate: the runner object is inspected.
            'default_hooks.checkpoint': None,
        })
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        # One epoch: the warm-up only (the cosine part starts at epoch 2).
        cfg.param_scheduler = cfg.param_scheduler[:1]
        cfg.custom_hooks = [dict(type='InjectNonFiniteHook', **inject)]
        cfg.work_dir = str(tmp_path / 'work')
        cfg.experiment_name = f'nonfinite-{tmp_path.name}'
        return Runner.from_cfg(cfg)

    return make


def all_finite(model):
    return all(torch.isfinite(p).all() for p in model.parameters())


def test_a_nan_loss_stops_training_naming_the_term(make_runner):
    runner = make_runner(dict(at_iter=2, target='loss'))
    with pytest.raises(FloatingPointError,
                       match=r"non-finite loss term 'loss' = nan at "
                       r'iteration 2 \(epoch 1\)'):
        runner.train()
    assert all_finite(runner.model)


def test_a_nan_gradient_stops_training_naming_the_parameter(make_runner):
    runner = make_runner(
        dict(at_iter=2, target='prompt_learner.soft_prompt'))
    # Gradient clipping then makes every gradient NaN; the guard still
    # names the one that went bad.
    with pytest.raises(FloatingPointError,
                       match=r'^non-finite gradient of '
                       r'prompt_learner\.soft_prompt at iteration 2 '
                       r'\(epoch 1\) \(before the optimizer step\)'):
        runner.train()
    assert all_finite(runner.model)


def test_skip_mode_drops_the_step_and_counts_it(make_runner):
    runner = make_runner(dict(at_iter=2, target='loss'), action='skip')
    runner.train()
    assert runner.iter == ITERS_PER_EPOCH
    assert all_finite(runner.model)
    assert runner.message_hub.get_info('skipped_steps') == 1
    # AdamW updated the weights at iterations 1 and 3 only.
    soft_prompt = runner.model.prompt_learner.soft_prompt
    assert runner.optim_wrapper.optimizer.state[soft_prompt]['step'] == \
        ITERS_PER_EPOCH - 1
    log_file, = glob.glob(f'{runner.work_dir}/*/*.log')
    with open(log_file) as f:
        log = f.read()
    assert ("Skipped the update of iteration 2 (epoch 1): non-finite loss "
            "term 'loss' = nan (1 skipped so far)") in log
    assert 'skipped_steps: 1' in log


def test_unknown_action_names_the_allowed_ones():
    with pytest.raises(ValueError,
                       match=r"action='ignore'.*\('raise', 'skip'\)"):
        NonFiniteGuardHook(action='ignore')


class Linear(BaseModel):
    """``loss = sum(w * x)``: a NaN in ``x`` makes the loss NaN."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))

    def forward(self, x, mode='loss'):
        return dict(loss=(self.w * x).sum())


class CPUAmpOptimWrapper(AmpOptimWrapper):
    """MMEngine's AmpOptimWrapper with torch's CPU GradScaler.

    MMEngine's constructor insists on CUDA; the scaling and the step are
    its own code.
    """

    def __init__(self, optimizer):
        OptimWrapper.__init__(self, optimizer=optimizer)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu')

    optim_context = OptimWrapper.optim_context


def test_with_a_loss_scaler_a_nan_loss_step_is_counted_as_skipped():
    model = Linear()
    wrapper = CPUAmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=1.))
    runner = SimpleNamespace(
        model=model,
        optim_wrapper=wrapper,
        message_hub=MessageHub.get_instance('nonfinite-amp-test'),
        logger=MMLogger.get_instance('nonfinite-amp-test'),
        epoch=0)
    guard = NonFiniteGuardHook(action='skip')
    guard.before_train(runner)
    scale = wrapper.loss_scaler.get_scale()
    for runner.iter, x in enumerate([1., float('nan'), 1.]):
        guard.before_train_iter(runner, runner.iter)
        before = model.w.detach().clone()
        model.train_step(dict(x=torch.full((3, ), x)), wrapper)
        guard.after_train_iter(runner, runner.iter)
        if runner.iter == 1:
            # The scaler found inf gradients and skipped the step itself.
            assert torch.equal(model.w, before)
            assert wrapper.loss_scaler.get_scale() < scale
    assert guard.skipped == 1
    assert runner.message_hub.get_info('skipped_steps') == 1
    assert torch.isfinite(model.w).all()
    assert not torch.equal(model.w, before)
