"""Where a followed build log resumes after a disconnect (contract §9).

The log is requested with ``timestamps=true``: each line then starts with the time the node
received it (RFC 3339, nanoseconds, UTC) and a space. After a disconnect the next request
asks for ``sinceTime=<second of the last line delivered>``; OpenShift passes that to the kubelet
at whole-second precision, so every line of that second comes again. A line is identified by
(timestamp, ordinal among the lines with that same timestamp), and the ones already delivered
are dropped. The timestamps are stripped: what the caller gets is the build's own bytes.

Each reconnect re-reads only the lines of one second, not the whole log, so the cost stays
linear and a stream cut after the same number of bytes every time still moves on (as long as
one second of log fits in a connection). If the node rotated the log file meanwhile, the
resumed stream no longer holds the last line delivered: the lines between it and the first one
re-read may be gone. That gap is reported once, with its time range, and never hidden.
Ordinals stay right across a rotation as long as the node never splits lines that share one
timestamp between two files (a runtime stamps and writes a read buffer at once; docker stamps
each line to the nanosecond). A rotation can also go unnoticed when the stream is reopened
exactly at a file boundary: then no line was lost.

Servers that ignore ``timestamps`` (the first line of the log has no timestamp prefix) get the
byte-prefix resume of ``ByteCursor``: such a server re-sends the log from its first byte, and
the bytes already delivered are skipped.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from dataclasses import dataclass
from typing import Callable, Optional, Union

from koji_containerbuild.bytescan import count_newlines
from koji_containerbuild.openshift.watch import StreamStats
from koji_containerbuild.prefixed import PrefixedLines

log = logging.getLogger(__name__)

# "2026-12-02T07:28:09.123456789+00:00" is the longest form: 35 bytes
MAX_PREFIX = 35
_TIMESTAMP = re.compile(rb'(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?'
                        rb'(Z|[+-]\d\d:\d\d)')
# A prefix after every newline; bounded quantifiers only, so linear in the input. The leading
# literal newline lets the regex engine skip to candidates (twice as fast as MULTILINE ``^``).
# (``(?:...|)``, not ``(?:...)?``: sre's general repeat made this pass a third slower.)
PREFIX = rb'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9}|)(?:Z|[+-]\d\d:\d\d) '
_PREFIXES = re.compile(rb'\n' + PREFIX)


def parse_timestamp(text: bytes) -> Optional[int]:
    """Nanoseconds since the epoch of an RFC 3339 timestamp (kubelet or docker form), or None."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = match.group(8)
    if zone != b'Z':
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[:1] == b'+' else -offset
    fraction = match.group(7) or b''
    return seconds * 1_000_000_000 + int(fraction.ljust(9, b'0') or b'0')


