"""Check an unzipped ROCOv2 download and print what it holds.

For every split: the number of captions, IDs or captions that
``ROCOv2Dataset`` would refuse (all of them, not only the first), missing
(and with ``--verify-images`` unreadable) images, images without a caption,
concept rows and CUIs without a name in ``cui_mapping.csv``, and caption
lengths:

- in CLIP tokens, as a LOWER BOUND: CLIP's BPE vocabulary is not available
  offline, so the script counts the pieces of CLIP's pre-tokenizer (runs of
  letters, single digits, runs of other symbols, after lower-casing) plus
  the start and end tokens. CLIP's BPE turns every piece into one or more
  tokens, so true counts are at least these, and the share over 77 is at
  least the one printed;
- in Qwen3 tokens, exactly, with ``--tokenizer`` (a local folder, or a hub
  id already in the local cache; nothing is downloaded), counting what the
  model's hybrid prompt reads of a caption: ``"\\nQuery:" + caption`` and
  the end token. Without ``--tokenizer`` these counts are skipped. The tiny
  demo tokenizer (``data/qwen3-tiny``) is a small BPE trained on synthetic
  text, not Qwen's vocabulary: its counts are higher than Qwen3's.

The exit status is 1 when a problem was found (including missing images),
else 0.

Example:
    python tools/dataset_converters/check_rocov2.py data/rocov2 \\
        --tokenizer ~/models/Qwen3-Embedding-0.6B
"""
import argparse
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from qwenclip_mm.datasets.annotations import (NUM_EXAMPLES, check_caption,
                                              check_key, find_bad_images,
                                              read_csv_records)
from qwenclip_mm.datasets.rocov2 import (CAPTION_COLUMNS, CONCEPT_COLUMNS,
                                         CUI_MAPPING_COLUMNS, SPLITS,
                                         find_rocov2_img_dir,
                                         rocov2_img_dir_candidates)

CLIP_CONTEXT = 77
#: CLIP's pre-tokenizer pattern (``[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+``)
#: in the ``re`` module's terms.
_CLIP_PIECES = re.compile(r'[^\W\d_]+|\d|(?:[^\s\w]|_)+')
#: What the hybrid prompt puts before a caption; it adds one end token.
QUERY_PREFIX = '\nQuery:'


def parse_args():
    parser = argparse.ArgumentParser(
        description='Check an unzipped ROCOv2 download: counts, missing '
        'images, empty captions, caption lengths.')
    parser.add_argument('data_root', help='the folder of the ROCOv2 files')
    parser.add_argument(
        '--splits', nargs='+', default=list(SPLITS), choices=SPLITS)
    parser.add_argument(
        '--tokenizer',
        help='a Qwen3 tokenizer folder, or a hub id in the local cache, to '
        'count Qwen3 tokens (never downloaded)')
    parser.add_argument(
        '--verify-images',
        action='store_true',
        help='also open every image and check it with PIL (slower)')
    return parser.parse_args()


def clip_token_lower_bound(text: str) -> int:
    """A lower bound on the CLIP tokens of ``text``, start and end included.
    """
    return len(_CLIP_PIECES.findall(text.lower())) + 2


def describe(lengths: Sequence[int], budgets: Sequence[int]) -> str:
    """Median, p90, p99, max and the share over each budget, in one line."""
    values = np.asarray(lengths)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    over = ', '.join(f'{np.mean(values > b):.1%} over {b}' for b in budgets)
    return (f'median {p50:.0f}, p90 {p90:.0f}, p99 {p99:.0f}, max '
            f'{values.max()}; {over}')


def examples(items: List[str]) -> str:
    shown = '; '.join(items[:NUM_EXAMPLES])
    more = f' (and {len(items) - NUM_EXAMPLES} more)' if len(
        items) > NUM_EXAMPLES else ''
    return shown + more


class Report:
    """Collects what is printed and whether anything was wrong."""

    def __init__(self):
        self.problems = 0

    def info(self, message: str):
        print(f'  {message}')

    def problem(self, message: str):
        self.problems += 1
        print(f'  PROBLEM: {message}')


def report_captions(path: str, report: Report) -> Dict[str, str]:
    """Return ID -> stripped caption of the rows ``ROCOv2Dataset`` accepts.
    """
    try:
        records = read_csv_records(path, CAPTION_COLUMNS)
    except (OSError, ValueError) as e:
        report.problem(str(e))
        return {}
    captions, first_line, bad = {}, {}, []
    for line, (ori_id, caption) in records:
        try:
            ori_id = check_key(path, line, ori_id, 'ID', first_line)
            captions[ori_id] = check_caption(path, line, caption, ori_id)
        except ValueError as e:
            bad.append(str(e).replace(f'{path}, ', ''))
    report.info(f'{len(records)} caption rows')
    if bad:
        report.problem(f'{len(bad)} rows ROCOv2Dataset refuses (empty or '
                       f'duplicate ID, empty caption): {examples(bad)}')
    return captions


