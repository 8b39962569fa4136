"""Build logs of the OpenShift simulator: append-only, followable from any offset, and able to
hold a generated region (hundreds of MB) that is produced on demand and never kept in memory.

Every line has a stable timestamp, as a container runtime gives it (``timestamps=true``): the
time of the write that held its first byte. Plain appends are one write; a generated region
is stamped as a runtime reading it in ``STAMP_QUANTUM``-byte buffers would, spread evenly over
the time since the region last grew. Rotation (``current_file_start``) serves new requests
only the file being written, which starts at a line boundary, as kubelet and docker do.
"""

from __future__ import annotations

import bisect
import calendar
import hashlib
import re
import threading
import time
from typing import Any, Callable, Optional

from koji_containerbuild.sandbox.openshift.store import ApiError

STAMP_QUANTUM = 8192   # a runtime stamps what it read at once (conmon reads 8 KiB buffers)
_SINCE_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def parse_since_time(text: str) -> Optional[int]:
    """``sinceTime`` (RFC 3339) in whole seconds since the epoch, as the kubelet gets it from
    the API server: fractions are dropped. None when it is not RFC 3339."""
    match = _SINCE_TIME.fullmatch(text)
    if match is None:
        return None
    parts = [int(g) for g in match.groups()[:6]]
    try:
        seconds = calendar.timegm(time.struct_time((*parts, 0, 1, 0)))
    except (ValueError, OverflowError):
        return None
    zone = match.group(8)
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds


