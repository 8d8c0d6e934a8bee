"""tools/analysis_tools/token_parity.py counts token-identical captions."""
import csv
import importlib.util
import os.path as osp

from tricky_captions import TRICKY_CAPTIONS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'token_parity',
        osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'token_parity.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_counts_on_real_vocabulary(real_vocab_qwen3_dir, tmp_path, capsys):
    captions = [c for c in TRICKY_CAPTIONS if c.strip()]
    path = tmp_path / 'test_captions.csv'
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['ID', 'Caption'])
        for i, caption in enumerate(captions):
            writer.writerow([f'ROCOv2_2023_test_{i:06d}', caption])
    load_tool().main([str(path), '--pretrained', real_vocab_qwen3_dir])
    lines = capsys.readouterr().out.splitlines()
    n = len(captions)
    assert lines[-1] == (f'{n} of {n} captions token-identical to the '
                         'official recipe')
    # Tokenised apart, the captions that merge with ':' differ.
    apart = int(lines[-2].split(': ')[1].split(' of ')[0])
    assert apart < n - 5
