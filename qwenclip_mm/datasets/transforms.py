"""Image loading that names the file it failed on."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageFromFileStrict(LoadImageFromFile):
    """``LoadImageFromFile`` whose every failure names the image's path.

    mmcv's ``LoadImageFromFile`` (2.1) reports a corrupt file in ways that
    do not help in the middle of an epoch over thousands of images: with
    the default ``cv2`` backend an empty file raises ``cv2.error``
    ``!buf.empty()`` with no path, other undecodable files fail an
    ``assert`` (skipped under ``python -O``, which then crashes later on
    ``None``); with the ``pillow`` backend ``OSError: image file is
    truncated`` or ``cannot identify image file <_io.BytesIO ...>``. This
    transform takes the same arguments and loads the same arrays, but every
    failure raises an ``OSError`` (``FileNotFoundError`` for a missing
    file) that starts with the path, keeping the original error as its
    cause. With ``ignore_empty=True`` a failure returns None, as in mmcv.

    To find every such file before training, build the data set with
    ``check_images=True``.
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image at ``results['img_path']``.

        Raises:
            FileNotFoundError: If the file does not exist.
            OSError: If the file cannot be read or decoded as an image.
        """
        path = results['img_path']
        try:
            # Under ``python -O`` mmcv's assert is gone and an undecodable
            # file fails on ``None.shape``, which lands here too.
            loaded = super().transform(results)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'{path}: image not found ({e})') from e
        except Exception as e:  # cv2, PIL and mmcv raise many types.
            if self.ignore_empty:
                return None
            raise OSError(f'{path}: cannot load the image '
                          f'({type(e).__name__}: {str(e).strip()})') from e
        return loaded