def format_timestamp(ns: int) -> bytes:
    """RFC 3339 with nanoseconds as the kubelet writes it (Go's RFC3339Nano: trailing zeros of
    the fraction dropped, no fraction at all on a whole second)."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)).encode()
    fraction = (b"%09d" % (ns % 1_000_000_000)).rstrip(b"0")
    return whole + (b"." + fraction if fraction else b"") + b"Z"


class _LazySegment:
    """A deterministic generated region: bytes are produced on demand, never kept."""

    def __init__(self, total: int, generate: Callable[[int, int], bytes]):
        self.total, self.generate, self.visible = total, generate, 0

    def read(self, offset: int, length: int) -> bytes:
        length = min(length, self.visible - offset)
        return self.generate(offset, length) if length > 0 else b""


class LogBuffer:
    """Append-only build log. Followers read from any offset and block until it grows."""

    _MAX_MARKS = 65536

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._starts: list[int] = []        # start offset of each segment
        self._segments: list[Any] = []      # bytearray or _LazySegment
        self._size = 0
        self._marks: list[tuple[float, int]] = []   # (monotonic time, offset) for sinceSeconds
        self.closed = False
        self.delivered = 0      # furthest offset any log connection reached (log_cut_bytes)
        self._digest: Optional[tuple[int, str]] = None
        # timestamps: write i starts at _stamp_offsets[i]; its lines are stamped from
        # _stamp_first[i] to _stamp_last[i] (equal for a plain write)
        self._stamp_offsets: list[int] = []
        self._stamp_first: list[int] = []
        self._stamp_last: list[int] = []
        self._rotations: dict[int, int] = {}
        self.clock: Callable[[], int] = time.time_ns

    @property
    def size(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        with self._cond:
            if self.closed or not data:
                return
            last = self._segments[-1] if self._segments else None
            if isinstance(last, bytearray):
                last.extend(data)
            else:
                self._starts.append(self._size)
                self._segments.append(bytearray(data))
            self._mark()
            now = self._now()
            self._stamp(now, now)
            self._size += len(data)
            self._cond.notify_all()

    def append_lazy(self, total: int, generate: Callable[[int, int], bytes]
                    ) -> Callable[[int], None]:
        """Add a generated region of ``total`` bytes; returns ``reveal(n)`` to make more visible."""
        segment = _LazySegment(total, generate)
        with self._cond:
            if self.closed:
                return lambda n: None
            self._starts.append(self._size)
            self._segments.append(segment)
            grown = [self._now()]

        def reveal(nbytes: int) -> None:
            with self._cond:
                if self.closed:
                    return
                grow = min(nbytes, segment.total - segment.visible)
                if grow > 0:
                    self._mark()
                    now = self._now()
                    self._stamp(max(grown[0], self._stamp_last[-1] + 1 if self._stamp_last
                                    else 0), now)
                    grown[0] = now
                    segment.visible += grow
                    self._size += grow
                    self._cond.notify_all()
        return reveal

    def _mark(self) -> None:
        self._marks.append((time.monotonic(), self._size))
        if len(self._marks) > self._MAX_MARKS:
            self._marks = self._marks[::2]

    def _now(self) -> int:
        """Wall-clock nanoseconds, never before the last stamp (lines stay in time order)."""
        now = self.clock()
        return max(now, self._stamp_last[-1]) if self._stamp_last else now

    def _stamp(self, first: int, last: int) -> None:
        """A write starts at the current size; a plain one that shares the last plain write's
        time joins it (a stamp must never change once a line has it)."""
        last = max(first, last)
        if (self._stamp_first and first == last == self._stamp_first[-1]
                == self._stamp_last[-1]):
            return
        self._stamp_offsets.append(self._size)
        self._stamp_first.append(first)
        self._stamp_last.append(last)

    def _stamp_at(self, offset: int) -> tuple[int, int]:
        """(timestamp of a line starting at ``offset``, next offset where it may change)."""
        index = bisect.bisect_right(self._stamp_offsets, offset) - 1
        if index < 0:
            return (self._stamp_first[0] if self._stamp_first else 0), (
                self._stamp_offsets[0] if self._stamp_offsets else offset + 1)
        start, first, last = (self._stamp_offsets[index], self._stamp_first[index],
                              self._stamp_last[index])
        end = (self._stamp_offsets[index + 1] if index + 1 < len(self._stamp_offsets)
               else None)
        if first == last:
            return first, end if end is not None else 1 << 62
        length = (end if end is not None else self._size) - start
        quantum = (offset - start) // STAMP_QUANTUM * STAMP_QUANTUM
        upto = start + quantum + STAMP_QUANTUM
        return (first + quantum * (last - first) // max(1, length),
                min(upto, end) if end is not None else upto)

    def timestamp_of(self, offset: int) -> int:
        """Nanoseconds of the line that starts at ``offset``."""
        with self._cond:
            return self._stamp_at(offset)[0]

    def line_start(self, offset: int) -> Optional[int]:
        """The first line start at or after ``offset``; None if that line has not begun."""
        with self._cond:
            if offset <= 0:
                return 0
            pos, window = offset - 1, 4096
            while pos < self._size:
                data = self.read(pos, window)
                found = data.find(b"\n")
                if found >= 0:
                    return pos + found + 1
                pos, window = pos + len(data), min(window * 4, 1 << 20)
            return None

    def _next_line_start(self) -> int:
        """Where the next line written will start: the end, or the start of the unfinished
        last line (looked for in its last MiB only)."""
        low = max(0, self._size - (1 << 20))
        found = self.read(low, self._size - low).rfind(b"\n")
        return low + found + 1 if found >= 0 or low == 0 else self._size

    def current_file_start(self, rotate_bytes: int) -> int:
        """Where the file being written begins when the log rotates every ``rotate_bytes``:
        at the first line at or after the last multiple of ``rotate_bytes`` that starts a new
        write (a runtime's write never spans two files, so lines stamped alike stay together).
        """
        with self._cond:
            k = self._size // rotate_bytes
            while k > 0:
                start = self._rotations.get(k)
                if start is None:
                    start = self._write_start(k * rotate_bytes)
                    if start is not None and start < self._size:
                        self._rotations[k] = start
                if start is not None:
                    return start
                k -= 1
            return 0

    def _write_start(self, offset: int) -> Optional[int]:
        """The first line at or after ``offset`` stamped differently from the line before."""
        start = self.line_start(offset)
        previous = None
        if start:
            low = max(0, start - (1 << 20))
            found = self.read(low, start - 1 - low).rfind(b"\n")
            previous = low + found + 1 if found >= 0 or low == 0 else None
        while start is not None and start < self._size and previous is not None:
            if self._stamp_at(start)[0] != self._stamp_at(previous)[0]:
                return start
            previous, start = start, self.line_start(start + 1)
        return start

    def offset_since_time(self, seconds: int) -> int:
        """The first line stamped at or after ``seconds`` (or where the next line will be)."""
        since = seconds * 1_000_000_000
        with self._cond:
            index = bisect.bisect_left(self._stamp_last, since)
            if index >= len(self._stamp_last):
                return self._next_line_start()
            start, first, last = (self._stamp_offsets[index], self._stamp_first[index],
                                  self._stamp_last[index])
            at = start
            if first < since:   # a spread-out write: the first quantum stamped late enough
                end = (self._stamp_offsets[index + 1] if index + 1 < len(self._stamp_offsets)
                       else self._size)
                length = max(1, end - start)
                quanta = -(-(since - first) * length // (last - first))  # ceiling
                at = min(end, start + -(-quanta // STAMP_QUANTUM) * STAMP_QUANTUM)
            candidate = self.line_start(at)
            while candidate is not None and candidate < self._size:
                if self._stamp_at(candidate)[0] >= since:
                    return candidate
                candidate = self.line_start(candidate + 1)
            return candidate if candidate is not None else self._next_line_start()

    def stamp_lines(self, offset: int, data: bytes, at_line_start: bool) -> bytes:
        """``data`` read at ``offset`` with each line's timestamp and a space in front of it.
        A line that starts right after ``data`` gets its prefix with the next read."""
        if not data:
            return data
        with self._cond:
            out = []
            if at_line_start:
                out.append(format_timestamp(self._stamp_at(offset)[0]) + b" ")
            end = offset + len(data)
            start = offset + 1      # line starts inside data follow a newline of data
            while start < end:
                stamp, upto = self._stamp_at(start)
                upto = min(upto, end)
                piece = data[start - 1 - offset:upto - 1 - offset]
                out.append(piece.replace(b"\n", b"\n" + format_timestamp(stamp) + b" "))
                start = upto
            out.append(data[-1:])
            return b"".join(out)

    def note_delivered(self, offset: int) -> None:
        with self._cond:
            self.delivered = max(self.delivered, offset)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def offset_since(self, seconds: float) -> int:
        """First offset written at most ``seconds`` ago (kubelet ``sinceSeconds``)."""
        limit = time.monotonic() - seconds
        with self._cond:
            for when, offset in self._marks:
                if when >= limit:
                    return offset
            return self._size

    def read(self, offset: int, length: int) -> bytes:
        with self._cond:
            end = min(self._size, offset + length)
            out = bytearray()
            index = max(0, bisect.bisect_right(self._starts, offset) - 1)
            while offset < end and index < len(self._segments):
                start, seg = self._starts[index], self._segments[index]
                seg_len = len(seg) if isinstance(seg, bytearray) else seg.visible
                if offset < start + seg_len:
                    take = min(end, start + seg_len) - offset
                    if isinstance(seg, bytearray):
                        out += seg[offset - start:offset - start + take]
                    else:
                        out += seg.read(offset - start, take)
                    offset += take
                index += 1
            return bytes(out)

    def wait_beyond(self, offset: int, timeout: float,
                    stop: Optional[threading.Event] = None) -> bool:
        """Block until the log is longer than ``offset`` or closed; False on timeout/stop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._size <= offset and not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop is not None and stop.is_set()):
                    return False
                self._cond.wait(remaining)
            return True

    def iter_chunks(self, chunk: int = 1 << 20):
        offset = 0
        while offset < self._size:
            data = self.read(offset, chunk)
            if not data:
                break
            offset += len(data)
            yield data

    def digest(self) -> tuple[int, str]:
        if self._digest is not None:
            return self._digest
        closed = self.closed
        sha, size = hashlib.sha256(), 0
        for data in self.iter_chunks():
            sha.update(data)
            size += len(data)
        result = (size, sha.hexdigest())
        if closed:
            self._digest = result
        return result


