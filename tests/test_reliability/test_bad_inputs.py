"""Model folders and settings that must be refused at build time, with a
message naming the key (or file) and what is expected.

Environment faults (pycocotools installed, setuptools without
pkg_resources) are tested in tests/test_compat/.
"""
import json
import shutil

import pytest

MARKER = 'remote-code-ran'


@pytest.fixture
def remote_code_folder(tiny_qwen3_dir, tmp_path):
    """A copy of the tiny Qwen3 folder that ships its own Python code.

    The code would create a marker file if it ever ran.
    """

    def make(config_changes, tokenizer_changes=None):
        folder = tmp_path / 'model'
        shutil.copytree(tiny_qwen3_dir, folder)
        (folder / 'modeling_evil.py').write_text(
            f'open({str(tmp_path / MARKER)!r}, "w").close()\n'
            'from transformers import Qwen3Config as EvilConfig\n'
            'from transformers import Qwen3Model as EvilModel\n')
        for name, changes in (('config.json', config_changes),
                              ('tokenizer_config.json', tokenizer_changes)):
            if changes:
                data = json.loads((folder / name).read_text())
                data.update(changes)
                (folder / name).write_text(json.dumps(data))
        return str(folder)

    return make


AUTO_MAP = {
    'AutoConfig': 'modeling_evil.EvilConfig',
    'AutoModel': 'modeling_evil.EvilModel'
}


@pytest.mark.parametrize('config, tokenizer, reason', [
    (dict(auto_map=AUTO_MAP), None, 'config.json has "auto_map"'),
    (dict(auto_map=AUTO_MAP, model_type='evil'), None,
     "config.json has model_type='evil', which transformers has no "
     'built-in class for'),
    (None, dict(auto_map=dict(AutoTokenizer=['modeling_evil.Tok', None])),
     'tokenizer_config.json has "auto_map"'),
])
def test_a_folder_that_needs_remote_code_is_refused(
        remote_code_folder, build_tiny_model, tmp_path, config, tokenizer,
        reason):
    folder = remote_code_folder(config, tokenizer)
    with pytest.raises(ValueError) as info:
        build_tiny_model(text_encoder=dict(pretrained=folder))
    message = str(info.value)
    assert f'text_encoder.pretrained={folder!r} asks for its own' in message
    assert reason in message
    assert 'trust_remote_code=False' in message
    assert not (tmp_path / MARKER).exists()


@pytest.mark.parametrize('overrides, error, fragments', [
    (dict(text_encoder=dict(pretrained='/no/such/model')), FileNotFoundError,
     ["text_encoder.pretrained='/no/such/model': no such folder"]),
    (dict(text_encoder=dict(dtype='int8')), ValueError,
     ["text_encoder.dtype='int8'", "'bfloat16'", "'float32'", '"auto"']),
    (dict(text_encoder=dict(train_mode='partial')), ValueError,
     ["text_encoder.train_mode='partial'", "('frozen', 'lora', 'full')"]),
    (dict(text_encoder=dict(train_mode='lora')), ValueError,
     ['text_encoder.lora_cfg is required', "train_mode='lora'"]),
    (dict(text_encoder=dict(max_length=8)), ValueError,
     ['text_encoder.max_length=8 leaves no room', 'expected max_length >']),
    (dict(text_projection=dict(mode='truncate', out_channels=4096)),
     ValueError, [
         'text_projection.out_channels=4096', "mode='truncate'",
         'expected out_channels <='
     ]),
    (dict(text_projection=dict(mode='pool')), ValueError,
     ["text_projection.mode='pool'", 'expected one of']),
])
def test_bad_settings_name_the_key_and_what_is_expected(
        build_tiny_model, overrides, error, fragments):
    with pytest.raises(error) as info:
        build_tiny_model(**overrides)
    for fragment in fragments:
        assert fragment in str(info.value)
