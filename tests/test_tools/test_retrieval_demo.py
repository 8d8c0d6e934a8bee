"""End to end: tools/visualization/retrieval_demo.py on generated data and a
checkpoint of the tiny model."""
import importlib.util
import json
import os.path as osp
import urllib.parse
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from test_apis.tiny_checkpoint import save_tiny_checkpoint
from utils import TINY_CONFIG as CONFIG
from utils import REPO_ROOT, cfg_options, run_tool

from qwenclip_mm.apis import encode_image, encode_text, load_split
from qwenclip_mm.evaluation import best_positive_ranks, retrieval_recall
from qwenclip_mm.testing import make_synthetic_rocov2

TOOL = osp.join('tools', 'visualization', 'retrieval_demo.py')
GT_RGB = (0x1a, 0x96, 0x41)
NUM_TEST = 12


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory, tiny_qwen3_dir):
    root = tmp_path_factory.mktemp('demo')
    data = make_synthetic_rocov2(
        str(root / 'data'), num_train=2, num_valid=2, num_test=NUM_TEST)
    checkpoint = str(root / 'tiny.pth')
    model, _ = save_tiny_checkpoint(checkpoint, data['data_root'],
                                    tiny_qwen3_dir)
    split = load_split(model._config)
    image_feats = encode_image(model, split.image_paths)
    text_feats = encode_text(model, split.texts)
    gallery = range(NUM_TEST)
    return SimpleNamespace(
        checkpoint=checkpoint,
        args=cfg_options(data['data_root'], tiny_qwen3_dir),
        model=model,
        split=split,
        image_feats=image_feats,
        text_feats=text_feats,
        t2i_ranks=best_positive_ranks(text_feats @ image_feats.t(), gallery),
        i2t_ranks=best_positive_ranks(image_feats @ text_feats.t(), gallery))


class ResultsPage(HTMLParser):
    """Collects the queries of index.html with their hits, per section."""

    def __init__(self):
        super().__init__()
        self.sections = {}
        self.section = None
        self.images = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'h2':
            self.section = self.sections.setdefault(attrs['id'], [])
        elif tag == 'section':
            self.section.append(
                dict(
                    id=attrs['data-query-id'],
                    gt_rank=int(attrs['data-gt-rank']),
                    hits=[]))
        elif tag == 'li':
            self.section[-1]['hits'].append(
                dict(
                    id=attrs['data-id'],
                    score=float(attrs['data-score']),
                    gt='gt' in attrs['class'].split()))
        elif tag == 'img':
            self.images.append(attrs['src'])


def green_pixels(path):
    pixels = np.asarray(Image.open(path).convert('RGB')).astype(int)
    return int((np.abs(pixels - GT_RGB).sum(axis=2) < 30).sum())


