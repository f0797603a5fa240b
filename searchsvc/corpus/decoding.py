"""Bytes to text: UTF-8 (with or without a BOM) or GB18030, judged per file, line by line.

In: a source file's bytes. Out: ``Decoded`` (the text with newline line ends, the encoding
chosen, the lines holding undecodable bytes), or None for binary data. Undecodable bytes
stay escaped in the text, so one bad byte costs its line, not the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Undecodable bytes are kept as lone surrogates U+DC80-U+DCFF ("surrogateescape") so that
# one bad byte costs its line, not the file; NUL and other C0 controls mark binary data.
_UNDECODED_RE = re.compile("[\udc80-\udcff]")
_NOT_TEXT_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f\udc80-\udcff]")


@dataclass
class Decoded:
    text: str  # lines separated by "\n"; undecodable bytes still escaped as U+DC80-U+DCFF
    encoding: str  # "UTF-8" or "GB18030"
    bad_lines: dict[int, int]  # 1-based line number -> its first undecodable byte


def _undecoded(text: str) -> int:
    return len(text) - len(_UNDECODED_RE.sub("", text))


def decode(data: bytes) -> Decoded | None:
    """Decode UTF-8 (BOM stripped) or GB18030 line by line; None for binary data.

    The encoding is chosen for the whole file: UTF-8 unless its undecodable bytes outnumber
    its well-formed non-ASCII characters and GB18030 decodes more. (GBK text is never
    mostly valid UTF-8, while UTF-8 text often decodes as GB18030 mojibake, so a UTF-8 file
    with a stray byte stays UTF-8.) Lines with bytes the chosen encoding cannot decode are
    reported in ``bad_lines``. Binary data (random bytes, UTF-16) is told apart by NULs,
    control characters and undecodable bytes: in most lines, and more than 1 in 20
    characters.
    """
    bom = data.startswith(b"\xef\xbb\xbf")
    if bom:
        data = data[3:]
    encoding = "UTF-8"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
        bad = _undecoded(text)
        well_formed = len(text) - len(text.encode("ascii", "ignore")) - bad
        if not bom and bad > well_formed:
            other = data.decode("gb18030", "surrogateescape")
            if _undecoded(other) < bad:
                text, encoding = other, "GB18030"
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.count("\n") + 1
    bad_lines: dict[int, int] = {}
    suspect, checked = 0, False
    number, pos, line_start = 1, 0, 0
    while (m := _NOT_TEXT_RE.search(text, pos)) is not None:
        number += text.count("\n", line_start, m.start())
        line_end = text.find("\n", m.start())
        line_end = len(text) if line_end < 0 else line_end
        suspect += 1
        if suspect * 2 > lines and not checked:
            checked = True
            if 20 * (len(text) - len(_NOT_TEXT_RE.sub("", text))) > len(text):
                return None
        escaped = _UNDECODED_RE.search(text, m.start(), line_end)
        if escaped is not None:
            bad_lines[number] = ord(escaped.group()) - 0xDC00
        # One look per line: the rest of a bad line cannot make it worse.
        pos = line_start = line_end
    return Decoded(text, encoding, bad_lines)
