"""Checkpoint files: saves that fail halfway, truncated files, malicious
pickles.

A full disk is simulated with ``RLIMIT_FSIZE``: the kernel really stops the
write in the middle of the file (``EFBIG`` instead of ``ENOSPC``), and only
around the save under test.
"""
import contextlib
import os
import os.path as osp
import pickle
import resource
import signal

import numpy as np
import pytest
import torch
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, MMLogger
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

from qwenclip_mm.compat.tools import loader_with_named_errors
from qwenclip_mm.engine import atomic_write
from qwenclip_mm.engine.hooks import AtomicCheckpointHook

DISK_FULL = 'File too large'


@contextlib.contextmanager
def disk_full_after(nbytes):
    """Files of this process cannot grow past ``nbytes`` inside the block."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_atomic_write_keeps_the_old_file_when_the_disk_is_full(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    atomic_write(b'previous checkpoint', path)
    with disk_full_after(8), pytest.raises(OSError, match=DISK_FULL):
        atomic_write(b'a new checkpoint, longer than the disk allows', path)
    assert path.read_bytes() == b'previous checkpoint'
    assert os.listdir(tmp_path) == ['epoch_1.pth']
    atomic_write(b'new', path)
    assert path.read_bytes() == b'new'


class FakeRunner:
    """What CheckpointHook uses of a Runner; saves real checkpoint files.

    Args:
        work_dir (str): Where checkpoints and ``last_checkpoint`` go.
        fail (set[str]): Checkpoint names whose save hits a full disk.
    """

    def __init__(self, work_dir, fail=()):
        self.work_dir = str(work_dir)
        self.fail = set(fail)
        self.epoch = 0
        self.iter = 0
        self.max_epochs = 10
        self.logger = MMLogger.get_instance('checkpoint-files-test')
        self.message_hub = MessageHub.get_instance(
            f'checkpoint-files-test-{id(self)}')

    def save_checkpoint(self, out_dir, filename, file_client_args=None,
                        backend_args=None, meta=None, **kwargs):
        checkpoint = dict(
            meta=meta, state_dict=dict(w=torch.full((64, ), self.epoch)))
        with contextlib.ExitStack() as stack:
            if filename in self.fail:
                stack.enter_context(disk_full_after(200))
            # MMEngine's own function, as Runner.save_checkpoint calls it.
            save_checkpoint(
                checkpoint, osp.join(out_dir, filename),
                backend_args=backend_args)

    def end_epoch(self, hook, metrics=None):
        hook.after_train_epoch(self)
        self.epoch += 1
        self.iter += 3
        if metrics is not None:
            hook.after_val_epoch(self, metrics)


def checkpoint_epoch(path):
    return int(torch.load(path)['state_dict']['w'][0])


@pytest.mark.parametrize('hook_type', [AtomicCheckpointHook, CheckpointHook])
def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, hook_type):
    # max_keep_ckpts=1: MMEngine deletes the only checkpoint before saving.
    hook = hook_type(interval=1, max_keep_ckpts=1)
    runner = FakeRunner(tmp_path, fail={'epoch_3.pth'})
    hook.before_train(runner)
    runner.end_epoch(hook)
    runner.end_epoch(hook)
    assert sorted(os.listdir(tmp_path)) == ['epoch_2.pth', 'last_checkpoint']
    with pytest.raises(OSError, match=DISK_FULL):
        runner.end_epoch(hook)
    pointer = (tmp_path / 'last_checkpoint').read_text()
    if hook_type is CheckpointHook:
        # What MMEngine leaves: last_checkpoint points to a deleted file,
        # and the new checkpoint is truncated.
        assert sorted(os.listdir(tmp_path)) == [
            'epoch_3.pth', 'last_checkpoint'
        ]
        assert not osp.exists(pointer)
        with loader_with_named_errors(), pytest.raises(
                RuntimeError, match='truncated or corrupt'):
            _load_checkpoint(str(tmp_path / 'epoch_3.pth'))
        return
    assert sorted(os.listdir(tmp_path)) == ['epoch_2.pth', 'last_checkpoint']
    assert pointer == str(tmp_path / 'epoch_2.pth')
    assert checkpoint_epoch(pointer) == 1


def test_a_failed_best_save_keeps_the_previous_best(tmp_path):
    hook = AtomicCheckpointHook(
        interval=1, max_keep_ckpts=2, save_best='acc', rule='greater')
    runner = FakeRunner(tmp_path, fail={'best_acc_epoch_2.pth'})
    hook.before_train(runner)
    runner.end_epoch(hook, dict(acc=1.0))
    with pytest.raises(OSError, match=DISK_FULL):
        runner.end_epoch(hook, dict(acc=2.0))
    assert sorted(os.listdir(tmp_path)) == [
        'best_acc_epoch_1.pth', 'epoch_1.pth', 'epoch_2.pth',
        'last_checkpoint'
    ]
    assert checkpoint_epoch(tmp_path / 'best_acc_epoch_1.pth') == 1


@pytest.fixture
def mmengine_checkpoint(tmp_path):
    """A file with what Runner.save_checkpoint writes (numpy, log buffers)."""
    hub = MessageHub.get_instance('checkpoint-files-test-hub')
    hub.update_scalar('train/loss', 0.5)
    path = tmp_path / 'epoch_1.pth'
    torch.save(
        dict(
            meta=dict(epoch=1, seed=np.int64(42)),
            state_dict=dict(w=torch.randn(256)),
            message_hub=hub.state_dict()), path)
    return path


# Each cut fails differently inside torch (EOFError, "not a ZIP archive",
# "failed finding central directory", OSError).
@pytest.mark.parametrize('fraction', [0, 0.01, 0.5, 0.99])
def test_a_truncated_checkpoint_names_the_file(mmengine_checkpoint,
                                               fraction):
    data = mmengine_checkpoint.read_bytes()
    assert _load_checkpoint(str(mmengine_checkpoint))['meta']['epoch'] == 1
    size = int(len(data) * fraction)
    mmengine_checkpoint.write_bytes(data[:size])
    # As in tools/train.py and tools/test.py.
    with loader_with_named_errors(), pytest.raises(RuntimeError) as info:
        # What Runner.resume, Runner.load_checkpoint and load_from call.
        _load_checkpoint(str(mmengine_checkpoint))
    message = str(info.value)
    assert str(mmengine_checkpoint) in message
    assert f'({size} bytes) is truncated or corrupt' in message


def test_a_missing_checkpoint_names_the_file(tmp_path):
    with loader_with_named_errors(), pytest.raises(
            FileNotFoundError, match=str(tmp_path / 'nope.pth')):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


class Payload:
    """Pickles to ``os.system(command)``: runs it when unpickled."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


def test_a_malicious_checkpoint_is_refused_and_its_payload_never_runs(
        tmp_path):
    marker = tmp_path / 'payload-ran'
    evil = tmp_path / 'epoch_1.pth'
    torch.save(
        dict(
            meta=dict(epoch=1),
            state_dict=dict(w=torch.zeros(2)),
            message_hub=Payload(f'touch {marker}')), evil)
    with loader_with_named_errors(), pytest.raises(
            pickle.UnpicklingError) as info:
        _load_checkpoint(str(evil))
    message = str(info.value)
    assert f'refusing to load checkpoint {evil}' in message
    assert 'system' in message
    assert 'weights_only' not in message  # no advice to switch safety off
    assert not marker.exists()
