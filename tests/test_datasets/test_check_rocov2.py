"""tools/dataset_converters/check_rocov2.py on generated and real files."""
import importlib.util
import os
import os.path as osp
import shutil
import sys

import pytest

from qwenclip_mm.testing import make_synthetic_rocov2
from utils import rocov2_text_dir

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                  'check_rocov2.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('check_rocov2', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(tool, monkeypatch, capsys, *args):
    """Run the script's main in this process; return (status, stdout)."""
    monkeypatch.setattr(sys, 'argv', [SCRIPT, *args])
    with pytest.raises(SystemExit) as e:
        tool.main()
    return e.value.code, capsys.readouterr().out


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('rocov2'))
    make_synthetic_rocov2(
        root, num_train=12, num_valid=4, num_test=4, img_size=16)
    return root


def test_clean_download(tool, synthetic, tiny_qwen3_dir, monkeypatch,
                        capsys):
    status, out = run(tool, monkeypatch, capsys, synthetic, '--tokenizer',
                      tiny_qwen3_dir, '--verify-images')
    assert status == 0, out
    assert '12 caption rows' in out and '4 caption rows' in out
    assert f'image folder {synthetic}/train: 12 of 12 images found, all ' \
        'verified with PIL' in out
    assert 'train_concepts_manual.csv: 12 rows' in out
    assert 'CLIP tokens, lower bound' in out
    assert f'Qwen3 tokens with {tiny_qwen3_dir} ("\\nQuery:" + caption' in out
    assert out.count('% over 77, ') == 3  # Qwen3: over 77 and over 512
    assert out.rstrip().endswith('0 problem(s) found')


def test_problems_are_all_listed(tool, synthetic, tmp_path, monkeypatch,
                                 capsys):
    root = tmp_path / 'broken'
    shutil.copytree(synthetic, root)
    with open(root / 'valid_captions.csv', 'a', encoding='utf-8',
              newline='') as f:
        f.write('ROCOv2_X_1, \r\nROCOv2_X_2,\r\nROCOv2_X_2,again\r\n')
    ids = sorted(os.listdir(root / 'train'))
    for name in ids[:6]:
        os.remove(root / 'train' / name)
    (root / 'train' / ids[6]).write_bytes(b'broken')
    (root / 'train' / 'stray.jpg').write_bytes(b'')
    status, out = run(tool, monkeypatch, capsys, str(root), '--splits',
                      'train', 'valid', '--verify-images')
    assert status == 1
    assert 'PROBLEM: 6 images missing: ' in out
    assert '(and 1 more)' in out
    assert f'PROBLEM: 1 images unreadable: {root}/train/{ids[6]}' in out
    assert '1 files in the folder have no caption row' in out
    assert ("PROBLEM: 3 rows ROCOv2Dataset refuses (empty or duplicate ID, "
            "empty caption): line 6: the caption of 'ROCOv2_X_1' is empty"
            in out)
    assert "line 8: duplicate ID 'ROCOv2_X_2' (first on line 7)" in out
    assert 'Qwen3 tokens: skipped (pass --tokenizer)' in out
    assert out.rstrip().endswith('3 problem(s) found')


def test_clip_lower_bound(tool):
    # ct, chest, 3, ., 5, cm, (", x, "), plus start and end: digits are
    # pieces of their own, runs of symbols one piece, as in CLIP.
    assert tool.clip_token_lower_bound('CT chest 3.5 cm ("x")') == 11


def test_real_text_files_without_images(tool, monkeypatch, capsys):
    status, out = run(tool, monkeypatch, capsys, rocov2_text_dir(), '--splits',
                      'test')
    assert status == 1
    assert '9927 caption rows' in out
    assert 'PROBLEM: no image folder' in out
    assert 'all 9927 images missing' in out
    assert '13 not in cui_mapping.csv' in out
    assert 'test_concepts_manual.csv: 9927 rows, 105 without CUIs' in out