def report_images(data_root: str, split: str, ids: List[str], verify: bool,
                  report: Report):
    """Report missing, unreadable and uncaptioned images of a split."""
    img_dir = find_rocov2_img_dir(data_root, split)
    if img_dir is None:
        looked = ' or '.join(rocov2_img_dir_candidates(data_root, split))
        report.problem(f'no image folder (looked for {looked}): all '
                       f'{len(ids)} images missing')
        return
    paths = [osp.join(img_dir, f'{ori_id}.jpg') for ori_id in ids]
    missing, unreadable = find_bad_images(paths, verify=verify)
    report.info(f'image folder {img_dir}: {len(ids) - len(missing)} of '
                f'{len(ids)} images found' +
                (', all verified with PIL' if verify else ''))
    if missing:
        report.problem(f'{len(missing)} images missing: '
                       f'{examples([osp.basename(p) for p in missing])}')
    if unreadable:
        report.problem(
            f'{len(unreadable)} images unreadable: '
            f'{examples([f"{p} ({why})" for p, why in unreadable])}')
    named = {f'{ori_id}.jpg' for ori_id in ids}
    extra = sorted(name for name in os.listdir(img_dir) if name not in named)
    if extra:
        report.info(f'{len(extra)} files in the folder have no caption row '
                    f'(ignored by ROCOv2Dataset): {examples(extra)}')


def report_concepts(path: str, ids: List[str],
                    cui_names: Optional[Dict[str, str]], report: Report):
    """Report the rows and CUIs of an optional concepts file."""
    name = osp.basename(path)
    if not osp.isfile(path):
        report.info(f'{name}: absent (optional)')
        return
    try:
        records = read_csv_records(path, CONCEPT_COLUMNS)
    except ValueError as e:
        report.problem(str(e))
        return
    known = set(ids)
    rows, first_line, bad = {}, {}, []
    for line, (ori_id, value) in records:
        try:
            rows[check_key(path, line, ori_id, 'ID', first_line)] = value
        except ValueError as e:
            bad.append(str(e).replace(f'{path}, ', ''))
    if bad:
        report.problem(f'{name}: {len(bad)} rows ROCOv2Dataset refuses: '
                       f'{examples(bad)}')
    empty = sum(not value.strip() for value in rows.values())
    orphans = [i for i in rows if i not in known]
    without = [i for i in ids if i not in rows]
    cuis = {c.strip() for v in rows.values() for c in v.split(';')} - {''}
    line = (f'{name}: {len(records)} rows, {empty} without CUIs, '
            f'{len(cuis)} distinct CUIs')
    if cui_names is not None:
        unnamed = sorted(cuis - set(cui_names))
        line += (f', {len(unnamed)} not in cui_mapping.csv' +
                 (f' ({examples(unnamed)})' if unnamed else ''))
    report.info(line)
    if orphans:
        report.info(f'{name}: {len(orphans)} rows for IDs without a caption '
                    f'(ignored): {examples(orphans)}')
    if without:
        report.info(f'{name}: {len(without)} captioned IDs have no row: '
                    f'{examples(without)}')


def load_tokenizer(name: str):
    from transformers import AutoTokenizer
    try:
        return AutoTokenizer.from_pretrained(
            osp.expanduser(name), local_files_only=True)
    except (OSError, ValueError) as e:
        sys.exit(f'cannot load the tokenizer {name!r} without a download '
                 f'({e}); pass a local folder')


def main():
    args = parse_args()
    tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer else None
    report = Report()
    print(f'ROCOv2 at {args.data_root}')
    mapping = osp.join(args.data_root, 'cui_mapping.csv')
    cui_names = None
    if osp.isfile(mapping):
        try:
            cui_names = {
                cui.strip(): name
                for _, (cui, name) in read_csv_records(mapping,
                                                       CUI_MAPPING_COLUMNS)
            }
            print(f'  cui_mapping.csv: {len(cui_names)} CUIs')
        except ValueError as e:
            report.problem(str(e))
    else:
        print('  cui_mapping.csv: absent (optional)')

    for split in args.splits:
        print(f'{split}:')
        path = osp.join(args.data_root, f'{split}_captions.csv')
        if not osp.isfile(path):
            report.problem(f'{path} not found')
            continue
        captions = report_captions(path, report)
        if not captions:
            continue
        ids = list(captions)
        report_images(args.data_root, split, ids, args.verify_images, report)
        for suffix in ('_concepts.csv', '_concepts_manual.csv'):
            report_concepts(
                osp.join(args.data_root, f'{split}{suffix}'), ids,
                cui_names, report)
        texts = list(captions.values())
        report.info('CLIP tokens, lower bound (pre-tokenizer pieces + start '
                    '+ end; BPE may split further): ' +
                    describe([clip_token_lower_bound(t) for t in texts],
                             [CLIP_CONTEXT]))
        if tokenizer is not None:
            ids_per_text = tokenizer(
                [QUERY_PREFIX + t for t in texts],
                add_special_tokens=False)['input_ids']
            report.info(
                f'Qwen3 tokens with {args.tokenizer} ("\\nQuery:" + caption '
                '+ end token, as the prompt reads it): ' +
                describe([len(i) + 1 for i in ids_per_text],
                         [CLIP_CONTEXT, 512]))
        else:
            report.info('Qwen3 tokens: skipped (pass --tokenizer)')
    print(f'{report.problems} problem(s) found')
    sys.exit(1 if report.problems else 0)


if __name__ == '__main__':
    main()