def log_request_start(buffer: LogBuffer, query: dict[str, str], faults: Any) -> tuple[bool, int]:
    """(whether lines get timestamps, first offset served) for a log request: only the
    current file once the log rotated; ``sinceTime`` at whole seconds, as the API
    server hands it to the kubelet. ``log_ignore_timestamps`` plays a server that knows
    neither option."""
    known = not faults.log_ignore_timestamps
    stamp = known and query.get("timestamps") in ("true", "1")
    since_time = query.get("sinceTime") if known else None
    if since_time is not None and "sinceSeconds" in query:
        raise ApiError(422, "Invalid", "at most one of `sinceTime` or `sinceSeconds` may be "
                                       "specified")
    start = buffer.current_file_start(faults.log_rotate_bytes) if faults.log_rotate_bytes \
        else 0
    if since_time is not None:
        seconds = parse_since_time(since_time)
        if seconds is None:
            raise ApiError(400, "BadRequest", f'parsing time "{since_time}" as RFC 3339 '
                                              "failed")
        return stamp, max(start, buffer.offset_since_time(seconds))
    if "sinceSeconds" in query:
        offset = buffer.offset_since(float(query["sinceSeconds"]))
        if stamp:
            offset = buffer.line_start(offset) or buffer.size
        return stamp, max(start, offset)
    return stamp, start