def since_time(nanoseconds: int) -> str:
    """``sinceTime`` for the second holding ``nanoseconds`` (what the kubelet gets anyway)."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(nanoseconds // 1_000_000_000))


def split_prefix(line_start: bytes) -> tuple[Optional[bytes], int]:
    """(timestamp text, length of the prefix with its space) at the start of a line, or
    (None, 0) when the line has no timestamp prefix."""
    space = line_start.find(b' ', 0, MAX_PREFIX + 1)
    if space < 20 or _TIMESTAMP.fullmatch(line_start, 0, space) is None:
        return None, 0
    return line_start[:space], space + 1


@dataclass(frozen=True)
class LogGap:
    """Lines lost between two delivered ones: rotated out before they could be read."""

    after: bytes           # timestamp of the last line delivered before the gap
    before: bytes          # timestamp of the first line delivered after it
    seen: int = 1          # lines stamped ``after`` that were delivered (the rest are lost)
    cut_line: bool = False  # the line being delivered when the stream broke stays incomplete

    def describe(self, name: str) -> str:
        text = (f'log of build {name}: the lines written between {self.after.decode()} '
                f'(after its line {self.seen}) and {self.before.decode()} were rotated out by '
                'the node before they could be read; the task log has a gap there')
        if self.cut_line:
            text += ' (its last line before the gap is incomplete)'
        return text


@dataclass
class _Line:
    """Identity of one log line: its timestamp text and ordinal among equal timestamps."""

    stamp: bytes
    ordinal: int
    key: int  # parse_timestamp(stamp)

    def before_or_at(self, other: _Line) -> bool:
        return (self.key, self.ordinal) <= (other.key, other.ordinal)


class TimestampCursor:
    """Strips timestamp prefixes, remembers the last line delivered, and drops what a resumed
    stream sends again. ``restart()`` before each connection, ``feed()`` its bytes,
    ``finish()`` once the log has ended."""

    HOLD_BYTES = 1 << 20  # an unfinished line shorter than this waits for its end

    def __init__(self, stats: StreamStats, on_gap: Callable[[LogGap], None]) -> None:
        self.stats = stats
        self.on_gap = on_gap
        self.delivered = 0          # content bytes handed to the caller
        self.last: Optional[_Line] = None      # last line delivered whole
        self.open: Optional[_Line] = None      # line delivered in part (longer than HOLD_BYTES)
        self.open_bytes = 0                     # ... and how many of its content bytes
        self._pending = bytearray()             # unfinished line of this connection, raw
        self._stamp: Optional[bytes] = None     # timestamp of the previous line in this connection
        self._ordinal = -1
        self._key = 0
        self._resuming = False
        self._resent = False                    # this connection re-sent a delivered line
        self._current: Optional[_Line] = None   # line of this connection being passed through
        self._current_skip = 0                  # its bytes still to drop (delivered before)
        self._warned_bare = False

    # -- connection life -------------------------------------------------------------------

    def since(self) -> Optional[str]:
        """``sinceTime`` for the next connection (None: from the start)."""
        line = self.open or self.last
        return None if line is None else since_time(line.key)

    def restart(self) -> None:
        self._pending = bytearray()
        self._stamp, self._ordinal, self._key = None, -1, 0
        self._resuming = self.open is not None or self.last is not None
        self._resent = False
        self._current, self._current_skip = None, 0

    def feed(self, chunk: bytes, keep_prefixed: bool = False) -> Union[bytes, PrefixedLines]:
        """The new content in ``chunk`` with the timestamps stripped; with ``keep_prefixed``,
        a block of complete lines that needs no resume work comes still stamped, for a
        consumer that strips the stamps in its own pass (``prefixed.py``)."""
        if keep_prefixed and self._current is None and not self._resuming:
            last_newline = chunk.rfind(b'\n')
            if 0 <= last_newline and len(chunk) - last_newline <= self.HOLD_BYTES:
                block = bytes(self._pending) + chunk[:last_newline + 1] if self._pending \
                    else chunk[:last_newline + 1]
                self._pending = bytearray(chunk[last_newline + 1:])
                return PrefixedLines(block, PREFIX, self._accept_block, self._strip_block)
        out: list[bytes] = []
        data = chunk
        if self._current is not None:           # the rest of a long line being passed through
            end = data.find(b'\n')
            piece = data if end < 0 else data[:end + 1]
            out.append(self._pass_through(piece, complete=end >= 0))
            data = b'' if end < 0 else data[end + 1:]
        last_newline = data.rfind(b'\n')
        if last_newline >= 0:
            block = bytes(self._pending) + data[:last_newline + 1] if self._pending \
                else data[:last_newline + 1]
            self._pending = bytearray(data[last_newline + 1:])
            out.append(self._lines(block))
        else:
            self._pending += data
        if len(self._pending) > self.HOLD_BYTES:
            piece, self._pending = bytes(self._pending), bytearray()
            out.append(self._start_line(piece, complete=False))
        return self._deliver(b''.join(out))

    def finish(self) -> bytes:
        """The log ended for good: an unfinished last line is delivered as it is."""
        if not self._pending:
            return b''
        piece, self._pending = bytes(self._pending), bytearray()
        return self._deliver(self._start_line(piece, complete=False))

    def _deliver(self, data: bytes) -> bytes:
        self.delivered += len(data)
        self.stats.bytes_delivered += len(data)
        return data

    def _strip_block(self, block: bytes) -> bytes:
        return self._deliver(self._lines(block))

    def _accept_block(self, block: bytes, stripped_size: int) -> None:
        """The consumer found a prefix on every line of ``block`` and dropped them."""
        self._note_bulk(block)
        self.delivered += stripped_size
        self.stats.bytes_delivered += stripped_size

    # -- lines -----------------------------------------------------------------------------

    def _lines(self, block: bytes) -> bytes:
        """Complete lines: in bulk when every one has a prefix and nothing is re-sent."""
        if not self._resuming:
            stripped, count = _PREFIXES.subn(b'\n', b'\n' + block)
            lines = count_newlines(block)
            if count == lines:
                self._note_bulk(block)
                return stripped[1:]
        out = []
        start = 0
        while start < len(block):
            end = block.index(b'\n', start) + 1
            out.append(self._start_line(block[start:end], complete=True))
            start = end
        return b''.join(out)

    def _note_bulk(self, block: bytes) -> None:
        """Track the last line of a block of prefixed lines without walking it line by line:
        equal timestamps are adjacent, so its ordinal is the count of its timestamp."""
        start = block.rfind(b'\n', 0, len(block) - 1) + 1
        stamp = block[start:block.index(b' ', start)]
        head = stamp + b' '
        same, end = 1, start - 1            # lines stamped `stamp`; newline before the first
        while 0 < end and same < 8:        # (usually one: a walk back beats a whole count)
            begin = block.rfind(b'\n', 0, end) + 1
            if not block.startswith(head, begin):
                break
            same, end = same + 1, begin - 1
        else:
            if 0 < end:
                same = block.count(b'\n' + head) + (1 if block.startswith(head) else 0)
        if stamp == self._stamp:
            self._ordinal += same
        else:
            self._stamp, self._ordinal = stamp, same - 1
            self._key = parse_timestamp(stamp) or 0
        self.last = _Line(stamp, self._ordinal, self._key)
        self.open, self.open_bytes = None, 0

    def _identify(self, stamp: Optional[bytes]) -> _Line:
        if stamp is None:   # no prefix although the server gave them: part of the line before
            if not self._warned_bare:
                self._warned_bare = True
                log.warning('a log line without a timestamp prefix among timestamped ones; '
                            'it is kept with the timestamp of the line before it')
            stamp = self._stamp or b''
        if stamp == self._stamp:
            self._ordinal += 1
        else:
            self._stamp, self._ordinal = stamp, 0
            self._key = parse_timestamp(stamp) or self._key
        return _Line(stamp, self._ordinal, self._key)

    def _start_line(self, raw: bytes, complete: bool) -> bytes:
        """A line from its first byte (``complete``: with its newline)."""
        stamp, skip = split_prefix(raw[:MAX_PREFIX + 1])
        line = self._identify(stamp)
        content = raw[skip:]
        self._current, self._current_skip = line, 0
        if self._resuming:
            known = self.open or self.last
            assert known is not None
            if line.before_or_at(known):
                self._resent = True
                if self.open is not None and (line.key, line.ordinal) == (
                        self.open.key, self.open.ordinal):
                    self._current_skip = self.open_bytes
                else:
                    self._current_skip = -1     # delivered whole before: drop it all
            else:
                self._resuming = False
                prefix = b''
                if not self._resent:
                    prefix = self._report_gap(line)
                return prefix + self._pass_through(content, complete)
        return self._pass_through(content, complete)

    def _pass_through(self, piece: bytes, complete: bool) -> bytes:
        """Bytes of the current line: what was delivered before is dropped, the rest kept."""
        line = self._current
        assert line is not None
        if self._current_skip < 0:
            self.stats.bytes_skipped += len(piece)
            out = b''
        else:
            drop = min(self._current_skip, len(piece))
            self._current_skip -= drop
            self.stats.bytes_skipped += drop
            out = piece[drop:]
        if complete:
            self._current = None
            if self._current_skip >= 0:     # delivered (the rest of) it: now the last line
                self.last = line
                self.open, self.open_bytes = None, 0
        elif out or self._current_skip == 0:
            if self.open is None or (line.key, line.ordinal) != (self.open.key,
                                                                    self.open.ordinal):
                self.open, self.open_bytes = line, 0
            self.open_bytes += len(out)
        return out

    def _report_gap(self, first: _Line) -> bytes:
        """The resumed stream does not hold the last line delivered: it was rotated out."""
        known = self.open or self.last
        assert known is not None
        cut = self.open is not None
        self.stats.gaps += 1
        self.on_gap(LogGap(known.stamp, first.stamp, known.ordinal + 1, cut_line=cut))
        if cut:
            self.open, self.open_bytes = None, 0
            return b'\n'  # end the incomplete line so the next one is not glued to it
        return b''


class ByteCursor:
    """Byte-prefix resume, for servers that ignore ``timestamps``: they re-send the log from
    its first byte, and the bytes already delivered are skipped. The last 4 KiB before the
    resume point are compared with what comes again, to notice a log that changed under us
    (e.g. rotated): that is reported, since lines may then be lost or repeated."""

    TAIL_BYTES = 4096

    def __init__(self, stats: StreamStats, on_mismatch: Callable[[int], None]) -> None:
        self.delivered = 0
        self.stats = stats
        self.on_mismatch = on_mismatch
        self._tail = b''
        self._to_skip = 0
        self._resent_tail = bytearray()

    def since(self) -> Optional[str]:
        return None

    def restart(self) -> None:
        """A new connection starts: the server will re-send ``delivered`` known bytes first."""
        self._to_skip = self.delivered
        self._resent_tail = bytearray()

    @property
    def skipping(self) -> bool:
        return self._to_skip > 0

    def feed(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` the caller has not seen yet."""
        if self._to_skip:
            skip = min(len(chunk), self._to_skip)
            offset = self.delivered - self._to_skip  # where this chunk starts in the log
            tail_start = self.delivered - len(self._tail)
            if offset + skip > tail_start:
                self._resent_tail += chunk[max(0, tail_start - offset):skip]
            self._to_skip -= skip
            self.stats.bytes_skipped += skip
            chunk = chunk[skip:]
            if not self._to_skip and bytes(self._resent_tail) != self._tail:
                self.stats.prefix_mismatches += 1
                self.on_mismatch(self.delivered)
        if chunk:
            self.delivered += len(chunk)
            self.stats.bytes_delivered += len(chunk)
            self._tail = (chunk[-self.TAIL_BYTES:] if len(chunk) >= self.TAIL_BYTES
                          else (self._tail + chunk)[-self.TAIL_BYTES:])
        return chunk

    def finish(self) -> bytes:
        return b''


