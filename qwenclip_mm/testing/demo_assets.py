"""The files the offline demo and the analysis tools train on."""
import os.path as osp

DEMO_DATA_DIR = 'data/synthetic-rocov2'
DEMO_MODEL_DIR = 'data/qwen3-tiny'


def ensure_demo_assets(data_dir: str = DEMO_DATA_DIR,
                       model_dir: str = DEMO_MODEL_DIR,
                       regenerate: bool = False) -> None:
    """Write the synthetic ROCOv2-layout data and the tiny Qwen3 if missing.

    Both are deterministic, so an existing copy is reused as it is.

    Args:
        data_dir (str): Folder of the synthetic data set.
        model_dir (str): Folder of the tiny Qwen3 checkpoint.
        regenerate (bool): Rewrite both even if present.
    """
    from .synthetic_rocov2 import make_synthetic_rocov2, synthetic_corpus
    from .tiny_qwen3 import make_tiny_qwen3
    if regenerate or not osp.isfile(osp.join(data_dir, 'cui_mapping.csv')):
        print(f'writing the synthetic ROCOv2-layout data set to {data_dir}')
        make_synthetic_rocov2(data_dir)
    if regenerate or not osp.isfile(osp.join(model_dir, 'config.json')):
        print(f'writing a tiny random Qwen3 checkpoint to {model_dir}')
        make_tiny_qwen3(model_dir, corpus=synthetic_corpus())
