"""QwenCLIP's retrieval predictions: this rank's queries scored against
the gallery gathered from all ranks, as mmpretrain's retrieval loops and
metrics expect."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_gather, get_world_size
from mmpretrain.structures import DataSample


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
            scores = image_feat @ texts_all.t()
            i2t = []
            for row, feat, sample in zip(scores, image_feat, data_samples):
                prediction = self._prediction(
                    row, sample.get('gt_text_id'), text=sample.get('text'))
                # The image's own feature and pack-time meta keys (``cuis``,
                # ``code``, ...) let image-to-image metrics run in the loop.
                prediction.set_metainfo(sample.metainfo)
                prediction.image_feat = feat
                i2t.append(prediction)
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
            results.append([
                self._prediction(row, gt, text=text)
                for row, (text, gt) in zip(scores, gts)
            ])
        return tuple(results)

    @staticmethod
    def _prediction(score: torch.Tensor, gt, text=None) -> DataSample:
        sample = DataSample(text=text)
        sample.set_pred_score(score)
        sample.set_pred_label(score.argmax(keepdim=True))
        if gt is not None:
            sample.gt_label = gt
        return sample
