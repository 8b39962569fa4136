"""Build logs of the OpenShift simulator: append-only, followable from any offset, and able to
hold a generated region (hundreds of MB) that is produced on demand and never kept in memory."""

from __future__ import annotations

import bisect
import hashlib
import threading
import time
from typing import Any, Callable, Optional


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

        def reveal(nbytes: int) -> None:
            with self._cond:
                if self.closed:
                    return
                grow = min(nbytes, segment.total - segment.visible)
                if grow > 0:
                    self._mark()
                    segment.visible += grow
                    self._size += grow
                    self._cond.notify_all()
        return reveal

    def _mark(self) -> None:
        self._marks.append((time.monotonic(), self._size))
        if len(self._marks) > self._MAX_MARKS:
            self._marks = self._marks[::2]

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


