"""A tiny, randomly initialised Qwen3 checkpoint with a real tokenizer.

Tests and the offline demo must exercise the code path that loads real
Qwen3-Embedding checkpoints (``AutoModel.from_pretrained`` and
``AutoTokenizer.from_pretrained`` on a folder, no ``trust_remote_code``)
without downloading anything. :func:`make_tiny_qwen3` writes such a folder in
well under a second: a byte-level BPE tokenizer trained on a small radiology
corpus with Qwen3's pre-tokenizer and added tokens, laid out like
Qwen3-Embedding's tokenizer files, next to a ``Qwen3Model`` of the requested
size.
"""
from typing import Optional, Sequence

from tokenizers import Tokenizer, pre_tokenizers, trainers
from tokenizers.models import BPE

from .qwen3_files import (QWEN3_ADDED_TOKENS, add_qwen3_special_tokens,
                          qwen3_tokenizer_pipeline, write_qwen3_checkpoint)

__all__ = ['QWEN3_ADDED_TOKENS', 'default_corpus', 'make_tiny_qwen3']

_SENTENCES = (
    'Instruct: Create a dense embedding that captures the medical findings '
    'for image retrieval\nQuery:',
    'Instruct: Given a radiology image caption, retrieve the matching image'
    '\nQuery:',
    'CT chest axial view showing a large ascending aortic aneurysm (*).',
    'Computed tomography (CT) shows a floating thrombus (white arrow).',
    'Digital subtraction angiography demonstrates active extravasation of '
    'contrast from the superior rectal artery.',
    'Chest radiograph shows a right upper lobe consolidation.',
    'Posteroanterior chest X-ray showing bilateral hilar lymphadenopathy.',
    'Anteroposterior chest X-ray depicting low lung volumes with bibasilar '
    'atelectasis.',
    'Lateral chest radiograph shows a small left pleural effusion.',
    'Axial T2-weighted MRI shows a hyperintense lesion in the right frontal '
    'lobe (arrow).',
    'Sagittal T1-weighted MRI of the lumbar spine shows disc herniation at '
    'L4–L5.',
    'Coronal STIR image demonstrating bone marrow oedema of the femoral head.',
    'Diffusion-weighted imaging shows restricted diffusion in the left '
    'middle cerebral artery territory.',
    'Apparent diffusion coefficient (ADC) map confirms true restricted '
    'diffusion.',
    'Non-contrast CT of the head shows an acute subdural haematoma with '
    'midline shift.',
    'Contrast-enhanced CT of the abdomen shows a hypodense liver lesion '
    'measuring 3.2 × 2.8 cm.',
    'CT abdomen and pelvis showing a 6.2 cm × 5.2 cm mass in the right '
    'hepatic lobe.',
    'Abdominal ultrasound shows gallstones with posterior acoustic shadowing.',
    'Transverse US image of the left ovary demonstrates the “string of '
    'pearls” sign.',
    'Transthoracic echocardiography shows a large pericardial effusion.',
    'TEE showing vegetations on the tricuspid valve: 3 × 1.5 cm. TEE: '
    'transesophageal echocardiography',
    'Coronary angiography reveals a 90% stenosis of the left anterior '
    'descending artery.',
    'Pulmonary CT angiography shows bilateral filling defects in the main '
    'pulmonary arteries (arrows).',
    'Mammography shows a spiculated mass in the upper outer quadrant of the '
    'left breast.',
    'PET-CT demonstrates increased FDG uptake in mediastinal lymph nodes '
    '(SUVmax 8.4).',
    'Bone scintigraphy shows multiple foci of increased tracer uptake '
    'consistent with metastases.',
    'Panoramic radiograph showing an impacted mandibular third molar.',
    'X-ray of the right wrist shows a displaced distal radius fracture.',
    'Anteroposterior radiograph of the pelvis shows a left femoral neck '
    'fracture.',
    'Radiograph of the knee shows joint space narrowing and osteophytes.',
    'MRI of the knee shows a tear of the posterior horn of the medial '
    'meniscus.',
    'Axial CT image from a delayed scan shows high-attenuation fluid in the '
    'pelvis.',
    'Follow-up CT 3 months after surgery shows no residual tumour.',
    'Preoperative CT scan showing a partial staghorn calculus in the left '
    'kidney.',
    'Magnetic resonance cholangiopancreatography shows a dilated common bile '
    'duct.',
    'Sagittal MRI view of the cervical spine shows cord compression at C5–C6.',
    'Brain MRI with gadolinium shows a ring-enhancing lesion with '
    'surrounding oedema.',
    'FLAIR images show periventricular white matter hyperintensities '
    '(Dawson’s fingers).',
    'CT of the chest in lung window shows ground-glass opacities in both '
    'lower lobes.',
    'High-resolution CT shows honeycombing and traction bronchiectasis.',
    'Chest CT shows a 12 mm solid pulmonary nodule in the right upper lobe.',
    'Doppler ultrasound shows no flow in the thrombosed popliteal vein.',
    'Renal ultrasound shows moderate hydronephrosis of the right kidney.',
    'Scrotal ultrasound shows a hypoechoic testicular mass with increased '
    'vascularity.',
    'Thyroid ultrasound shows a 1.8 cm hypoechoic nodule with '
    'microcalcifications.',
    'Barium swallow shows a smooth narrowing of the distal oesophagus.',
    'Fluoroscopic image during ERCP shows a filling defect in the common '
    'bile duct.',
    'Cerebral angiography shows an aneurysm of the anterior communicating '
    'artery.',
    'Coils are placed in the aneurysm sac with no residual filling.',
    'Post-operative radiograph shows the prosthesis in good position.',
    'Skull lateral radiograph.',
    'Mass-like lesion in the gastric antrum.',
    'Axial CECT image of the lower abdomen shows a mixed solid and cystic '
    'mass with calcifications.',
    'Enhanced MRI shows a well-defined lesion with a dose of 0.1 mmol/kg '
    'gadobutrol.',
    'The lesion measured 15 µm on histology and 2 mm on imaging.',
    'The scan was acquired at 37 °C with a 90° flip angle.',
    'The patient from Zürich had a Müller-type anomaly.',
    'Müller’s sign and Böhler’s angle were assessed on the radiograph.',
    'Images were provided by the Universitätsklinikum; see the caption '
    '“Figure 2”.',
    'T1 map, T2* map and proton-density images (α = 0.05, β = 0.2).',
    'No acute intracranial abnormality.',
    'No evidence of pneumothorax or pleural effusion.',
    'Heart size is within normal limits.',
    'The lungs are clear bilaterally.',
    'Small hiatal hernia is noted.',
    'Degenerative changes of the thoracic spine.',
    'Interval resolution of the previously seen consolidation.',
    'Findings are consistent with community-acquired pneumonia.',
    'Impression: findings suggestive of acute appendicitis.',
    'Impression: no radiographic evidence of fracture.',
)

