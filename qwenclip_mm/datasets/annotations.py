"""Reading and checking annotation files and the images they name.

Every data set of this package reads its files through these functions, so
the same problem gets the same error everywhere: a ``ValueError`` (or
``FileNotFoundError``) whose message starts with the file and the line and
says what was expected. Data sets call them at construction, so bad files
fail before training starts, never as a bare ``KeyError`` mid-epoch.
"""
import csv
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image

#: Delimiters tried when a header lacks the expected columns, to tell the
#: user which one the file really uses.
_OTHER_DELIMITERS = (',', ';', '\t', '|')
#: How many examples an error or report shows of a long list.
NUM_EXAMPLES = 5


def row_error(path: str, line: int, message: str) -> ValueError:
    """Return the error for a problem at one line of an annotation file."""
    return ValueError(f'{path}, line {line}: {message}')


def _delimiter_hint(header_line: str, delimiter: str,
                    columns: Sequence[str]) -> str:
    """Say which other delimiter would give the header all ``columns``."""
    for other in _OTHER_DELIMITERS:
        if other == delimiter:
            continue
        names = [name.strip() for name in header_line.split(other)]
        if all(c in names for c in columns):
            return (f'; the file looks {other!r}-separated, pass '
                    f'delimiter={other!r} (got delimiter={delimiter!r})')
    return ''


def read_csv_records(path: str,
                     columns: Sequence[str],
                     delimiter: str = ',') -> List[Tuple[int, List[str]]]:
    """Read a delimited text file with a header, checking its structure.

    Real exports have Windows line endings, quoted fields holding the
    delimiter, ``""`` and line breaks, and may lack a final newline or
    start with a byte-order mark; the csv module with ``newline=''`` reads
    all of that exactly. It reads in strict mode, as otherwise an unclosed
    quote would silently swallow the rest of the file into one field.
    Blank lines are skipped.

    Args:
        path (str): The file.
        columns (Sequence[str]): The column names the header must contain
            (after stripping spaces). Other columns are allowed and ignored.
        delimiter (str): The field delimiter. Defaults to ``','``.

    Returns:
        list[tuple[int, list[str]]]: For every record, the line it starts on
        (the header is line 1) and its values for ``columns``, in that order,
        unstripped.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not UTF-8, is empty, lacks a column (the
            message names the delimiter that would fit, if one does), names
            a required column twice, a record has a different number of
            fields than the header, or a quote is malformed.
    """
    expected = delimiter.join(columns)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: expected a {delimiter!r}-separated file with '
            f'the header {expected!r}')
    if len(delimiter) != 1:
        raise ValueError(f'delimiter must be one character, got '
                         f'{delimiter!r} (reading {path})')
    records = []
    line = 1
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.reader(f, delimiter=delimiter, strict=True)
            header = next(reader, None)
            if header is None:
                raise ValueError(
                    f'{path} is empty: expected the header {expected!r}')
            names = [name.strip() for name in header]
            missing = [c for c in columns if c not in names]
            if missing:
                raise row_error(
                    path, 1, f'expected the header {expected!r}, got '
                    f'{delimiter.join(header)!r} (missing '
                    f'{", ".join(missing)})' +
                    _delimiter_hint(delimiter.join(header), delimiter,
                                    columns))
            doubled = [c for c in columns if names.count(c) > 1]
            if doubled:
                raise row_error(
                    path, 1, f'column {doubled[0]!r} appears '
                    f'{names.count(doubled[0])} times in the header; expected '
                    'it once')
            index = [names.index(c) for c in columns]
            while True:
                # ``line_num`` counts physical lines read so far, so a record
                # with quoted line breaks is reported where it starts.
                line = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    break
                if not row:
                    continue  # a blank line
                if len(row) != len(header):
                    raise row_error(
                        path, line,
                        f'expected {len(header)} fields '
                        f'({delimiter.join(header)}), got {len(row)}: '
                        f'{delimiter.join(row)[:120]!r} (quote fields that '
                        f'contain {delimiter!r})')
                records.append((line, [row[i] for i in index]))
    except UnicodeDecodeError as e:
        raise ValueError(f'{path} is not UTF-8 text: {e}') from e
    except csv.Error as e:
        raise row_error(path, line, f'{e} (check the quotes of this '
                        'record)') from e
    return records


