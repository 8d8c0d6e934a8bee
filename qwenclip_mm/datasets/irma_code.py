"""The IRMA code: parsing, hierarchy files and text.

The IRMA code (Lehmann et al., "The IRMA code for unique classification of
medical images", SPIE Medical Imaging 2003) classifies an image on four
axes, written ``TTTT-DDD-AAA-BBB``:

- T, technical: the imaging modality;
- D, directional: the body orientation (view);
- A, anatomical: the body region examined;
- B, biological: the biological system examined.

Each character refines the one before it (``1`` x-ray, ``11`` plain
radiography, ...) and ``0`` means unspecified from that level on. This
module turns a code into text axis by axis, from built-in labels of the top
levels or from a full code hierarchy file;
:class:`~qwenclip_mm.datasets.IRMADataset` reads the ImageCLEF 2009 files.
"""
import os.path as osp
import re
import string
from typing import Dict, NamedTuple, Optional

from .annotations import row_error

#: The four axes: field name, letter, number of characters.
AXES = (('technical', 'T', 4), ('directional', 'D', 3),
        ('anatomical', 'A', 3), ('biological', 'B', 3))
_AXIS_LETTERS = {letter: name for name, letter, _ in AXES}
_AXIS_LENGTHS = {letter: length for _, letter, length in AXES}
_CODE_RE = re.compile(
    r'([0-9a-z]{4})-([0-9a-z]{3})-([0-9a-z]{3})-([0-9a-z]{3})')

#: Built-in labels, per axis letter, of the levels we are sure of from the
#: published IRMA code definition. Deeper levels need a hierarchy file.
BUILTIN_LABELS: Dict[str, Dict[str, str]] = {
    'T': {
        '1': 'x-ray',
        '11': 'plain radiography',
        '12': 'fluoroscopy',
        '13': 'angiography',
        '2': 'sonography',
        '3': 'magnetic resonance (MR)',
        '4': 'nuclear medicine',
        '5': 'optical imaging',
        '6': 'biophysical procedure',
        '7': 'other modality',
        '8': 'secondary digitalization',
    },
    'D': {
        '1': 'coronal',
        '11': 'posteroanterior (PA)',
        '12': 'anteroposterior (AP)',
        '2': 'sagittal',
        '21': 'lateral, right-left',
        '22': 'lateral, left-right',
        '3': 'axial',
        '4': 'other orientation',
    },
    'A': {
        '1': 'whole body',
        '2': 'cranium',
        '3': 'spine',
        '4': 'upper extremity (arm)',
        '41': 'hand',
        '42': 'radiocarpal joint',
        '43': 'forearm',
        '44': 'elbow',
        '45': 'upper arm',
        '46': 'shoulder',
        '5': 'chest',
        '6': 'breast',
        '7': 'abdomen',
        '8': 'pelvis',
        '9': 'lower extremity (leg)',
        '91': 'foot',
        '92': 'ankle joint',
        '93': 'lower leg',
        '94': 'knee',
        '95': 'upper leg',
        '96': 'hip',
    },
    'B': {
        '1': 'cerebrospinal system',
        '2': 'cardiovascular system',
        '3': 'respiratory system',
        '4': 'gastrointestinal system',
        '5': 'uropoietic system',
        '6': 'reproductive system',
        '7': 'musculoskeletal system',
        '8': 'endocrine system',
        '9': 'immune system',
    },
}

DEFAULT_TEMPLATE = ('Modality: {technical}. Orientation: {directional}. '
                    'Body region: {anatomical}. System: {biological}.')
#: The fields a text template may use.
TEMPLATE_FIELDS = ('code', ) + tuple(name for name, _, _ in AXES)
UNSPECIFIED = 'unspecified'


class IRMACode(NamedTuple):
    """The four axes of an IRMA code, as strings of code characters."""
    technical: str
    directional: str
    anatomical: str
    biological: str

    def __str__(self) -> str:
        return '-'.join(self)