# Words the compositional part of the corpus combines, so frequent radiology
# terms appear often enough to become single tokens.
_MODALITIES = ('CT', 'Computed tomography', 'MRI',
               'Magnetic resonance imaging', 'Ultrasound', 'Chest X-ray',
               'Radiograph', 'Angiography', 'Contrast-enhanced CT',
               'T2-weighted MRI', 'PET-CT', 'Fluoroscopy')
_REGIONS = ('brain', 'head', 'neck', 'chest', 'thorax', 'lung', 'heart',
            'abdomen', 'pelvis', 'liver', 'kidney', 'spine', 'knee', 'hip',
            'shoulder', 'breast', 'pancreas', 'spleen', 'bladder', 'prostate',
            'uterus', 'ovary', 'femur', 'mandible')
_FINDINGS = ('a well-defined mass', 'an irregular lesion', 'a cystic lesion',
             'multiple nodules', 'a large haematoma', 'free fluid',
             'calcifications', 'an abscess', 'a fracture', 'lymphadenopathy',
             'thickening of the wall', 'an enhancing tumour', 'oedema',
             'a foreign body', 'dilatation', 'a stenosis', 'an aneurysm',
             'a thrombus', 'metastases', 'no abnormality')
_VIEWS = ('axial', 'coronal', 'sagittal', 'oblique', 'longitudinal',
          'transverse')
_MARKERS = ('arrow', 'white arrow', 'red arrow', 'arrowheads', 'asterisk',
            'circle')


def default_corpus() -> list:
    """Return the built-in corpus of radiology caption-like lines.

    Hand-written sentences in the style of ROCOv2 captions (with the
    non-ASCII characters real captions contain: ``×``, ``–``, curly quotes,
    ``µ``, ``°``, umlauts) followed by sentences composed from modality,
    region, view, finding and marker lists, in a fixed order so training is
    reproducible.

    Returns:
        list[str]: A few hundred lines of text.
    """
    lines = list(_SENTENCES)
    for i, modality in enumerate(_MODALITIES):
        for j, region in enumerate(_REGIONS):
            finding = _FINDINGS[(i * 7 + j) % len(_FINDINGS)]
            view = _VIEWS[(i + j) % len(_VIEWS)]
            marker = _MARKERS[(i * 3 + j) % len(_MARKERS)]
            lines.append(f'{view.capitalize()} {modality} of the {region} '
                         f'shows {finding} ({marker}).')
    return lines


