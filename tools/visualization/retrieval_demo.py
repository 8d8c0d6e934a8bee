"""Show what a QwenCLIP checkpoint retrieves from a data split.

Usage::

    python tools/visualization/retrieval_demo.py CONFIG CHECKPOINT \
        --out-dir DIR [--text QUERY ...] [--image PATH ...] [--html] \
        [--split test] [--topk 5] [--batch-size 32] [--text-batch-size 64] \
        [--device cuda] [--cfg-options k=v ...]

Writes to ``DIR``:

- ``text_queries.png`` for ``--text``: a row per query, its top-K images of
  the split with their scores and IDs;
- ``image_queries.png`` for ``--image``: a row per query image, its top-K
  captions of the split;
- ``results.json`` for ``--text`` / ``--image``: the same results as data;
- ``index.html`` for ``--html``: the whole split, every caption with its
  top-K images and every image with its top-K captions, the Recall@K of
  both directions, and each query's ground-truth rank. Images are linked by
  their relative path, not copied: open the page where it was written.

The ground truth (green) is known for split queries, and for a ``--text``
query that is exactly one of the split's captions or an ``--image`` query
that is one of its files.
"""
import argparse
import html
import json
import os
import os.path as osp
import textwrap
import urllib.parse
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import qwenclip_mm  # noqa: F401  (applies compatibility fixes first)
import numpy as np
import torch
# A Figure without pyplot renders with Agg and needs no display.
from matplotlib.figure import Figure
from PIL import Image

from qwenclip_mm.apis import (RetrievalSplit, add_split_arguments,
                              encode_image, encode_text, load_split_features,
                              search)
from qwenclip_mm.evaluation import best_positive_ranks, rank_metrics

GT_COLOR = '#1a9641'
#: Characters of a caption shown in a PNG cell; the HTML shows it all.
PNG_CAPTION_CHARS = 320


@dataclass
class QueryResult:
    """One query's top-K gallery items.

    Attributes:
        indices (list[int]): Gallery indices, best first.
        scores (list[float]): Their scores.
        gt (list[int]): Gallery indices of the ground truth; empty if unknown.
        gt_rank (int, optional): 1-based rank of the best ground-truth item
            in the whole gallery (ties ranked pessimistically).
    """
    indices: List[int]
    scores: List[float]
    gt: List[int] = field(default_factory=list)
    gt_rank: Optional[int] = None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Show top-K retrieval results of a checkpoint')
    parser.add_argument(
        '--out-dir', required=True, help='folder to write the results to')
    parser.add_argument(
        '--text', nargs='+', default=[], help='text queries: find images')
    parser.add_argument(
        '--image', nargs='+', default=[], help='query images: find captions')
    parser.add_argument(
        '--html',
        action='store_true',
        help='write index.html with the results of every caption and image '
        'of the split')
    parser.add_argument(
        '--topk', type=int, default=5, help='results per query (default: 5)')
    add_split_arguments(
        parser, split_help='data split to search (default: test)')
    args = parser.parse_args(argv)
    if not (args.text or args.image or args.html):
        parser.error('give --text queries, --image queries or --html')
    if args.topk < 1:
        parser.error(f'--topk must be >= 1, got {args.topk}')
    return args


def rank_queries(query_feats: torch.Tensor, gallery_feats: torch.Tensor,
                 topk: int, gts: Sequence[List[int]]) -> List[QueryResult]:
    """Top-K of every query, and the rank of its ground truth if known."""
    scores, indices = search(query_feats, gallery_feats, topk)
    results = [
        QueryResult(i.tolist(), s.tolist(), list(gt))
        for i, s, gt in zip(indices, scores, gts)
    ]
    known = [q for q, result in enumerate(results) if result.gt]
    # A chunk at a time: the full score matrix of a 10k split is 400 MB.
    for start in range(0, len(known), 1024):
        chunk = known[start:start + 1024]
        ranks = best_positive_ranks(query_feats[chunk] @ gallery_feats.t(),
                                    [results[q].gt for q in chunk])
        for q, rank in zip(chunk, ranks.tolist()):
            results[q].gt_rank = rank
    return results


