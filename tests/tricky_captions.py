"""Captions whose first characters, spacing or Unicode test a tokenizer.

With Qwen's BPE, most of these merge with the ``':'`` of ``'\\nQuery:'``
(``:C``, ``:The``, ``:"``, ``:S``, ``:M``, ``:(``, ``:[``, ...), and some
change under NFC normalisation or carry no letters at all.
"""

TRICKY_CAPTIONS = (
    'Chest X-ray showing bilateral hilar lymphadenopathy.',
    'The lesion measured 15 µm on histology and 2 mm on imaging.',
    '"Double bubble" sign on the abdominal radiograph.',
    'Sagittal T1-weighted MRI of the lumbar spine.',
    'MRI of the knee shows a tear of the posterior horn.',
    '(A) Axial CT; (B) coronal reconstruction.',
    '[Left] pre-operative, [right] post-operative radiograph.',
    '3D volume rendering of the aortic arch.',
    '18F-FDG PET-CT demonstrates increased uptake.',
    ' Leading space before the caption.',
    '  Two leading spaces and a trailing one ',
    '\nA caption that starts with a newline.',
    '\tTabbed caption.',
    ':colon first',
    '::double colon',
    "'s quoted possessive start",
    '-Hyphen first',
    '* Asterisk bullet',
    '“Curly quotes” around a sign — Dawson’s fingers.',
    'Müller’s sign and Böhler’s angle (α = 0.05, β = 0.2).',
    # NFD input: NFC composes "e" + combining acute into "é".
    'Cafe\u0301 au lait spots; nai\u0308ve lesion.',
    '日本語のキャプション：胸部X線写真',
    'Emoji-laden 🙂 caption 🫁 with a lung.',
    'Ω-shaped loop ×3 at 37 °C, ≥ 90%.',
    '',
    '12',
    '.',
    'x',
    'A' * 300,
    'CT ' * 200 + 'shows a nodule at the very end.',
)
