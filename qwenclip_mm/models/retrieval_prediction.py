"""QwenCLIP's retrieval predictions: this rank's queries scored against
the gallery gathered from all ranks, as mmpretrain's retrieval loops and
metrics expect."""
import functools
import inspect
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_gather, get_world_size
from mmengine.structures import BaseDataElement
from mmpretrain.structures import DataSample


class RetrievalDataSample(DataSample):
    """The ``DataSample`` of one retrieval prediction.

    A ``DataSample`` in every respect (fields, methods, ``isinstance``);
    only :meth:`to_dict` is faster. MMEngine's ``Evaluator`` calls it on
    every query the retrieval loops score (20,000 per evaluation of a
    10,000-pair split), and the inherited version looks every field up on
    the class, a failed and therefore slow attribute lookup, to filter out
    the private fields behind properties; here the class's properties are
    collected once. The dict is the same.
    """

    def to_dict(self) -> dict:
        """Convert the sample to a dict, as ``BaseDataElement.to_dict``."""
        fields = self.__dict__
        out = {}
        for key in (*self._metainfo_fields,
                    *(self._data_fields - _private_keys(type(self)))):
            value = fields[key]
            out[key] = value.to_dict() if isinstance(
                value, BaseDataElement) else value
        return out


@functools.lru_cache(maxsize=None)
def _private_keys(cls) -> frozenset:
    """``'_' + name`` of each property of ``cls`` (e.g. ``_metainfo``): the
    fields ``BaseDataElement.keys`` leaves out, found once per class."""
    return frozenset(
        '_' + name for name in dir(cls)
        if isinstance(inspect.getattr_static(cls, name, None), property))


def retrieval_predictions(scores: torch.Tensor,
                          positives: Sequence,
                          texts: Optional[Sequence] = None
                          ) -> List[RetrievalDataSample]:
    """One :class:`RetrievalDataSample` per row of a score matrix.

    What ``predict_all`` hands to mmpretrain's retrieval loops: each
    sample's ``pred_score`` is a row (a view, not a copy) of ``scores``,
    ``pred_label`` the best gallery item and ``gt_label`` the positives as
    given (left unset where None).

    Args:
        scores (torch.Tensor): Scores of shape (queries, gallery).
        positives (Sequence): The positives of each query (gallery indices).
        texts (Sequence, optional): The ``text`` field of each sample.
            Defaults to None for every sample.
    """
    if texts is None:
        texts = [None] * len(scores)
    # One argmax over the matrix instead of one per row.
    labels = scores.argmax(dim=1, keepdim=True)
    samples = []
    for score, label, gt, text in zip(scores, labels, positives, texts):
        sample = RetrievalDataSample(text=text)
        sample.set_pred_score(score)
        sample.set_pred_label(label)
        if gt is not None:
            sample.gt_label = gt
        samples.append(sample)
    return samples


def all_gather_concat(data: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor from all ranks in rank order (no gradient).

    Ranks may hold different numbers of rows: a class-level text gallery
    (IRMA) lists each caption with one image only, so one rank can have more
    captions than another. Rows are padded to the largest count for the
    collective and trimmed again.
    """
    if get_world_size() == 1:
        return data
    counts = [
        int(c.item()) for c in all_gather(
            torch.tensor([data.size(0)], device=data.device))
    ]
    padded = data.new_zeros((max(counts), *data.shape[1:]))
    padded[:data.size(0)] = data
    parts = all_gather(padded)
    return torch.cat([part[:n] for part, n in zip(parts, counts)], dim=0)


def texts_of(data_samples: Sequence[DataSample]) -> List[str]:
    """Captions of a batch: one per sample in training, lists in retrieval."""
    texts = []
    for i, sample in enumerate(data_samples):
        text = sample.get('text')
        if isinstance(text, str):
            texts.append(text)
        elif isinstance(text, (list, tuple)):
            texts.extend(text)
        else:
            raise TypeError(f'data sample {i}: "text" must be a str or a '
                            f'list of str, got {type(text).__name__}')
    return texts


class RetrievalPredictionMixin:
    """:meth:`predict_all` for :class:`~qwenclip_mm.models.QwenCLIP`.

    The model provides ``encode_text_gallery`` and ``_deferred_autocast``
    (set by :class:`~qwenclip_mm.engine.SortedTextEvalHook`).
    """

    def predict_all(self,
                    feats: Dict[str, torch.Tensor],
                    data_samples: List[DataSample],
                    num_images: Optional[int] = None,
                    num_texts: Optional[int] = None,
                    cal_i2t: bool = True,
                    cal_t2i: bool = True) -> Tuple[List[DataSample], ...]:
        """Score this rank's queries against the whole gathered gallery.

        Args:
            feats (dict): ``image_feat`` and ``text_feat`` of this rank.
            data_samples (list[DataSample]): This rank's samples in
                retrieval format (``text`` list, ``gt_text_id``,
                ``gt_image_id``).
            num_images (int, optional): Size of the image gallery (drops the
                samples a distributed sampler repeated). Defaults to all.
            num_texts (int, optional): Size of the text gallery.
            cal_i2t (bool): Image-to-text predictions. Defaults to True.
            cal_t2i (bool): Text-to-image predictions. Defaults to True.

        Returns:
            tuple: ``(i2t_samples, t2i_samples)`` (those requested): new
            DataSamples with ``pred_score`` over the gallery and
            ``gt_label`` the gallery indices of the positives. The i2t
            samples also carry the query's ``image_feat`` and the input
            sample's metainfo (e.g. ``ori_id``, ``cuis``, ``code``), which
            :class:`~qwenclip_mm.evaluation.ImageToImageRetrievalMetric`
            reads.
        """
        image_feat = feats['image_feat']
        text_feat = feats.get('text_feat')
        if text_feat is None:
            # Deferred by SortedTextEvalHook, under the loop's autocast.
            enabled, dtype = self._deferred_autocast or (False, None)
            with torch.autocast(
                    image_feat.device.type, dtype=dtype, enabled=enabled):
                text_feat = self.encode_text_gallery(
                    texts_of(data_samples))
        results = []
        if cal_i2t:
            texts_all = all_gather_concat(text_feat)[:num_texts]
            i2t = retrieval_predictions(
                image_feat @ texts_all.t(),
                [sample.get('gt_text_id') for sample in data_samples],
                [sample.get('text') for sample in data_samples])
            for prediction, feat, sample in zip(i2t, image_feat,
                                                data_samples):
                # The image's own feature and pack-time meta keys (``cuis``,
                # ``code``, ...) let image-to-image metrics run in the loop.
                prediction.set_metainfo(sample.metainfo)
                prediction.image_feat = feat
            results.append(i2t)
        if cal_t2i:
            images_all = all_gather_concat(image_feat)[:num_images]
            scores = text_feat @ images_all.t()
            gts = []
            for sample in data_samples:
                texts = sample.get('text')
                texts = [texts] if isinstance(texts, str) else texts
                ids = sample.get('gt_image_id', [None] * len(texts))
                gts.extend(zip(texts, ids))
            texts, positives = zip(*gts) if gts else ((), ())
            results.append(retrieval_predictions(scores, positives, texts))
        return tuple(results)