def text_query_gt(split: RetrievalSplit,
                  queries: List[str]) -> List[List[int]]:
    """Ground-truth images of text queries that are captions of the split."""
    images = {}
    for text, gt in zip(split.texts, split.text_gt):
        images.setdefault(text, set()).update(gt)
    return [sorted(images.get(query.strip(), ())) for query in queries]


def image_query_gt(split: RetrievalSplit,
                   paths: List[str]) -> List[List[int]]:
    """Ground-truth captions of query images that are files of the split."""
    index = {osp.realpath(p): i for i, p in enumerate(split.image_paths)}
    return [
        split.image_gt[index[osp.realpath(path)]]
        if osp.realpath(path) in index else [] for path in paths
    ]


def read_rgb(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert('RGB'))


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters in the middle.

    Both ends are kept because long reports often state the findings last.
    """
    if len(text) <= limit:
        return text
    head = (limit - 3) * 2 // 5
    tail = limit - 3 - head
    # Cut at spaces, not inside words.
    return (text[:head].rsplit(' ', 1)[0] + ' … ' +
            text[-tail:].split(' ', 1)[-1])


def mark(ax, result: QueryResult, rank: int):
    """Title a result cell with its rank and score; frame ground truth."""
    is_gt = result.indices[rank] in result.gt
    ax.set_title(
        f'#{rank + 1}  {result.scores[rank]:.3f}' + ('  GT' if is_gt else ''),
        fontsize=8,
        color=GT_COLOR if is_gt else 'black',
        fontweight='bold' if is_gt else 'normal')
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor(GT_COLOR if is_gt else '#bbbbbb')
        spine.set_linewidth(3 if is_gt else 0.8)


def blank(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def gt_rank_text(result: QueryResult) -> str:
    if result.gt_rank is None:
        return 'ground truth unknown'
    return f'ground truth rank {result.gt_rank}'


def plot_text_queries(queries: List[str], results: List[QueryResult],
                      split: RetrievalSplit, topk: int, title: str,
                      out_file: str):
    """A row per text query: the query, then its top-K images."""
    fig = Figure(figsize=(2.0 * topk + 3.2, 2.5 * len(queries)))
    axes = fig.subplots(
        len(queries),
        topk + 1,
        squeeze=False,
        gridspec_kw=dict(width_ratios=[1.6] + [1] * topk))
    for row, (query, result) in enumerate(zip(queries, results)):
        ax = axes[row, 0]
        ax.axis('off')
        ax.text(
            0,
            1,
            f'Query {row + 1}\n' + textwrap.fill(short(query, 300), 30),
            va='top',
            fontsize=8,
            transform=ax.transAxes)
        ax.text(0, 0, gt_rank_text(result), fontsize=7, color='#555555',
                transform=ax.transAxes)
        for rank in range(topk):
            ax = axes[row, rank + 1]
            if rank >= len(result.indices):
                ax.axis('off')
                continue
            index = result.indices[rank]
            ax.imshow(read_rgb(split.image_paths[index]))
            blank(ax)
            mark(ax, result, rank)
            ax.set_xlabel(split.image_ids[index], fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)


def plot_image_queries(images: List[str], results: List[QueryResult],
                       split: RetrievalSplit, topk: int, title: str,
                       out_file: str):
    """A row per query image: the image, then its top-K captions."""
    fig = Figure(figsize=(2.6 * topk + 2.2, 2.8 * len(images)))
    axes = fig.subplots(
        len(images),
        topk + 1,
        squeeze=False,
        gridspec_kw=dict(width_ratios=[1] + [1.3] * topk))
    for row, (path, result) in enumerate(zip(images, results)):
        ax = axes[row, 0]
        ax.imshow(read_rgb(path))
        blank(ax)
        ax.set_title(f'Query {row + 1}', fontsize=8)
        ax.set_xlabel(
            short(osp.basename(path), 32) + '\n' + gt_rank_text(result),
            fontsize=6)
        for rank in range(topk):
            ax = axes[row, rank + 1]
            if rank >= len(result.indices):
                ax.axis('off')
                continue
            index = result.indices[rank]
            ax.text(
                0.04,
                0.96,
                textwrap.fill(short(split.texts[index], PNG_CAPTION_CHARS),
                              38),
                va='top',
                fontsize=6.5,
                transform=ax.transAxes)
            blank(ax)
            mark(ax, result, rank)
            ax.set_xlabel(split.text_ids[index], fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)


def results_json(queries: List[str], results: List[QueryResult],
                 ids: List[str], items: List[str], item_key: str) -> list:
    """Queries with their results as plain data for ``results.json``."""
    return [
        dict(
            query=query,
            ground_truth=[ids[i] for i in result.gt],
            ground_truth_rank=result.gt_rank,
            results=[
                dict(
                    rank=rank + 1,
                    id=ids[index],
                    score=score,
                    ground_truth=index in result.gt,
                    **{item_key: items[index]})
                for rank, (index, score) in enumerate(
                    zip(result.indices, result.scores))
            ]) for query, result in zip(queries, results)
    ]


HTML_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
.query { border-top: 1px solid #ccc; padding: .6em 0; display: flex;
         gap: 1em; }
.q { width: 22em; flex: none; font-size: .9em; }
.q img { width: 10em; }
.qid, .id { color: #666; font-size: .8em; }
ol.hits { display: flex; gap: .6em; list-style: none; margin: 0;
          padding: 0; }
li.hit { width: 10em; border: 2px solid #ddd; padding: .3em;
         font-size: .8em; }
li.hit img { width: 100%; }
li.gt { border: 4px solid """ + GT_COLOR + """; }
li.gt .score::after { content: "  ground truth"; color: """ + GT_COLOR + """;
                      font-weight: bold; }
.caption { max-height: 9em; overflow: auto; margin: .2em 0; }
.score { font-weight: bold; }
"""


