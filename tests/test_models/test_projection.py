import pytest
import torch

from qwenclip_mm.models import ImageProjection, TextProjection


@pytest.mark.parametrize('in_channels,hidden', [(1024, 1024), (2560, 1024),
                                                (4096, 2048)])
def test_mlp_hidden_width_follows_paper(in_channels, hidden):
    proj = TextProjection(in_channels, 512, mode='mlp')
    assert proj.proj[0].out_features == hidden
    assert proj(torch.randn(2, in_channels)).shape == (2, 512)


def test_linear_and_truncate():
    x = torch.randn(3, 64)
    assert TextProjection(64, 16, mode='linear')(x).shape == (3, 16)
    trunc = TextProjection(64, 16, mode='truncate')
    assert list(trunc.parameters()) == []
    torch.testing.assert_close(trunc(x), x[:, :16])


def test_bad_projection_configs():
    with pytest.raises(ValueError, match='cannot be made'):
        TextProjection(64, 128, mode='truncate')
    with pytest.raises(ValueError, match="mode='conv'"):
        TextProjection(64, 16, mode='conv')


def test_image_projection_accepts_backbone_outputs():
    proj = ImageProjection(8, 4)
    vec = torch.randn(2, 8)
    expected = vec @ proj.proj
    torch.testing.assert_close(proj((vec, )), expected)
    fmap = vec[:, :, None, None].expand(2, 8, 3, 3)
    torch.testing.assert_close(proj(fmap), expected)
    tokens = torch.stack([vec, torch.randn(2, 8)], dim=1)
    torch.testing.assert_close(proj(tokens), expected)
    with pytest.raises(ValueError, match='in_channels=8 but'):
        proj(torch.randn(2, 5))
