"""Split a followed OpenShift build log into the files attached to the Koji task.

The orchestrator build interleaves its own lines with lines relayed from the worker build of
each platform; upstream Koji showed them as ``orchestrator.log`` and ``<platform>.log``
(rule: osbs1-contract.md §5.3). This module only turns bytes into files; following the stream
and uploading the files live elsewhere (``follow.py``, ``upload.py``).

Bytes stay bytes: lines are split on ``\\n`` only and written back untouched, so invalid
UTF-8, ``\\r`` and odd whitespace in a build log survive exactly.

Build output is untrusted, so every step costs linear time whatever a line holds (no
backtracking regex), memory is bounded (a line longer than ``max_line_bytes`` is routed by
its first ``max_line_bytes`` and then streamed into its file in pieces cut at UTF-8
boundaries, never broken or moved to another file), at most ``MAX_PLATFORM_FILES`` platform
files are opened, the task's own file names cannot be taken by a platform, and user warnings
are reduced to text XML-RPC can carry.
"""

from __future__ import annotations

import logging
import os
import re
from itertools import compress
from operator import itemgetter
from typing import BinaryIO, Callable, Optional

from .records import (
    MAX_USER_WARNING_BYTES,
    MAX_USER_WARNINGS,
    USER_WARNING_MARK,
    UserWarnings,
    copy_metadata,
    user_warning_message,
)

ORCHESTRATOR_LOG = "orchestrator.log"
COMBINED_LOG = "openshift-incremental.log"
USER_WARNINGS_LOG = "user_warnings.log"
METADATA_TAG = "_metadata_"
# Every file the task writes into its output besides the platform logs: tasks.CHECKOUT_LOG,
# task_support.PLUGIN_LOG, the demuxer's own files and the JSON files. A `platform:` field
# that would name one of them keeps its line whole in the main log instead.
RESERVED_NAMES = frozenset({
    "osbs-client.log", "checkout-for-labels.log", ORCHESTRATOR_LOG, COMBINED_LOG,
    USER_WARNINGS_LOG, "metadata.json", "build_annotations.json"})
# Real builds have a handful of platforms; a log naming more is hostile or broken.
MAX_PLATFORM_FILES = 64

# A worker platform becomes a file name, so it may never be a path, hidden, or absurdly long.
_PLATFORM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

# `<date> <time> platform:<p> - <name> - <level> - <message>` (ArchFormatter). Fields are
# whitespace separated; exactly one separator after the 8th field belongs to the prefix, the
# rest of the line (leading spaces included) is the worker's line. osbs-client measured the
# fields assuming single spaces; this regex agrees with it on every single-spaced line. A
# relayed worker line that still carries its own `platform:-` (3rd field) loses that field:
# groups 2 and 3 are its date and time (empty when absent).
_WRAPPED = re.compile(rb"\s*\S+\s+\S+\s+platform:(\S*)" + rb"\s+\S+" * 5 + rb"(?:\s|\Z)"
                      rb"(?:(\S+)\s+(\S+)\s+platform:-(?:\s|\Z)|)")
# (Spelled out: `(?:\s+\S+){5}` and `(...)?` take sre's general repeat, twice as slow.)
# The same rule applied to a whole block of lines at once (`\s` minus the newline, `\Z` as the
# end of a line): one match per line, groups (wrapper, platform, inner date, inner time, text).
# A line that does not parse gives an empty wrapper and platform and itself as text.
_BLANK = rb"[ \t\r\f\v]"
_BLOCK_LINE = re.compile(
    rb"^(" + _BLANK + rb"*\S+" + _BLANK + rb"+\S+" + _BLANK + rb"+platform:(\S*)"
    + (_BLANK + rb"+\S+") * 5 + rb"(?:" + _BLANK + rb"|(?=\n))"
    rb"(?:(\S+)" + _BLANK + rb"+(\S+)" + _BLANK + rb"+platform:-(?:" + _BLANK + rb"|(?=\n))|)"
    rb"|)(.*)\n", re.MULTILINE)
_PLATFORM = itemgetter(1)
_INNER_DATE = itemgetter(2)
_STRIPPED_PARTS = itemgetter(2, 3, 4)
_WHOLE_PARTS = itemgetter(0, 4)
# More distinct platform fields than this in one block is not a real log: per-line path.
_MAX_BLOCK_PLATFORMS = 16
# Any platform tag other than the orchestrator's own `platform:-` (cheap block pre-check).
_MAYBE_WORKER = re.compile(rb"platform:(?!-\s)")