def html_image(path: str, out_dir: str) -> str:
    src = urllib.parse.quote(
        osp.relpath(osp.abspath(path), osp.abspath(out_dir)).replace(
            os.sep, '/'))
    return f'<img src="{html.escape(src)}" loading="lazy" alt="">'


def split_metrics(results: List[QueryResult],
                  ks: List[int]) -> Dict[str, float]:
    """Recall@K and ranks over the queries whose ground truth is known."""
    ranks = [r.gt_rank for r in results if r.gt_rank is not None]
    return rank_metrics(torch.tensor(ranks), ks) if ranks else {}


def html_section(kind: str, title: str, queries: List[str],
                 query_ids: List[str], results: List[QueryResult],
                 gallery_ids: List[str], gallery_html: List[str],
                 metrics: Dict[str, float]) -> List[str]:
    """A section of the page: every query of one direction."""
    if metrics:
        recalls = [f'{k} {v:.1f}%' for k, v in metrics.items() if '@' in k]
        summary = ', '.join(recalls + [
            f"mean rank {metrics['mean_rank']:.1f}",
            f"median rank {metrics['median_rank']:g}"
        ])
    else:
        summary = 'no query has a known ground truth'
    lines = [f'<h2 id="{kind}">{html.escape(title)}</h2>',
             f'<p class="metrics">{html.escape(summary)}</p>']
    for query_html, query_id, result in zip(queries, query_ids, results):
        lines.append(
            f'<section class="query" data-query-id="{html.escape(query_id)}" '
            f'data-gt-rank="{result.gt_rank or ""}">')
        lines.append(f'<div class="q">{query_html}<br><span class="qid">'
                     f'{html.escape(query_id)} &middot; '
                     f'{gt_rank_text(result)}</span></div>')
        lines.append('<ol class="hits">')
        for index, score in zip(result.indices, result.scores):
            css = 'hit gt' if index in result.gt else 'hit'
            item_id = html.escape(gallery_ids[index])
            lines.append(
                f'<li class="{css}" data-id="{item_id}" data-score='
                f'"{score:.6f}"><span class="score">{score:.3f}</span> '
                f'<span class="id">{item_id}</span>{gallery_html[index]}</li>')
        lines.append('</ol></section>')
    return lines


