"""A checkpoint of the tiny config's model, for tests of inference tools."""
import torch
from utils import TINY_CONFIG

from qwenclip_mm.apis import load_model


def save_tiny_checkpoint(path, data_root, model_dir, seed=0):
    """Save the tiny config's model right after initialisation.

    Args:
        path (str): The checkpoint file to write (MMEngine's format).
        data_root (str): A synthetic ROCOv2 folder for the test split.
        model_dir (str): A tiny Qwen3 checkpoint folder.
        seed (int): Seed of the initialisation. Defaults to 0.

    Returns:
        tuple: The model (in eval mode) and the ``cfg_options`` it was built
        with, for :func:`qwenclip_mm.apis.load_model`.
    """
    options = {
        'model.text_encoder.pretrained': model_dir,
        'test_dataloader.dataset.data_root': data_root,
    }
    torch.manual_seed(seed)
    model = load_model(TINY_CONFIG, cfg_options=options)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return model, options
