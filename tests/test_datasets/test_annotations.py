"""The shared readers and checks every data set uses."""
import csv
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from qwenclip_mm.datasets import (check_caption, check_images, check_key,
                                  find_bad_images, read_csv_records,
                                  read_jsonl_records)

# Derandomized: the same examples on every run, so CI never flakes.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture])


def write_bytes(path, data):
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


def write_text(path, text):
    with open(path, 'w', newline='', encoding='utf-8') as f:
        f.write(text)
    return str(path)


def to_csv(rows, delimiter=','):
    buf = io.StringIO(newline='')
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    return buf.getvalue()


@pytest.mark.parametrize('delimiter', [',', ';', '\t', '|'])
def test_reads_any_delimiter_exactly(tmp_path, delimiter):
    rows = [('id', 'text', 'extra'), ('a', 'x, "y"; z\tw|v', '1'),
            ('b', 'line one\r\nline two', '2')]
    path = write_text(tmp_path / 'f.csv', to_csv(rows, delimiter))
    records = read_csv_records(path, ('text', 'id'), delimiter)
    assert records == [(2, ['x, "y"; z\tw|v', 'a']),
                       (3, ['line one\r\nline two', 'b'])]


def test_wrong_delimiter_is_named(tmp_path):
    path = write_text(tmp_path / 'codes.csv',
                      'image_id;irma_code;05_class\n1;1121-120-200-700;3\n')
    with pytest.raises(ValueError) as e:
        read_csv_records(path, ('image_id', 'irma_code'))
    message = str(e.value)
    assert message.startswith(f'{path}, line 1: expected the header '
                              "'image_id,irma_code'")
    assert "looks ';'-separated, pass delimiter=';'" in message


def test_header_problems(tmp_path):
    path = write_text(tmp_path / 'f.csv', 'id,id,text\n1,2,x\n')
    with pytest.raises(ValueError, match="line 1: column 'id' appears 2 "
                       'times'):
        read_csv_records(path, ('id', 'text'))
    path = write_text(tmp_path / 'g.csv', 'id,label\n1,x\n')
    with pytest.raises(ValueError, match=r"\(missing text\)$"):
        read_csv_records(path, ('id', 'text'))
    with pytest.raises(FileNotFoundError, match="nowhere.csv not found: "
                       "expected a ';'-separated file with the header "
                       "'id;text'"):
        read_csv_records(str(tmp_path / 'nowhere.csv'), ('id', 'text'), ';')


def test_jsonl(tmp_path):
    path = write_text(
        tmp_path / 'a.jsonl', '{"image": "a.png", "caption": "x\\ny"}\n\n'
        '{"image": "b.png", "caption": ["\u00b5m", "\\"q\\""]}\n')
    assert read_jsonl_records(path) == [
        (1, dict(image='a.png', caption='x\ny')),
        (3, dict(image='b.png', caption=['\u00b5m', '"q"'])),
    ]
    bad = write_text(tmp_path / 'b.jsonl', '{"image": "a.png"}\n{"image"\n')
    with pytest.raises(ValueError, match=r'b.jsonl, line 2: not valid JSON'):
        read_jsonl_records(bad)
    bad = write_text(tmp_path / 'c.jsonl', '["a.png", "x"]\n')
    with pytest.raises(ValueError,
                       match=r'c.jsonl, line 1: expected a JSON object'):
        read_jsonl_records(bad)
    with pytest.raises(ValueError, match=r'd.jsonl is empty'):
        read_jsonl_records(write_text(tmp_path / 'd.jsonl', '\n \n'))


def test_key_and_caption_checks():
    seen = {}
    assert check_key('f.csv', 2, ' a ', 'ID', seen) == 'a'
    with pytest.raises(ValueError,
                       match=r"f.csv, line 5: duplicate ID 'a' \(first on "
                       r'line 2\)'):
        check_key('f.csv', 5, 'a', 'ID', seen)
    with pytest.raises(ValueError, match='f.csv, line 6: empty ID'):
        check_key('f.csv', 6, '  ', 'ID', seen)
    assert check_caption('f.csv', 2, ' a,\n"b" \u2013 c\t', 'x') == \
        'a,\n"b" \u2013 c'
    with pytest.raises(ValueError,
                       match=r"f.csv, line 7: the caption of 'x' is empty or "
                       r"only whitespace \('\\t \\n'\)"):
        check_caption('f.csv', 7, '\t \n', 'x')