def _train_tokenizer(corpus: Sequence[str], vocab_size: int) -> Tokenizer:
    """Train a Qwen3-style byte-level BPE tokenizer on ``corpus``."""
    tokenizer = qwen3_tokenizer_pipeline(
        Tokenizer(
            BPE(unk_token=None,
                continuing_subword_prefix='',
                end_of_word_suffix='',
                fuse_unk=False,
                byte_fallback=False)))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(QWEN3_ADDED_TOKENS),
        # Pieces seen once would only memorise whole corpus words.
        min_frequency=2,
        show_progress=False,
        # All 256 byte symbols, so any UTF-8 text encodes without unknowns.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return add_qwen3_special_tokens(tokenizer)


def padded_vocab_rows(num_tokens: int) -> int:
    """Embedding rows for ``num_tokens`` tokens: rounded up to a multiple of
    64, as Qwen3 pads its embedding matrix."""
    return -(-num_tokens // 64) * 64


def make_tiny_qwen3(out_dir: str,
                    corpus: Optional[Sequence[str]] = None,
                    vocab_size: int = 2048,
                    hidden_size: int = 64,
                    num_layers: int = 2,
                    num_heads: int = 4,
                    num_kv_heads: int = 2,
                    intermediate_size: int = 128,
                    max_position_embeddings: int = 4096,
                    seed: int = 0) -> str:
    """Write a tiny random Qwen3 checkpoint with a trained tokenizer.

    The folder holds ``config.json`` and ``model.safetensors`` of a
    ``Qwen3Model`` and Qwen3-Embedding-style tokenizer files
    (``tokenizer.json``, ``tokenizer_config.json``, ``vocab.json``,
    ``merges.txt``), so ``AutoModel.from_pretrained(out_dir)`` and
    ``AutoTokenizer.from_pretrained(out_dir)`` load it exactly as they load
    Qwen3-Embedding, without ``trust_remote_code``. As in Qwen3-Embedding,
    the tokenizer appends ``<|endoftext|>`` to every text (also the pad
    token), its eos token is ``<|im_end|>`` and it pads on the left.

    The same arguments always give byte-identical files.

    Args:
        out_dir (str): Folder to write; created if missing, files in it
            overwritten.
        corpus (Sequence[str], optional): Texts to train the byte-level BPE
            on. Defaults to :func:`default_corpus`.
        vocab_size (int): Upper bound on the tokenizer's size, BPE tokens
            plus Qwen3's 26 added tokens; a small corpus may stop short of
            it. The model's vocabulary is the tokenizer's size rounded up to
            a multiple of 64, as Qwen3 pads its embedding matrix.
            Defaults to 2048.
        hidden_size (int): Hidden size. Defaults to 64.
        num_layers (int): Number of decoder layers. Defaults to 2.
        num_heads (int): Attention heads; must divide ``hidden_size``.
            Defaults to 4.
        num_kv_heads (int): Key/value heads (grouped-query attention); must
            divide ``num_heads``. Defaults to 2.
        intermediate_size (int): MLP width. Defaults to 128.
        max_position_embeddings (int): Longest sequence, also the
            tokenizer's ``model_max_length``. Defaults to 4096.
        seed (int): Seed of the weight initialisation. Defaults to 0.

    Returns:
        str: ``out_dir``.

    Examples:
        >>> from transformers import AutoModel, AutoTokenizer
        >>> folder = make_tiny_qwen3('/tmp/tiny_qwen3')
        >>> tokenizer = AutoTokenizer.from_pretrained(folder)
        >>> model = AutoModel.from_pretrained(folder)
        >>> type(model).__name__, model.config.hidden_size
        ('Qwen3Model', 64)
        >>> tokenizer.convert_ids_to_tokens(tokenizer('CT chest').input_ids)
        ['CT', 'Ġchest', '<|endoftext|>']
    """
    min_vocab = 256 + len(QWEN3_ADDED_TOKENS)
    if vocab_size < min_vocab:
        raise ValueError(f'vocab_size={vocab_size} is below {min_vocab}, the '
                         '256 byte symbols plus Qwen3\'s added tokens')
    corpus = default_corpus() if corpus is None else list(corpus)
    if not corpus:
        raise ValueError('corpus is empty; give at least one text')
    tokenizer = _train_tokenizer(corpus, vocab_size)
    return write_qwen3_checkpoint(
        out_dir,
        tokenizer,
        vocab_rows=padded_vocab_rows(tokenizer.get_vocab_size()),
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        seed=seed)
