"""build_retrieval_items: the training pairs and evaluation format every
data set shares."""
from hypothesis import given, settings
from hypothesis import strategies as st

from qwenclip_mm.datasets import build_retrieval_items


def images(n):
    return [dict(ori_id=f'img{i}') for i in range(n)]


def test_groups_are_transitive():
    # img0-img1 share "a", img1-img2 share "b": one group; img3 alone.
    captions = [['a'], ['a', 'b'], ['b', 'c'], ['d']]
    train, img_size, text_size = build_retrieval_items(
        images(4), captions, test_mode=False, merge_identical_texts=True)
    assert (img_size, text_size) == (4, 4)
    assert [(i['ori_id'], i['text'], i['image_id'], i['text_id'])
            for i in train] == [('img0', 'a', 0, 0), ('img1', 'a', 0, 0),
                                ('img1', 'b', 0, 1), ('img2', 'b', 0, 1),
                                ('img2', 'c', 0, 2), ('img3', 'd', 1, 3)]


def test_strict_format_matches_coco_retrieval():
    test, img_size, text_size = build_retrieval_items(
        images(2), [['x', 'x'], ['y']], test_mode=True)
    assert (img_size, text_size) == (2, 3)
    assert test == [
        dict(ori_id='img0', text=['x', 'x'], gt_text_id=[0, 1],
             gt_image_id=[0, 0], image_id=0),
        dict(ori_id='img1', text=['y'], gt_text_id=[2], gt_image_id=[1],
             image_id=1),
    ]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(captions=st.lists(
    st.lists(st.sampled_from('abcdef'), min_size=1, max_size=3),
    min_size=1,
    max_size=7),
       merge=st.booleans())
def test_invariants(captions, merge):
    """What RetrievalValLoop and the head rely on, for any input."""
    test, img_size, text_size = build_retrieval_items(
        images(len(captions)), captions, True, merge)
    gallery = [text for item in test for text in item['text']]
    assert img_size == len(captions) and text_size == len(gallery)
    if merge:
        assert sorted(set(gallery)) == sorted(gallery)
    for i, item in enumerate(test):
        assert item['image_id'] == i
        assert sorted(gallery[t] for t in item['gt_text_id']) == sorted(
            set(captions[i]) if merge else captions[i])
        assert len(item['gt_image_id']) == len(item['text'])
        for text, positives in zip(item['text'], item['gt_image_id']):
            expected = [j for j, c in enumerate(captions) if text in c]
            assert (positives == expected) if merge else (positives == i)

    train, _, _ = build_retrieval_items(
        images(len(captions)), captions, False, merge)
    assert [(i['ori_id'], i['text']) for i in train] == [
        (f'img{k}', text) for k, texts in enumerate(captions)
        for text in texts
    ]
    for a in train:
        for b in train:
            if a['text'] == b['text'] and merge:
                assert a['image_id'] == b['image_id']
                assert a['text_id'] == b['text_id']
            if not merge:
                assert (a['image_id'] == b['image_id']) == (
                    a['ori_id'] == b['ori_id'])