def read_jsonl_records(path: str) -> List[Tuple[int, dict]]:
    """Read a JSON Lines file: one JSON object per line.

    Blank lines are skipped. A JSON string may hold any text, line breaks
    included (escaped as ``\\n``), so captions round-trip exactly.

    Args:
        path (str): The file.

    Returns:
        list[tuple[int, dict]]: The line number and object of every record.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not UTF-8, has no records, a line is not
            valid JSON, or is JSON but not an object.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: expected a JSON Lines file, one object per '
            'line')
    records = []
    try:
        with open(path, encoding='utf-8-sig') as f:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except ValueError as e:
                    raise row_error(path, line,
                                    f'not valid JSON ({e}): '
                                    f'{text.strip()[:120]!r}') from e
                if not isinstance(record, dict):
                    raise row_error(
                        path, line, 'expected a JSON object ({...}), got '
                        f'{type(record).__name__}: {text.strip()[:120]!r}')
                records.append((line, record))
    except UnicodeDecodeError as e:
        raise ValueError(f'{path} is not UTF-8 text: {e}') from e
    if not records:
        raise ValueError(f'{path} is empty: expected one JSON object per '
                         'line')
    return records


def check_key(path: str, line: int, key: str, column: str,
              first_line: Dict[str, int]) -> str:
    """Return the stripped key of a row, recording it in ``first_line``.

    Args:
        path (str): The file, for the message.
        line (int): The row's line, for the message.
        key (str): The raw value.
        column (str): The column's name, for the message.
        first_line (dict[str, int]): Keys seen so far and their lines;
            updated.

    Raises:
        ValueError: If the key is empty or was seen before.
    """
    key = key.strip()
    if not key:
        raise row_error(path, line,
                        f'empty {column}; expected a {column} in every row')
    if key in first_line:
        raise row_error(
            path, line, f'duplicate {column} {key!r} (first on line '
            f'{first_line[key]}); expected every {column} once')
    first_line[key] = line
    return key


def check_caption(path: str, line: int, caption: str, owner: str) -> str:
    """Return ``caption`` without surrounding whitespace, refusing empty text.

    Only leading and trailing whitespace is removed: commas, quotes, inner
    line breaks and non-ASCII characters are kept exactly.

    Args:
        path (str): The file, for the message.
        line (int): The row's line, for the message.
        caption (str): The raw caption.
        owner (str): The image the caption belongs to, for the message.

    Raises:
        ValueError: If the caption is empty or only whitespace.
    """
    text = caption.strip()
    if not text:
        raise row_error(
            path, line, f'the caption of {owner!r} is empty or only '
            f'whitespace ({caption!r}); expected text')
    return text


def find_bad_images(
        paths: Sequence[str],
        verify: bool = True) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Find the images in ``paths`` that are missing or cannot be read.

    ``PIL.Image.verify`` reads the header and, for PNG, checks every chunk's
    CRC, without decoding the pixels; a JPEG cut short after its header may
    pass it. Such a file still fails in training, with its path, when
    :class:`LoadImageFromFileStrict` loads it.

    Args:
        paths (Sequence[str]): Image files.
        verify (bool): Whether to open and verify every existing file; if
            False only existence is checked. Defaults to True.

    Returns:
        tuple: ``missing`` (list of paths) and ``unreadable`` (list of
        ``(path, reason)``), both in the order of ``paths``.
    """
    missing, unreadable = [], []
    for path in paths:
        if not osp.isfile(path):
            missing.append(path)
            continue
        if not verify:
            continue
        try:
            with Image.open(path) as img:
                img.verify()
        except Exception as e:  # PIL raises many types for bad files.
            unreadable.append((path, f'{type(e).__name__}: {e}'))
    return missing, unreadable


def check_images(paths: Sequence[str], ann_file: str, img_dir: str) -> None:
    """Raise listing every missing or unreadable image in ``paths``.

    Args:
        paths (Sequence[str]): The images an annotation file names.
        ann_file (str): That file, for the message.
        img_dir (str): The folder they are expected in, for the message.

    Raises:
        FileNotFoundError: If some images are missing (the message also
            lists unreadable ones).
        OSError: If none is missing but some cannot be read.
    """
    missing, unreadable = find_bad_images(paths)
    if not missing and not unreadable:
        return
    parts = []
    if missing:
        shown = '\n  '.join(missing[:NUM_EXAMPLES])
        parts.append(
            f'{len(missing)} of {len(paths)} images listed in {ann_file} are '
            f'missing from {img_dir}; first {min(NUM_EXAMPLES, len(missing))}'
            f':\n  {shown}')
    if unreadable:
        shown = '\n  '.join(f'{p} ({reason})'
                            for p, reason in unreadable[:NUM_EXAMPLES])
        parts.append(
            f'{len(unreadable)} of {len(paths)} images listed in {ann_file} '
            f'cannot be read as images; first '
            f'{min(NUM_EXAMPLES, len(unreadable))}:\n  {shown}')
    error = FileNotFoundError if missing else OSError
    raise error('\n'.join(parts))


def resolve_path(root: str, path: Optional[str]) -> Optional[str]:
    """Join a relative ``path`` to ``root``; absolute paths and None pass."""
    if path is None:
        return None
    path = osp.expanduser(path)
    return path if osp.isabs(path) else osp.join(root, path)