def _utf8_cut(data: bytes) -> int:
    """Length of the longest prefix of ``data`` that does not end inside a UTF-8 sequence
    (invalid bytes count as whole characters); at most 3 bytes are held back."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        byte = data[n - back]
        if byte < 0x80:
            return n
        if byte >= 0xC0:                         # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return n if back >= need else n - back
    return n


def _unwrap(match: re.Match[bytes], line: bytes) -> bytes:
    text = line[match.end():]
    if match[2]:
        text = match[2] + b" " + match[3] + b" " + text
    return text


def _stripped_lines(rows: list[tuple[bytes, ...]]) -> bytes:
    """The worker's own lines of ``_BLOCK_LINE`` rows, newline terminated (see _unwrap)."""
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
    match = _WRAPPED.match(line)
    if match is None or match[1] == b"-":
        return None, line
    return match[1].decode("utf-8", "surrogateescape"), _unwrap(match, line)


class LogDemux:
    """Write log lines into per-platform files in ``outdir`` as they arrive.

    ``feed()`` takes chunks split anywhere (mid-line, mid-UTF-8 sequence); complete lines
    are written and flushed before it returns, so a line is on disk the moment it was
    received (regression #38 of upstream-features.md §2.1), then ``on_data`` is called once.
    """

    def __init__(self, outdir: str, *, demux: bool = True, main_log: str = ORCHESTRATOR_LOG,
                 metadata_root: Optional[str] = None, collect_user_warnings: bool = True,
                 on_data: Optional[Callable[[], None]] = None,
                 max_line_bytes: int = 1 << 20,
                 logger: Optional[logging.Logger] = None) -> None:
        """``demux=False`` writes every line verbatim to ``main_log`` (source builds use
        ``orchestrator.log``, a plain single stream ``openshift-incremental.log``).
        ``metadata_root`` is Koji's work directory (``koji.pathinfo.work()``), where
        `_metadata_` lines point; None means such lines are reported in ``problems``."""
        if not _PLATFORM_NAME.fullmatch(main_log) or not main_log.endswith(".log"):
            raise ValueError(f"main_log must be a plain *.log file name: {main_log!r}")
        self.outdir = outdir
        self._demux = demux
        self._main_log = main_log
        self._metadata_root = metadata_root
        self._collect_user_warnings = collect_user_warnings
        self._on_data = on_data
        self._max_line = max_line_bytes
        self._log = logger or logging.getLogger(__name__)
        # A worker platform may not take over one of our own files.
        self._reserved = RESERVED_NAMES | {main_log}
        self._pending: list[bytes] = []     # the unterminated line, in pieces
        self._pending_size = 0
        # A line longer than max_line_bytes being streamed: its file, and the bytes of an
        # unfinished UTF-8 sequence held back from the last piece.
        self._long_file: Optional[str] = None
        self._long_held = b""
        self._long_skip = 0
        self._long_inner = b""
        self._files: dict[str, BinaryIO] = {}
        self._platform_files: dict[bytes, str] = {}
        self._granted: set[str] = set()     # platforms that have their own file
        self._refused_platforms = 0
        self._warnings = UserWarnings()
        self._warnings_full = False
        self._closed = False
        self.user_warnings: list[str] = self._warnings.messages
        self.metadata_files: list[str] = []
        self.problems: list[str] = []
        self.lines = 0
        self.bytes_in = 0
        os.makedirs(outdir, exist_ok=True)

    @property
    def files(self) -> dict[str, str]:
        """Log files written so far: name -> path."""
        return {name: os.path.join(self.outdir, name) for name in self._files}

    def feed(self, chunk: bytes) -> None:
        """Consume one chunk of the stream."""
        if self._closed:
            raise ValueError("LogDemux is closed")
        if not chunk:
            return
        self.bytes_in += len(chunk)
        if self._long_file is not None:
            end = chunk.find(b"\n") + 1
            if end == 0:
                self._stream_long(chunk)
                return
            self._stream_long(chunk[:end], last=True)
            chunk = chunk[end:]
            if not chunk:
                return
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            # No line ends here: keep the piece (a list, so a long line costs no re-copying).
            self._pending.append(chunk)
            self._pending_size += len(chunk)
            if self._pending_size > self._max_line:
                self._start_long()
            return
        head = chunk[:cut] if cut < len(chunk) else chunk
        if self._pending:
            head = self._take_pending() + head
        self._write_complete(head)
        if cut < len(chunk):
            self._pending.append(chunk[cut:])
            self._pending_size = len(chunk) - cut
            if self._pending_size > self._max_line:
                self._start_long()

    def _take_pending(self) -> bytes:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        return data

    def close(self) -> None:
        """Write an unterminated last line (with a newline added) and close the files."""
        if self._closed:
            return
        try:
            if self._long_file is not None:
                self._stream_long(b"\n", last=True)
            elif self._pending:
                self._write_complete(self._take_pending() + b"\n")
        finally:
            self._closed = True
            for handle in self._files.values():
                handle.close()

    # -- lines longer than max_line_bytes ---------------------------------------------------

    def _write_complete(self, block: bytes) -> None:
        """Write complete lines; those longer than ``max_line_bytes`` take the long-line
        rule, exactly as if they had arrived in pieces (found with one C-level ``rfind``
        per ``max_line_bytes`` of input, not per line)."""
        limit = self._max_line
        if len(block) <= limit:
            self._write_block(block)
            return
        pos = done = 0
        size = len(block)
        while pos < size:
            newline = block.rfind(b"\n", pos, pos + limit + 1)
            if newline >= 0:
                pos = newline + 1
                continue
            end = block.index(b"\n", pos) + 1        # the block ends with a newline
            if done < pos:
                self._write_block(block[done:pos])
            line = block[pos:end]
            self._route_long(line)
            self._stream_long(line[self._long_skip:], last=True, first=True)
            pos = done = end
        if done < size:
            self._write_block(block[done:] if done else block)

    def _start_long(self) -> None:
        """The unterminated line outgrew ``max_line_bytes``: route it, write what we have."""
        data = self._take_pending()
        self._route_long(data)
        self._stream_long(data[self._long_skip:], first=True)

    def _route_long(self, line: bytes) -> None:
        """Choose the file of a long line from its first ``max_line_bytes`` (the platform
        prefix is there in any real log): its platform file, with the prefix stripped as
        for any line, or the main log with the line whole. Long USER_WARNING and
        ``_metadata_`` lines are not taken out: they stay in the log."""
        head = line[:self._max_line]
        match = _WRAPPED.match(head) if self._demux else None
        self._long_file, self._long_skip, self._long_inner = self._main_log, 0, b""
        if match is None or match[1] == b"-":
            return
        name = self._platform_files.get(match[1])
        if name is None:
            name = self._platform_file(match[1])
        if name and name != METADATA_TAG:
            self._long_file, self._long_skip = name, match.end()
            if match[2]:
                self._long_inner = match[2] + b" " + match[3] + b" "

    def _stream_long(self, piece: bytes, *, last: bool = False, first: bool = False) -> None:
        """Append a piece of the long line to its file, cut at a UTF-8 boundary (a reader
        of the growing file never sees half a character); ``last`` ends the line."""
        if first and self._long_inner:
            piece = self._long_inner + piece
        data = self._long_held + piece if self._long_held else piece
        keep = len(data) if last else _utf8_cut(data)
        self._long_held = data[keep:]
        if keep:
            self._append(self._long_file, data[:keep] if keep < len(data) else data)
        if last:
            self._long_file = None
            self.lines += 1
        if self._on_data is not None:
            self._on_data()

    def __enter__(self) -> LogDemux:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write_block(self, block: bytes) -> None:
        """Write complete lines (``block`` ends with a newline) where they belong."""
        if (not (self._collect_user_warnings and USER_WARNING_MARK in block)
                and not (self._demux and _MAYBE_WORKER.search(block))):
            # Nothing to route or take out (the common case without demux, and chunks of
            # orchestrator lines): one write, no per-line work.
            self.lines += block.count(b"\n")
            self._append(self._main_log, block)
            if self._on_data is not None:
                self._on_data()
            return
        if not (self._demux and not (self._collect_user_warnings and USER_WARNING_MARK in block)
                and self._write_routed_block(block)):
            lines = block.split(b"\n")
            lines.pop()
            self._write_lines(lines)

    def _write_routed_block(self, block: bytes) -> bool:
        """Demux a block without USER_WARNING records using C-level passes only (one
        regex scan, then one filter per platform present); False, having written nothing,
        when the block needs the per-line path (`_metadata_`, too many platforms)."""
        rows = _BLOCK_LINE.findall(block)
        targets: dict[bytes, str] = {}
        for raw in dict.fromkeys(map(_PLATFORM, rows)):
            if raw == b"-" or raw == b"":
                name = ""
            else:
                name = self._platform_files.get(raw)
                if name is None:
                    name = self._platform_file(raw)
                if name == METADATA_TAG:
                    return False
            targets[raw] = name
            if len(targets) > _MAX_BLOCK_PLATFORMS:
                return False
        to_main = {raw for raw, name in targets.items() if not name}
        if to_main:
            if len(to_main) == len(targets):
                kept = rows
            else:
                kept = list(compress(rows, map(to_main.__contains__, map(_PLATFORM, rows))))
            whole = list(map(b"".join, map(_WHOLE_PARTS, kept)))
            whole.append(b"")
            self._append(self._main_log, b"\n".join(whole))
        for raw, name in targets.items():
            if not name:
                continue
            if len(targets) == 1:
                mine = rows
            else:
                mine = list(compress(rows, map(raw.__eq__, map(_PLATFORM, rows))))
            self._append(name, _stripped_lines(mine))
        self.lines += len(rows)
        if self._on_data is not None:
            self._on_data()
        return True

    def _write_lines(self, lines: list[bytes]) -> None:
        """Route complete lines one by one, then write each file once (hot loop)."""
        main: list[bytes] = []
        batches: dict[str, list[bytes]] = {self._main_log: main}
        match = _WRAPPED.match if self._demux else None
        warnings = self._collect_user_warnings
        for line in lines:
            wrapped = match(line) if match is not None else None
            if wrapped is None or wrapped[1] == b"-":
                if not (warnings and USER_WARNING_MARK in line
                        and self._take_user_warning(line)):
                    main.append(line)
                continue
            text = _unwrap(wrapped, line)
            name = self._platform_files.get(wrapped[1])
            if name is None:
                name = self._platform_file(wrapped[1])
            if name == METADATA_TAG:
                self._copy_metadata(text)
            elif warnings and USER_WARNING_MARK in text and self._take_user_warning(text):
                pass
            elif not name:
                main.append(line)        # not a usable platform name: keep the line whole
            else:
                batch = batches.get(name)
                if batch is None:
                    batches[name] = [text]
                else:
                    batch.append(text)
        self.lines += len(lines)
        for name, batch in batches.items():
            if batch:
                batch.append(b"")
                self._append(name, b"\n".join(batch))
        if self._on_data is not None:
            self._on_data()

    def _platform_file(self, raw: bytes) -> str:
        """File name for a platform field: METADATA_TAG itself, '' when the name is unsafe
        (a path, hidden, one of the task's own files) or one platform too many, else
        ``<platform>.log``; cached."""
        platform = raw.decode("utf-8", "surrogateescape")
        if platform == METADATA_TAG:
            name = METADATA_TAG
        elif _PLATFORM_NAME.fullmatch(platform) and platform + ".log" not in self._reserved:
            name = platform + ".log"
            if name not in self._granted:
                if len(self._granted) >= MAX_PLATFORM_FILES:
                    self._refused_platforms += 1
                    if self._refused_platforms == 1:
                        self._problem(f"the build log names more than {MAX_PLATFORM_FILES} "
                                      f"platforms; lines of further platforms (first: "
                                      f"{platform!r}) stay whole in {self._main_log}")
                    name = ""
                else:
                    self._granted.add(name)
        else:
            name = ""
        if len(self._platform_files) < 256:
            self._platform_files[raw] = name
        return name

    def _append(self, name: str, data: bytes) -> None:
        handle = self._files.get(name)
        if handle is None:
            handle = open(os.path.join(self.outdir, name), "ab")  # kept open until close()
            self._files[name] = handle
        handle.write(data)
        handle.flush()

    def _take_user_warning(self, text: bytes) -> bool:
        """Collect a USER_WARNING record; False (the line stays in its log) when the
        record is malformed, or one too many, so nothing a build printed is ever dropped
        silently (``records.py``)."""
        message = user_warning_message(text)
        if message is None:
            return False
        added = self._warnings.add(message)
        if added is None:
            if not self._warnings_full:
                self._warnings_full = True
                self._problem(f"more user warnings than the task result takes "
                              f"({MAX_USER_WARNINGS}, {MAX_USER_WARNING_BYTES} bytes); "
                              "the rest stay in the log")
            return False
        if added:
            self._append(USER_WARNINGS_LOG, message.encode("utf-8") + b"\n")
        return True

    def _copy_metadata(self, text: bytes) -> None:
        name, problem = copy_metadata(text, self._metadata_root, self.outdir, RESERVED_NAMES)
        if problem:
            self._problem(problem)
        elif name not in self.metadata_files:
            self.metadata_files.append(name)

    def _problem(self, message: str) -> None:
        self._log.warning("%s", message)
        self.problems.append(message)
