"""Which bytes of a whole block of complete lines go to which file: the demuxer's fast paths.

Nearly every block of a real log is routed here with a few C-level passes (one regex scan,
then one filter and join per file) instead of one Python step per line. Each function only
plans the writes and answers None when the block needs the per-line rule (a ``_metadata_``
line, a platform without a file of its own, more platforms than a real log has); the
demuxer does the writing. The plans must equal the per-line rule byte for byte
(tests/logs/test_demux.py, tests/logs/test_lines.py).
"""

from __future__ import annotations

from itertools import compress
from typing import Callable, NamedTuple, Optional

from .lines import BLOCK_LINE, ROW_PLATFORM, ROW_WHOLE, Relayed, relayed_lines, stripped_lines
from .platform_files import METADATA_TAG

# More distinct platform fields than this in one block is not a real log: per-line path.
MAX_BLOCK_PLATFORMS = 16

# raw platform field -> its file name ('' for none of its own, or METADATA_TAG)
FileFor = Callable[[bytes], str]


class Writes(NamedTuple):
    """File name -> the bytes to append to it, and how many lines the block held."""

    files: dict[str, bytes]
    lines: int


def relayed_writes(split: Relayed, file_for: FileFor, main_log: str) -> Optional[Writes]:
    """The writes of a block split by ``split_relayed``: orchestrator lines whole to
    ``main_log``, each platform's lines (its wrapper dropped) to its file."""
    targets: dict[Optional[bytes], str] = {}
    for raw in dict.fromkeys(split.fields):
        if raw is None:
            targets[raw] = main_log
            continue
        name = file_for(raw)
        if not name or name == METADATA_TAG or len(targets) >= MAX_BLOCK_PLATFORMS:
            return None                 # the line stays whole, or is special: general path
        targets[raw] = name
    mixed = len(targets) > 1
    return Writes({name: relayed_lines(split, raw, mixed) for raw, name in targets.items()},
                  len(split.texts))


def routed_writes(block: bytes, file_for: FileFor, main_log: str) -> Optional[Writes]:
    """The writes of a block without USER_WARNING records by the whole-block regex
    (``BLOCK_LINE``): lines of no usable platform whole to ``main_log``, the others
    stripped to their platform's file."""
    rows = BLOCK_LINE.findall(block)
    targets: dict[bytes, str] = {}
    for raw in dict.fromkeys(map(ROW_PLATFORM, rows)):
        name = "" if raw == b"-" or raw == b"" else file_for(raw)
        if name == METADATA_TAG:
            return None
        targets[raw] = name
        if len(targets) > MAX_BLOCK_PLATFORMS:
            return None
    files: dict[str, bytes] = {}
    to_main = {raw for raw, name in targets.items() if not name}
    if to_main:
        if len(to_main) == len(targets):
            kept = rows
        else:
            kept = list(compress(rows, map(to_main.__contains__, map(ROW_PLATFORM, rows))))
        whole = list(map(b"".join, map(ROW_WHOLE, kept)))
        whole.append(b"")
        files[main_log] = b"\n".join(whole)
    for raw, name in targets.items():
        if not name:
            continue
        if len(targets) == 1:
            mine = rows
        else:
            mine = list(compress(rows, map(raw.__eq__, map(ROW_PLATFORM, rows))))
        files[name] = stripped_lines(mine)
    return Writes(files, len(rows))
