"""Split a followed OpenShift build log into the files attached to the Koji task.

The orchestrator build interleaves its own lines with lines relayed from the worker build of
each platform; upstream Koji showed them as ``orchestrator.log`` and ``<platform>.log``
(rule: osbs1-contract.md §5.3). This module only turns bytes into files: which platform a
line relays is the line rule's (``lines.py``), which file a platform may write is
``platform_files.py``'s, where a whole block's lines go in a few C-level passes is
``blocks.py``'s; following the stream and uploading the files live elsewhere
(``follow.py``, ``upload.py``).

Bytes stay bytes: lines are split on ``\\n`` only and written back untouched, so invalid
UTF-8, ``\\r`` and odd whitespace in a build log survive exactly.

Build output is untrusted, so every step costs linear time whatever a line holds, memory is
bounded (a line longer than ``max_line_bytes`` is routed by its first ``max_line_bytes`` and
then streamed into its file in pieces cut at UTF-8 boundaries, never broken or moved to
another file), and user warnings are reduced to text XML-RPC can carry.
"""

from __future__ import annotations

import logging
import os
from typing import BinaryIO, Callable, Optional, Union

from koji_containerbuild.bytescan import count_newlines
from koji_containerbuild.prefixed import PrefixedLines

from .blocks import Writes, relayed_writes, routed_writes
from .lines import MAYBE_WORKER, WRAPPED, Relayed, split_relayed, unwrap
from .platform_files import (
    METADATA_TAG,
    ORCHESTRATOR_LOG,
    RESERVED_NAMES,
    USER_WARNINGS_LOG,
    PlatformFiles,
)
from .records import (
    MAX_USER_WARNING_BYTES,
    MAX_USER_WARNINGS,
    USER_WARNING_MARK,
    UserWarnings,
    copy_metadata,
    user_warning_message,
)

# Blocks of prefixed lines not tried in one pass after one that needed more (_write_prefixed)
_PREFIXED_RETRY = 8


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


