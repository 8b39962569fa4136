"""The line rule of the orchestrator log (osbs1-contract.md §5.3): which worker platform a
line relays, and what of it belongs in that platform's file.

Kept apart from ``demux.py`` so the rule reads in one place, for one line
(``parse_log_line``) and for a whole block of lines at once (``BLOCK_LINE``), which must
agree byte for byte. Build output is untrusted: both regexes run in linear time whatever a
line holds (no backtracking).
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Optional

# `<date> <time> platform:<p> - <name> - <level> - <message>` (ArchFormatter). Fields are
# whitespace separated; exactly one separator after the 8th field belongs to the prefix, the
# rest of the line (leading spaces included) is the worker's line. osbs-client measured the
# fields assuming single spaces; this regex agrees with it on every single-spaced line. A
# relayed worker line that still carries its own `platform:-` (3rd field) loses that field:
# groups 2 and 3 are its date and time (empty when absent).
WRAPPED = re.compile(rb"\s*\S+\s+\S+\s+platform:(\S*)" + rb"\s+\S+" * 5 + rb"(?:\s|\Z)"
                     rb"(?:(\S+)\s+(\S+)\s+platform:-(?:\s|\Z)|)")
# (Spelled out: `(?:\s+\S+){5}` and `(...)?` take sre's general repeat, twice as slow.)
# The same rule applied to a whole block of lines at once (`\s` minus the newline, `\Z` as the
# end of a line): one match per line, groups (wrapper, platform, inner date, inner time, text).
# A line that does not parse gives an empty wrapper and platform and itself as text.
_BLANK = rb"[ \t\r\f\v]"
BLOCK_LINE = re.compile(
    rb"^(" + _BLANK + rb"*\S+" + _BLANK + rb"+\S+" + _BLANK + rb"+platform:(\S*)"
    + (_BLANK + rb"+\S+") * 5 + rb"(?:" + _BLANK + rb"|(?=\n))"
    rb"(?:(\S+)" + _BLANK + rb"+(\S+)" + _BLANK + rb"+platform:-(?:" + _BLANK + rb"|(?=\n))|)"
    rb"|)(.*)\n", re.MULTILINE)
# Parts of a BLOCK_LINE row: its platform field; the line as it came (wrapper + text).
ROW_PLATFORM = itemgetter(1)
ROW_WHOLE = itemgetter(0, 4)
_INNER_DATE = itemgetter(2)
_STRIPPED_PARTS = itemgetter(2, 3, 4)
# Any platform tag other than the orchestrator's own `platform:-` (cheap block pre-check).
MAYBE_WORKER = re.compile(rb"platform:(?!-\s)")


def unwrap(match: re.Match[bytes], line: bytes) -> bytes:
    """The worker's own line inside ``line`` (a WRAPPED match): the wrapper cut off, and of
    the worker's `<date> <time> platform:- ` prefix only the date and time kept."""
    text = line[match.end():]
    if match[2]:
        text = match[2] + b" " + match[3] + b" " + text
    return text


def stripped_lines(rows: list[tuple[bytes, ...]]) -> bytes:
    """The worker's own lines of ``BLOCK_LINE`` rows, newline terminated (see unwrap)."""
    if b"" not in map(_INNER_DATE, rows):       # every line had its inner `platform:-`
        texts = list(map(b" ".join, map(_STRIPPED_PARTS, rows)))
    elif not any(map(_INNER_DATE, rows)):      # none had
        texts = [row[4] for row in rows]
    else:
        texts = [b" ".join(row[2:]) if row[2] else row[4] for row in rows]
    texts.append(b"")
    return b"\n".join(texts)


def parse_log_line(line: bytes) -> tuple[Optional[str], bytes]:
    """Return ``(platform, line)`` for one orchestrator log line, ``platform`` None for
    the orchestrator's own lines and for anything that does not parse (§5.3 rule; lines
    with a worker platform but fewer than 8 fields, on which osbs-client crashed, stay
    whole)."""
    match = WRAPPED.match(line)
    if match is None or match[1] == b"-":
        return None, line
    return match[1].decode("utf-8", "surrogateescape"), unwrap(match, line)
