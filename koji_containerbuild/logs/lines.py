"""The line rule of the orchestrator log (osbs1-contract.md §5.3): which worker platform a
line relays, and what of it belongs in that platform's file.

Kept apart from ``demux.py`` so the rule reads in one place, for one line
(``parse_log_line``) and for a whole block of lines at once (``BLOCK_LINE``), which must
agree byte for byte. Build output is untrusted: both regexes run in linear time whatever a
line holds (no backtracking).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import compress, repeat
from operator import eq, is_, itemgetter
from typing import NamedTuple, Optional

from koji_containerbuild.bytescan import count_newlines

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
# The two shapes nearly every line of a real log has, single-spaced: a worker line relayed with
# its own `<date> <time> platform:- ` prefix (groups: platform field, that "<date> <time> ")
# and an orchestrator line (`platform:-`, no groups, nothing consumed). Used with ``split``
# (``split_relayed``), for a third of BLOCK_LINE's cost. On every line it matches it agrees
# with WRAPPED: single spaces leave each field one parse; `platform:-` as the 3rd field is an
# orchestrator line whatever follows.
def _relayed_shapes(field: bytes, platform_start: bytes) -> bytes:
    word = field + b"+"
    head = rb"\S+ " + word      # a line's first field always stops at its newline
    return (rb"(?:" + head + rb" platform:(" + platform_start + field + rb"*|-" + word + rb")"
            + b" " + b" ".join([word] * 5) + rb" (" + word + b" " + word
            + rb" )platform:- |(?=" + head + rb" platform:- ))")


_RELAYED_SHAPES = _relayed_shapes(rb"\S", rb"[^\s-]")
RELAYED = re.compile(rb"\n" + _RELAYED_SHAPES)
# The same for a block whose only whitespace is spaces and newlines (nearly every block): a
# field is `[^ ]+`, which sre matches in a tight loop, not `\S+`, one class test per byte.
# A field that runs past a newline swallows the next line's start, so that line has no match
# of its own and split_relayed refuses the block; a lookahead that does is only taken for a
# line of fewer than three fields, which the line rule leaves whole in the main log too.
# Linear: a line's first field is still `\S+`, so an attempt at a line without a space stops
# at its end, and only the few lines before the next spaces can reach past their own.
_RELAYED_SHAPES_SPACED = _relayed_shapes(rb"[^ ]", rb"[^ -]")
_OTHER_WHITESPACE = (b"\t", b"\r", b"\v", b"\f")
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


class Relayed(NamedTuple):
    """A block split by ``split_relayed``; per line: its platform field (None for an
    orchestrator line), the worker's "<date> <time> " (None) and the rest of the line (the
    whole line for an orchestrator line) without its newline."""

    fields: list
    inners: list
    texts: list
    prefix_bytes: int      # bytes of the per-line prefixes dropped (0 without a prefix)


@lru_cache(maxsize=8)
def _relayed(prefix: bytes, spaced: bool) -> re.Pattern[bytes]:
    return re.compile(rb"\n" + (rb"(" + prefix + rb")" if prefix else b"")
                      + (_RELAYED_SHAPES_SPACED if spaced else _RELAYED_SHAPES))


def split_relayed(block: bytes, prefix: bytes = b"") -> Optional[Relayed]:
    """The lines of a block of complete lines when every line has one of the RELAYED shapes,
    else None. With ``prefix`` (regex source, bounded and without groups, see prefixed.py)
    every line must also start with a match of it, which is dropped: one pass for both."""
    spaced = not any(space in block for space in _OTHER_WHITESPACE)
    pattern = _relayed(prefix, spaced)
    step = 4 if prefix else 3
    parts = pattern.split(b"\n" + block)
    if len(parts) != step * count_newlines(block) + 1:
        return None                    # some line has neither shape: it was glued to another
    texts = parts[step::step]
    texts[-1] = texts[-1][:-1]
    if not prefix:
        return Relayed(parts[1::3], parts[2::3], texts, 0)
    prefixes = parts[1::4]
    return Relayed(parts[2::4], parts[3::4], texts, sum(map(len, prefixes)))


def relayed_lines(split: Relayed, field: Optional[bytes], mixed: bool = True) -> bytes:
    """The lines of ``split`` whose platform field is ``field``, newline terminated: the
    worker's own lines (its `platform:-` dropped, see unwrap), or for None the orchestrator
    lines whole. ``mixed=False`` promises every line has ``field``. (Selected and
    interleaved with C-level list operations: no tuple per line.)"""
    if field is None:
        texts = (list(compress(split.texts, map(is_, split.fields, repeat(None)))) if mixed
                 else split.texts)
        return b"\n".join(texts) + b"\n" if texts else b""
    inners, texts = split.inners, split.texts
    if mixed:
        select = list(map(eq, split.fields, repeat(field)))
        inners, texts = list(compress(inners, select)), list(compress(texts, select))
    parts = [b"\n"] * (3 * len(texts))
    parts[0::3] = inners
    parts[1::3] = texts
    return b"".join(parts)


def parse_log_line(line: bytes) -> tuple[Optional[str], bytes]:
    """Return ``(platform, line)`` for one orchestrator log line, ``platform`` None for
    the orchestrator's own lines and for anything that does not parse (§5.3 rule; lines
    with a worker platform but fewer than 8 fields, on which osbs-client crashed, stay
    whole)."""
    match = WRAPPED.match(line)
    if match is None or match[1] == b"-":
        return None, line
    return match[1].decode("utf-8", "surrogateescape"), unwrap(match, line)