def _reporter(log: logging.Logger, problems: list[str]) -> Callable[[str], None]:
    """Log a problem and keep it in ``problems``: a closure rather than a LogDemux method,
    so the PlatformFiles that holds it keeps no reference cycle to the demuxer (whose files
    are then closed as soon as it is dropped, as before)."""
    def problem(message: str) -> None:
        log.warning("%s", message)
        problems.append(message)
    return problem


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
        self.problems: list[str] = []
        self._log = logger or logging.getLogger(__name__)
        self._problem = _reporter(self._log, self.problems)
        # Checks main_log; a worker platform may not take over one of our own files.
        self._platforms = PlatformFiles(main_log, self._problem)
        self.outdir = outdir
        self._demux = demux
        self._main_log = main_log
        self._metadata_root = metadata_root
        self._collect_user_warnings = collect_user_warnings
        self._on_data = on_data
        self._max_line = max_line_bytes
        self._pending: list[bytes] = []     # the unterminated line, in pieces
        self._pending_size = 0
        # A line longer than max_line_bytes being streamed: its file, and the bytes of an
        # unfinished UTF-8 sequence held back from the last piece.
        self._long_file: Optional[str] = None
        self._long_held = b""
        self._long_skip = 0
        self._long_inner = b""
        self._files: dict[str, BinaryIO] = {}
        # Field -> file name, read directly by the hot loops; a miss asks _platform_file.
        self._platform_files: dict[bytes, str] = self._platforms.names
        self._platform_file: Callable[[bytes], str] = self._platforms.file_for
        self._warnings = UserWarnings()
        self._warnings_full = False
        self._closed = False
        self._prefixed_skip = 0
        self.user_warnings: list[str] = self._warnings.messages
        self.metadata_files: list[str] = []
        self.lines = 0
        self.bytes_in = 0
        os.makedirs(outdir, exist_ok=True)

    @property
    def files(self) -> dict[str, str]:
        """Log files written so far: name -> path."""
        return {name: os.path.join(self.outdir, name) for name in self._files}

    def feed(self, chunk: Union[bytes, PrefixedLines]) -> None:
        """Consume one chunk of the stream; lines that still carry a prefix to drop are
        split and stripped in one pass where they have the common shapes."""
        if self._closed:
            raise ValueError("LogDemux is closed")
        if isinstance(chunk, PrefixedLines):
            if self._write_prefixed(chunk):
                return
            chunk = chunk.stripped()
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
        match = WRAPPED.match(head) if self._demux else None
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
        warnings = self._collect_user_warnings and USER_WARNING_MARK in block
        if not warnings and not (self._demux and MAYBE_WORKER.search(block)):
            # Nothing to route or take out (the common case without demux, and chunks of
            # orchestrator lines): one write, no per-line work.
            self.lines += count_newlines(block)
            self._append(self._main_log, block)
            if self._on_data is not None:
                self._on_data()
            return
        if not (self._demux and not warnings
                and (self._write_relayed_block(block) or self._write_routed_block(block))):
            lines = block.split(b"\n")
            lines.pop()
            self._write_lines(lines)

    def _write_prefixed(self, piece: PrefixedLines) -> bool:
        """Demux complete lines that still carry a prefix (timestamps) with the relayed-line
        split, which drops the prefixes in the same pass; False, having written nothing,
        when the block needs more than that (then it is stripped and fed as bytes). After a
        block that did not fit, the next few are not tried: a log of other shapes pays the
        failed pass at most once in ``_PREFIXED_RETRY`` blocks."""
        block = piece.raw
        if self._prefixed_skip:
            self._prefixed_skip -= 1
            return False
        if (not self._demux or self._pending or self._long_file is not None
                or len(block) > self._max_line
                or (self._collect_user_warnings and USER_WARNING_MARK in block)):
            return False
        split = split_relayed(block, piece.prefix)
        if split is None or not self._write_relayed(split):
            self._prefixed_skip = _PREFIXED_RETRY
            return False
        size = len(block) - split.prefix_bytes
        self.bytes_in += size
        piece.accept(size)
        return True

    def _write_relayed_block(self, block: bytes) -> bool:
        """Demux a block whose every line is a relayed worker line or an orchestrator line
        in the single-spaced form (``split_relayed``); False, having written nothing, when
        a line is in another form or names a platform without a file of its own."""
        split = split_relayed(block)
        return split is not None and self._write_relayed(split)

    def _write_relayed(self, split: Relayed) -> bool:
        return self._apply(relayed_writes(split, self._file_for, self._main_log))

    def _write_routed_block(self, block: bytes) -> bool:
        """Demux a block without USER_WARNING records by the whole-block regex; False,
        having written nothing, when it needs the per-line path."""
        return self._apply(routed_writes(block, self._file_for, self._main_log))

    def _file_for(self, raw: bytes) -> str:
        name = self._platform_files.get(raw)
        return self._platform_file(raw) if name is None else name

    def _apply(self, writes: Optional[Writes]) -> bool:
        """Append a block's planned writes (``blocks.py``); False when there is no plan."""
        if writes is None:
            return False
        for name, data in writes.files.items():
            self._append(name, data)
        self.lines += writes.lines
        if self._on_data is not None:
            self._on_data()
        return True

    def _write_lines(self, lines: list[bytes]) -> None:
        """Route complete lines one by one, then write each file once (hot loop)."""
        main: list[bytes] = []
        batches: dict[str, list[bytes]] = {self._main_log: main}
        match = WRAPPED.match if self._demux else None
        warnings = self._collect_user_warnings
        for line in lines:
            wrapped = match(line) if match is not None else None
            if wrapped is None or wrapped[1] == b"-":
                if not (warnings and USER_WARNING_MARK in line
                        and self._take_user_warning(line)):
                    main.append(line)
                continue
            text = unwrap(wrapped, line)
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