def test_check_images_lists_missing_and_unreadable(tmp_path):
    good = tmp_path / 'good.png'
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(good)
    data = good.read_bytes()
    truncated = write_bytes(tmp_path / 'truncated.png', data[:len(data) // 2])
    empty = write_bytes(tmp_path / 'empty.png', b'')
    text = write_bytes(tmp_path / 'text.png', b'not an image')
    missing = [str(tmp_path / f'missing{i}.png') for i in range(7)]
    paths = [str(good), truncated, *missing, empty, text]

    found_missing, unreadable = find_bad_images(paths)
    assert found_missing == missing
    assert [p for p, _ in unreadable] == [truncated, empty, text]
    assert find_bad_images(paths, verify=False) == (missing, [])

    with pytest.raises(FileNotFoundError) as e:
        check_images(paths, 'ann.csv', str(tmp_path))
    message = str(e.value)
    assert f'7 of 11 images listed in ann.csv are missing from {tmp_path}; ' \
        'first 5:' in message
    assert [p for p in missing if p in message] == missing[:5]
    assert '3 of 11 images listed in ann.csv cannot be read as images' in \
        message
    for path in (truncated, empty, text):
        assert path in message
    with pytest.raises(OSError, match='1 of 2 images .* cannot be read') as e:
        check_images([str(good), text], 'ann.csv', str(tmp_path))
    assert not isinstance(e.value, FileNotFoundError)
    check_images([str(good)], 'ann.csv', str(tmp_path))


# Text that real captions hold: delimiters, quotes, line breaks of every
# kind, leading spaces, non-ASCII, zero-width characters.
caption_text = st.text(
    alphabet=st.sampled_from(list('ab ,;\t|"\'\r\n\u00b5\u2013\u201c\u200b'
                                  '\u00e9\u4e2d')),
    max_size=30)


@FUZZ
@given(
    rows=st.lists(st.tuples(caption_text, caption_text), max_size=8),
    delimiter=st.sampled_from([',', ';', '\t', '|']),
    crlf=st.booleans())
def test_fuzz_written_rows_read_back_exactly(tmp_path, rows, delimiter, crlf):
    """Whatever a CSV writer writes comes back exactly, field by field."""
    buf = io.StringIO(newline='')
    # With LF line ends, csv.writer's minimal quoting leaves a bare CR
    # unquoted (it quotes the characters of its own line terminator only),
    # which no reader can tell from a line end; quote all fields then.
    csv.writer(
        buf,
        delimiter=delimiter,
        lineterminator='\r\n' if crlf else '\n',
        quoting=csv.QUOTE_MINIMAL if crlf else csv.QUOTE_ALL).writerows(
            [('ID', 'Caption')] + rows)
    path = write_text(tmp_path / 'rows.csv', buf.getvalue())
    records = read_csv_records(path, ('ID', 'Caption'), delimiter)
    assert [values for _, values in records] == [[i, c] for i, c in rows]


@FUZZ
@given(content=st.text(
    alphabet=st.sampled_from(list('ID,Caption;"\r\n x\u00e9\x00')),
    max_size=80))
def test_fuzz_any_text_parses_or_names_the_file(tmp_path, content):
    """Arbitrary file content: parsed, or a ValueError naming the file."""
    path = write_text(tmp_path / 'any.csv', content)
    try:
        records = read_csv_records(path, ('ID', 'Caption'))
    except ValueError as e:
        assert str(e).startswith(path)
        return
    for line, values in records:
        assert line >= 2 and len(values) == 2


@FUZZ
@given(data=st.binary(max_size=60))
def test_fuzz_any_bytes_parse_or_name_the_file(tmp_path, data):
    path = write_bytes(tmp_path / 'any.csv', b'ID,Caption\n' + data)
    try:
        read_csv_records(path, ('ID', 'Caption'))
    except ValueError as e:
        assert str(e).startswith(path)