def parse_irma_code(code: str) -> IRMACode:
    """Split an IRMA code into its axes.

    Surrounding whitespace is ignored and letters are read in lower case
    (levels with more than nine children use ``a``-``z``).

    Args:
        code (str): A code such as ``'1121-120-200-700'``.

    Returns:
        IRMACode: The four axes.

    Raises:
        ValueError: If ``code`` is not ``TTTT-DDD-AAA-BBB`` with 4, 3, 3 and
            3 characters ``0-9``/``a-z``.
    """
    match = _CODE_RE.fullmatch(code.strip().lower())
    if match is None:
        raise ValueError(
            f'{code!r} is not an IRMA code: expected TTTT-DDD-AAA-BBB (4, 3, '
            '3 and 3 characters 0-9 or a-z), e.g. 1121-120-200-700')
    return IRMACode(*match.groups())


def load_irma_hierarchy(path: str) -> Dict[str, Dict[str, str]]:
    """Read an IRMA code hierarchy file.

    The format, line by line (UTF-8; surrounding spaces ignored):

    - blank lines and lines starting with ``#`` are ignored;
    - an axis header starts a section: its first word is the axis letter
      (``T``, ``D``, ``A``, ``B``, upper case, optionally followed by
      ``:``) or the axis name (``technical``, ``directional``,
      ``anatomical``, ``biological``, any case); the rest of the line is
      free text, e.g. ``T: technical code (imaging modality)``;
    - every other line is an entry ``[code] label``: the code prefix it
      names (1 to 4 characters for T, 1 to 3 for the others, ``0-9``/
      ``a-z``), then its label, e.g. ``[94] knee``. Entries of a prefix
      and its parents may come in any order; a missing parent is allowed.

    Example::

        # IRMA code hierarchy
        T: technical code
        [1] x-ray
        [11] plain radiography
        A: anatomical code
        [9] lower extremity (leg)
        [94] knee

    Args:
        path (str): The file.

    Returns:
        dict[str, dict[str, str]]: Per axis letter, code prefix -> label
        (axes without a section are empty).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For an entry before any header, a line that is neither
            header nor entry, a code too long or with other characters, an
            empty label, a code or axis given twice; the message names the
            file and line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: expected an IRMA code hierarchy file '
            '(axis headers such as "T: technical" and "[code] label" lines)')
    labels: Dict[str, Dict[str, str]] = {letter: {} for _, letter, _ in AXES}
    first_line: Dict[str, Dict[str, int]] = {letter: {} for letter in labels}
    axis_line: Dict[str, int] = {}
    names = {name: letter for name, letter, _ in AXES}
    axis = None
    try:
        with open(path, encoding='utf-8-sig') as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f'{path} is not UTF-8 text: {e}') from e
    for line, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith('#'):
            continue
        entry = re.fullmatch(r'\[([^\]]*)\]\s*(.*)', text)
        if entry is None:
            word = re.split(r'[\s:]', text, maxsplit=1)[0]
            letter = word if word in _AXIS_LETTERS else names.get(
                word.lower())
            if letter is None:
                raise row_error(
                    path, line, f'expected an axis header (T, D, A, B or '
                    f'technical, directional, anatomical, biological) or an '
                    f'entry "[code] label", got {text[:80]!r}')
            if letter in axis_line:
                raise row_error(
                    path, line, f'axis {letter} ({_AXIS_LETTERS[letter]}) '
                    f'already started on line {axis_line[letter]}; expected '
                    'one section per axis')
            axis_line[letter] = line
            axis = letter
            continue
        if axis is None:
            raise row_error(
                path, line, f'entry {text[:80]!r} before any axis header; '
                'expected a header such as "T: technical" first')
        code, label = entry.group(1).strip().lower(), entry.group(2).strip()
        length = _AXIS_LENGTHS[axis]
        if not re.fullmatch(rf'[0-9a-z]{{1,{length}}}', code):
            raise row_error(
                path, line, f'code {entry.group(1)!r} is not a prefix of a '
                f'{_AXIS_LETTERS[axis]} code: expected 1 to {length} '
                'characters 0-9 or a-z')
        if not label:
            raise row_error(path, line,
                            f'code [{code}] has no label; expected '
                            '"[code] label"')
        if code in first_line[axis]:
            raise row_error(
                path, line, f'duplicate {axis} code [{code}] (first on line '
                f'{first_line[axis][code]}); expected every code once')
        first_line[axis][code] = line
        labels[axis][code] = label
    return labels


def describe_irma_axis(letter: str,
                       value: str,
                       hierarchy: Optional[Dict[str, Dict[str, str]]] = None
                       ) -> str:
    """Describe one axis of a code, level by level.

    The description joins with ``', '`` the labels of the code's prefixes
    (``1``, ``11``, ``112``, ``1121``) up to the first ``0``, which means
    unspecified from there on. A prefix takes its label from ``hierarchy``,
    else from :data:`BUILTIN_LABELS`; a prefix with neither is skipped.

    Args:
        letter (str): The axis, ``'T'``, ``'D'``, ``'A'`` or ``'B'``.
        value (str): The axis's characters, e.g. ``'1121'``.
        hierarchy (dict, optional): From :func:`load_irma_hierarchy`.

    Returns:
        str: E.g. ``'x-ray, plain radiography'``; ``'unspecified'`` when the
        first character is ``0``; ``'{axis name} code {value}'`` when no
        level has a label.
    """
    specified = value.split('0', 1)[0]
    if not specified:
        return UNSPECIFIED
    given = (hierarchy or {}).get(letter, {})
    builtin = BUILTIN_LABELS[letter]
    labels = []
    for end in range(1, len(specified) + 1):
        prefix = specified[:end]
        label = given.get(prefix, builtin.get(prefix))
        if label is not None:
            labels.append(label)
    return ', '.join(labels) or f'{_AXIS_LETTERS[letter]} code {value}'


def check_template(template: str) -> str:
    """Return ``template`` if it only uses :data:`TEMPLATE_FIELDS`.

    Raises:
        ValueError: If it uses another field or is not a format string.
    """
    try:
        fields = [
            name for _, name, _, _ in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as e:
        raise ValueError(f'text_template {template!r} is not a format '
                         f'string: {e}') from e
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown:
        raise ValueError(
            f'text_template {template!r} uses {{{unknown[0]}}}; expected '
            f'only the fields {", ".join(TEMPLATE_FIELDS)}')
    try:
        # Format specs and conversions fail only when applied.
        template.format(**dict.fromkeys(TEMPLATE_FIELDS, ''))
    except ValueError as e:
        raise ValueError(f'text_template {template!r} cannot be applied to '
                         f'text fields: {e}') from e
    return template


def irma_code_to_text(code: str,
                      hierarchy: Optional[Dict[str, Dict[str, str]]] = None,
                      template: str = DEFAULT_TEMPLATE) -> str:
    """Describe an IRMA code in words, axis by axis.

    Args:
        code (str): An IRMA code, e.g. ``'1121-120-942-700'``.
        hierarchy (dict, optional): From :func:`load_irma_hierarchy`;
            without it the built-in top-level labels are used.
        template (str): A ``str.format`` template with the fields
            ``technical``, ``directional``, ``anatomical``, ``biological``
            (each axis's description) and ``code`` (the normalised code).
            Defaults to :data:`DEFAULT_TEMPLATE`.

    Returns:
        str: E.g. ``'Modality: x-ray, plain radiography. Orientation:
        coronal, anteroposterior (AP). Body region: lower extremity (leg),
        knee. System: musculoskeletal system.'`` for
        ``'1121-120-942-700'`` without a hierarchy.

    Raises:
        ValueError: If ``code`` is not an IRMA code.
    """
    parsed = parse_irma_code(code)
    fields = {
        name: describe_irma_axis(letter, value, hierarchy)
        for (name, letter, _), value in zip(AXES, parsed)
    }
    return check_template(template).format(code=str(parsed), **fields)
