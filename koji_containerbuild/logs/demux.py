"""Split a followed OpenShift build log into the files attached to the Koji task.

The orchestrator build interleaves its own lines with lines relayed from the worker build of
each platform; upstream Koji showed them as ``orchestrator.log`` and ``<platform>.log``
(rule: osbs1-contract.md §5.3). This module only turns bytes into files; following the stream
and uploading the files live elsewhere (``follow.py``, ``upload.py``).

Bytes stay bytes: lines are split on ``\\n`` only and written back untouched, so invalid
UTF-8, ``\\r`` and odd whitespace in a build log survive exactly.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import shutil
from itertools import compress
from operator import itemgetter
from typing import BinaryIO, Callable, Optional

ORCHESTRATOR_LOG = "orchestrator.log"
COMBINED_LOG = "openshift-incremental.log"
USER_WARNINGS_LOG = "user_warnings.log"
METADATA_TAG = "_metadata_"

# A worker platform becomes a file name, so it may never be a path, hidden, or absurdly long.
_PLATFORM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Basename of the file a `_metadata_` line points at (atomic-reactor writes metadata.json).
_METADATA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.json")

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
# USER_WARNING records carry JSON: `... - USER_WARNING - {"message": "..."}` (KCB 0.12).
_USER_WARNING_MARK = b" - USER_WARNING - {"
_USER_WARNING = re.compile(rb".+ - USER_WARNING - (\{.*\})\r?")


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
        self._reserved = {main_log[:-4], USER_WARNINGS_LOG[:-4], ORCHESTRATOR_LOG[:-4]}
        self._pending: list[bytes] = []     # the unterminated line, in pieces
        self._pending_size = 0
        self._files: dict[str, BinaryIO] = {}
        self._platform_files: dict[bytes, str] = {}
        self._warning_set: set[str] = set()
        self._closed = False
        self.user_warnings: list[str] = []
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
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            # No line ends here: keep the piece (a list, so a long line costs no re-copying).
            self._pending.append(chunk)
            self._pending_size += len(chunk)
            if self._pending_size > self._max_line:
                # A "line" this long is not a log line; break it rather than hold it in memory.
                self._write_block(self._take_pending() + b"\n")
            return
        head = chunk[:cut] if cut < len(chunk) else chunk
        if self._pending:
            head = self._take_pending() + head
        self._write_block(head)
        if cut < len(chunk):
            self._pending.append(chunk[cut:])
            self._pending_size = len(chunk) - cut

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
            if self._pending:
                self._write_block(self._take_pending() + b"\n")
        finally:
            self._closed = True
            for handle in self._files.values():
                handle.close()

    def __enter__(self) -> LogDemux:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write_block(self, block: bytes) -> None:
        """Write complete lines (``block`` ends with a newline) where they belong."""
        if (not (self._collect_user_warnings and _USER_WARNING_MARK in block)
                and not (self._demux and _MAYBE_WORKER.search(block))):
            # Nothing to route or take out (the common case without demux, and chunks of
            # orchestrator lines): one write, no per-line work.
            self.lines += block.count(b"\n")
            self._append(self._main_log, block)
            if self._on_data is not None:
                self._on_data()
            return
        if not (self._demux and not (self._collect_user_warnings and _USER_WARNING_MARK in block)
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
                if not (warnings and _USER_WARNING_MARK in line
                        and self._take_user_warning(line)):
                    main.append(line)
                continue
            text = _unwrap(wrapped, line)
            name = self._platform_files.get(wrapped[1])
            if name is None:
                name = self._platform_file(wrapped[1])
            if name == METADATA_TAG:
                self._copy_metadata(text)
            elif warnings and _USER_WARNING_MARK in text and self._take_user_warning(text):
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
        (a path, hidden, one of our own files), else ``<platform>.log``; cached."""
        platform = raw.decode("utf-8", "surrogateescape")
        if platform == METADATA_TAG:
            name = METADATA_TAG
        elif _PLATFORM_NAME.fullmatch(platform) and platform not in self._reserved:
            name = platform + ".log"
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
        record is malformed, so nothing a build printed is ever dropped silently."""
        match = _USER_WARNING.fullmatch(text)
        if match is None:
            return False
        try:
            message = json.loads(match.group(1).decode("utf-8"))["message"]
        except (UnicodeDecodeError, ValueError, TypeError, KeyError):
            return False
        if not isinstance(message, str):
            return False
        if message not in self._warning_set:
            self._warning_set.add(message)
            self.user_warnings.append(message)
            self._append(USER_WARNINGS_LOG,
                         message.encode("utf-8", "backslashreplace") + b"\n")
        return True

    def _copy_metadata(self, text: bytes) -> None:
        """Copy the file a scratch build's `_metadata_` line names (a path relative to
        Koji's work dir, last token of the line) into ``outdir`` so it is uploaded with the
        task output — the hub's own copy is not reachable from kojiweb (regression #16)."""
        tokens = text.split()
        relpath = tokens[-1].decode("utf-8", "surrogateescape") if tokens else ""
        name = posixpath.basename(relpath)
        if self._metadata_root is None:
            self._problem(f"metadata file {relpath!r} not copied: "
                          "no Koji work directory configured")
            return
        if (not relpath or posixpath.isabs(relpath)
                or not _METADATA_NAME.fullmatch(name)):
            self._problem(f"metadata file {relpath!r} not copied: not a relative *.json path")
            return
        root = os.path.realpath(self._metadata_root)
        source = os.path.realpath(os.path.join(root, relpath))
        if not source.startswith(root + os.sep):
            self._problem(f"metadata file {relpath!r} not copied: "
                          "outside the Koji work directory")
            return
        partial = os.path.join(self.outdir, "." + name + ".part")
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, os.path.join(self.outdir, name))
        except OSError as exc:
            self._problem(f"metadata file {relpath!r} not copied: {exc}")
            return
        if name not in self.metadata_files:
            self.metadata_files.append(name)

    def _problem(self, message: str) -> None:
        self._log.warning("%s", message)
        self.problems.append(message)