def test_pngs_results_and_html(tiny_run, tmp_path):
    split = tiny_run.split
    # The split caption whose image ranks best, with K reaching it, so the
    # PNG has a ground truth to frame.
    best = int(tiny_run.t2i_ranks.argmin())
    topk = max(3, int(tiny_run.t2i_ranks[best]))
    external = str(tmp_path / 'external.png')
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(external)
    text_queries = [split.texts[best], 'CT head: small hyperdense lesion.']
    image_queries = [split.image_paths[2], external]
    out_dir = str(tmp_path / 'demo')
    run_tool([
        TOOL, CONFIG, tiny_run.checkpoint, '--out-dir', out_dir, '--topk',
        str(topk), '--html', '--text', *text_queries, '--image',
        *image_queries, *tiny_run.args
    ])

    with open(osp.join(out_dir, 'results.json'), encoding='utf-8') as f:
        results = json.load(f)
    assert results['topk'] == topk and results['split'] == 'test'
    query_feats = encode_text(tiny_run.model, text_queries)
    scores = query_feats @ tiny_run.image_feats.t()
    for query, answer, row in zip(text_queries, results['text_queries'],
                                  scores):
        assert answer['query'] == query
        assert len(answer['results']) == topk
        got = torch.tensor([r['score'] for r in answer['results']])
        torch.testing.assert_close(
            got, row.topk(topk).values, atol=1e-5, rtol=0)
        for r in answer['results']:
            assert r['image_path'] == \
                split.image_paths[split.image_ids.index(r['id'])]
            assert r['ground_truth'] == (r['id'] in answer['ground_truth'])
    known, free = results['text_queries']
    assert known['ground_truth'] == [split.image_ids[best]]
    assert known['ground_truth_rank'] == int(tiny_run.t2i_ranks[best])
    assert any(r['ground_truth'] for r in known['results'])
    assert free['ground_truth'] == [] and free['ground_truth_rank'] is None

    own, external_answer = results['image_queries']
    assert own['ground_truth'] == [split.text_ids[2]]
    assert own['ground_truth_rank'] == int(tiny_run.i2t_ranks[2])
    assert external_answer['ground_truth'] == []
    assert [r['text'] for r in own['results']] == \
        [split.texts[split.text_ids.index(r['id'])] for r in own['results']]

    # A row per query, K result columns (see the tool's figure sizes).
    text_png = Image.open(osp.join(out_dir, 'text_queries.png'))
    assert text_png.size == (round((2.0 * topk + 3.2) * 100), 2 * 250)
    image_png = Image.open(osp.join(out_dir, 'image_queries.png'))
    assert image_png.size == (round((2.6 * topk + 2.2) * 100), 2 * 280)
    assert green_pixels(osp.join(out_dir, 'text_queries.png')) > 100
    image_gt_shown = any(r['ground_truth'] for r in own['results'])
    assert (green_pixels(osp.join(out_dir, 'image_queries.png')) > 100) \
        == image_gt_shown

    page = ResultsPage()
    with open(osp.join(out_dir, 'index.html'), encoding='utf-8') as f:
        page.feed(f.read())
    for section, ids, ranks in (('t2i', split.text_ids, tiny_run.t2i_ranks),
                                ('i2t', split.image_ids, tiny_run.i2t_ranks)):
        queries = page.sections[section]
        assert [q['id'] for q in queries] == ids
        for query, rank in zip(queries, ranks.tolist()):
            assert len(query['hits']) == topk
            assert query['gt_rank'] == rank
            # One caption per image: the ground truth has the query's ID.
            assert [h['gt'] for h in query['hits']] == \
                [h['id'] == query['id'] for h in query['hits']]
            assert any(h['gt'] for h in query['hits']) == (rank <= topk)
    hit_scores = [h['score'] for h in page.sections['t2i'][best]['hits']]
    torch.testing.assert_close(
        torch.tensor(hit_scores),
        (tiny_run.text_feats[best] @ tiny_run.image_feats.t()).topk(
            topk).values,
        atol=1e-5,
        rtol=0)
    with open(osp.join(out_dir, 'index.html'), encoding='utf-8') as f:
        text = f.read()
    t2i = retrieval_recall(tiny_run.text_feats @ tiny_run.image_feats.t(),
                           range(NUM_TEST), topk=(1, topk))
    assert f"Recall@1 {t2i['Recall@1']:.1f}%" in text
    assert f'Recall@{topk} {t2i[f"Recall@{topk}"]:.1f}%' in text
    # Images: the hits of text queries and the image queries, linked
    # relative to the page.
    assert len(page.images) == NUM_TEST * topk + NUM_TEST
    for src in set(page.images):
        assert osp.isfile(osp.join(out_dir, urllib.parse.unquote(src)))


def test_needs_something_to_show(tiny_run, capsys):
    spec = importlib.util.spec_from_file_location(
        'retrieval_demo', osp.join(REPO_ROOT, TOOL))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(SystemExit):
        tool.parse_args([CONFIG, tiny_run.checkpoint, '--out-dir', 'x'])
    assert 'give --text queries, --image queries or --html' in \
        capsys.readouterr().err
