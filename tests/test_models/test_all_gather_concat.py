"""Gathering a retrieval gallery whose ranks hold different row counts."""
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from qwenclip_mm.models.qwenclip import all_gather_concat


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, port, rows, queue):
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=len(rows))
    data = torch.arange(rows[rank] * 2, dtype=torch.float).view(-1, 2)
    data += 100 * rank
    queue.put((rank, all_gather_concat(data).tolist()))
    dist.destroy_process_group()


def test_unequal_row_counts_gather_in_rank_order():
    rows = [3, 1]
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    mp.start_processes(
        _worker,
        args=(_free_port(), rows, queue),
        nprocs=len(rows),
        start_method='spawn')
    results = dict(queue.get() for _ in rows)
    expected = torch.cat([
        torch.arange(n * 2, dtype=torch.float).view(-1, 2) + 100 * r
        for r, n in enumerate(rows)
    ])
    for rank in range(len(rows)):
        torch.testing.assert_close(torch.tensor(results[rank]), expected)


def test_single_process_returns_the_input():
    data = torch.randn(4, 3)
    assert all_gather_concat(data) is data