def write_html(out_file: str, split: RetrievalSplit, split_name: str,
               t2i: List[QueryResult], i2t: List[QueryResult], topk: int,
               source: str):
    """Write the page of the whole split's results, both directions."""
    out_dir = osp.dirname(out_file)
    images_html = [html_image(p, out_dir) for p in split.image_paths]
    texts_html = [
        f'<p class="caption">{html.escape(t)}</p>' for t in split.texts
    ]
    ks = sorted({1, topk})
    lines = [
        '<!DOCTYPE html>', '<html><head><meta charset="utf-8">',
        f'<title>Retrieval: {html.escape(split_name)} split</title>',
        f'<style>{HTML_STYLE}</style></head><body>',
        f'<h1>Retrieval on the {html.escape(split_name)} split</h1>',
        f'<p>{html.escape(source)}<br>{len(split.image_paths)} images, '
        f'{len(split.texts)} captions; top {topk} per query, ground truth '
        'framed in green. <a href="#t2i">Text &rarr; image</a> &middot; '
        '<a href="#i2t">Image &rarr; text</a></p>'
    ]
    lines += html_section('t2i', 'Text → image', texts_html, split.text_ids,
                          t2i, split.image_ids, images_html,
                          split_metrics(t2i, ks))
    lines += html_section('i2t', 'Image → text', images_html, split.image_ids,
                          i2t, split.text_ids, texts_html,
                          split_metrics(i2t, ks))
    lines.append('</body></html>')
    with open(out_file, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    model, split, image_feats, text_feats = load_split_features(
        args,
        images=bool(args.text or args.html),
        texts=bool(args.image or args.html))
    source = f'{args.config}, {args.checkpoint}'
    written = []

    answers = {}
    if args.text:
        results = rank_queries(
            encode_text(model, args.text, args.text_batch_size), image_feats,
            args.topk, text_query_gt(split, args.text))
        out_file = osp.join(args.out_dir, 'text_queries.png')
        plot_text_queries(
            args.text, results, split, args.topk,
            f'Text → image, {args.split} split '
            f'({len(split.image_paths)} images)', out_file)
        written.append(out_file)
        answers['text_queries'] = results_json(args.text, results,
                                               split.image_ids,
                                               split.image_paths, 'image_path')
    if args.image:
        results = rank_queries(
            encode_image(model, args.image, args.batch_size), text_feats,
            args.topk, image_query_gt(split, args.image))
        out_file = osp.join(args.out_dir, 'image_queries.png')
        plot_image_queries(
            args.image, results, split, args.topk,
            f'Image → text, {args.split} split ({len(split.texts)} captions)',
            out_file)
        written.append(out_file)
        answers['image_queries'] = results_json(args.image, results,
                                                split.text_ids, split.texts,
                                                'text')
    if answers:
        out_file = osp.join(args.out_dir, 'results.json')
        with open(out_file, 'w', encoding='utf-8') as f:
            json.dump(
                dict(split=args.split, topk=args.topk, **answers),
                f,
                ensure_ascii=False,
                indent=1)
        written.append(out_file)
    if args.html:
        t2i = rank_queries(text_feats, image_feats, args.topk, split.text_gt)
        i2t = rank_queries(image_feats, text_feats, args.topk, split.image_gt)
        out_file = osp.join(args.out_dir, 'index.html')
        write_html(out_file, split, args.split, t2i, i2t, args.topk, source)
        written.append(out_file)
    print('wrote ' + ', '.join(written))


if __name__ == '__main__':
    main()