class AutoCursor:
    """Resume by timestamps, unless the first line of a connection shows that the server
    ignores them (from the start, or since a reconnect reached another API server): then by
    byte prefix, from the bytes delivered so far. Same interface as the two cursors."""

    def __init__(self, stats: StreamStats, on_gap: Callable[[LogGap], None],
                 on_mismatch: Callable[[int], None]) -> None:
        self.stats = stats
        self.cursor: Optional[Union[TimestampCursor, ByteCursor]] = None
        self._on_gap, self._on_mismatch = on_gap, on_mismatch
        self._head = bytearray()
        self._checking = True   # the first line of this connection is still to be looked at

    @property
    def mode(self) -> Optional[str]:
        """'timestamps', 'bytes', or None while undecided."""
        if self.cursor is None:
            return None
        return 'timestamps' if isinstance(self.cursor, TimestampCursor) else 'bytes'

    @property
    def delivered(self) -> int:
        return 0 if self.cursor is None else self.cursor.delivered

    @property
    def skipping(self) -> bool:
        return isinstance(self.cursor, ByteCursor) and self.cursor.skipping

    def since(self) -> Optional[str]:
        return None if self.cursor is None else self.cursor.since()

    def restart(self) -> None:
        self._head = bytearray()
        self._checking = not isinstance(self.cursor, ByteCursor)
        if self.cursor is not None:
            self.cursor.restart()

    def feed(self, chunk: bytes, keep_prefixed: bool = False) -> Union[bytes, PrefixedLines]:
        if self._checking:
            self._head += chunk
            if b'\n' not in self._head and len(self._head) <= MAX_PREFIX:
                return b''
            chunk, self._head = bytes(self._head), bytearray()
            self._decide(chunk)
        if isinstance(self.cursor, TimestampCursor):
            return self.cursor.feed(chunk, keep_prefixed)
        assert self.cursor is not None
        return self.cursor.feed(chunk)

    def finish(self) -> bytes:
        if self._checking and self._head:
            head, self._head = bytes(self._head), bytearray()
            self._decide(head)
            assert self.cursor is not None
            return self.cursor.feed(head) + self.cursor.finish()
        return b'' if self.cursor is None else self.cursor.finish()

    def _decide(self, head: bytes) -> None:
        self._checking = False
        stamp, _ = split_prefix(head[:MAX_PREFIX + 1])
        if stamp is not None:
            if self.cursor is None:
                self.cursor = TimestampCursor(self.stats, self._on_gap)
                self.cursor.restart()
            return
        delivered = self.delivered
        self.cursor = ByteCursor(self.stats, self._on_mismatch)
        self.cursor.delivered = delivered   # a server without timestamps re-sends it all
        self.cursor.restart()
