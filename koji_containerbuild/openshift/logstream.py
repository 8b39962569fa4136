"""Follow a build's log with exact resume after disconnects (contract §2.5, §7).

OpenShift answers every ``GET .../builds/NAME/log?follow=true`` with the log *from its first
byte*. So we count the bytes already handed to the caller and, on each reconnect, drop exactly
that many bytes of the re-sent log before yielding again: nothing is lost and nothing repeats,
even when the cut fell in the middle of a line. The last 4 KiB before the resume point are
compared with what the server re-sends there, to notice a log that changed under us.

osbs-client instead reconnects with ``sinceSeconds=<idle time>``: the server then sends every
line whose timestamp is within that window, at one-second resolution. Lines written in the
same second as the cut come again (duplicates), lines written while we were reconnecting can
fall before the window (loss), and a line cut in the middle is never completed. The byte
offset has none of these problems; its price is re-reading the prefix, which is local traffic.

The log is followed only once the build runs (OpenShift answers 500 for New/Pending builds,
and "not started" is not the end of a log). It ends when a stream closes cleanly and a GET
then shows a terminal phase; a stream that breaks, or closes while the build still runs, is
reopened, with backoff when it brought nothing new.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

import requests
import urllib3

from koji_containerbuild.openshift.client import (
    RUNNING_PHASES,
    TERMINAL_PHASES,
    OpenShiftClient,
    phase_of,
)
from koji_containerbuild.openshift.errors import (
    Cancelled,
    ConnectionFailed,
    Forbidden,
    OpenShiftError,
    Unauthorized,
    WaitTimeout,
    is_timeout,
    is_transient,
)
from koji_containerbuild.openshift.watch import (
    DEFAULT_MAX_FAILURES,
    StreamInterrupter,
    StreamStats,
    raise_if_cancelled,
    wait_for_build,
)

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 16384


class ResumeCursor:
    """How many bytes of the log were delivered, and how to skip them in a re-sent log."""

    TAIL_BYTES = 4096

    def __init__(self, stats: StreamStats) -> None:
        self.delivered = 0
        self.stats = stats
        self._tail = b''
        self._to_skip = 0
        self._resent_tail = bytearray()

    def restart(self) -> None:
        """A new connection starts: the server will re-send ``delivered`` known bytes first."""
        self._to_skip = self.delivered
        self._resent_tail = bytearray()

    @property
    def skipping(self) -> bool:
        return self._to_skip > 0

    def new_part(self, chunk: bytes) -> bytes:
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
                log.warning('the re-sent log differs from what was delivered before byte %d; '
                            'continuing from that offset', self.delivered)
        if chunk:
            self.delivered += len(chunk)
            self.stats.bytes_delivered += len(chunk)
            self._tail = (chunk[-self.TAIL_BYTES:] if len(chunk) >= self.TAIL_BYTES
                          else (self._tail + chunk)[-self.TAIL_BYTES:])
        return chunk


def _chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """Bytes as they arrive: chunked answers per chunk, others by ``read1`` (no waiting for a
    full ``chunk_size``)."""
    raw = response.raw
    read1 = None if getattr(raw, 'chunked', False) else _read1(raw)
    if read1 is None:
        yield from response.iter_content(chunk_size)
        return
    try:
        while True:
            data = read1(chunk_size)
            if not data:
                return
            yield data
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        raise requests.ConnectionError(exc) from exc


def _read1(raw: Any) -> Optional[Callable[[int], bytes]]:
    """``read1`` of the answer: at most n bytes, without waiting for more than have arrived.

    urllib3 >= 2.3 has it. Older ones (1.26 on RHEL 9 and Debian 12, 2.0-2.2) only read until
    ``n`` bytes or the end, which would hold a log line back until 16 KiB more came; there the
    http.client response underneath is read directly, when urllib3 has nothing to decode
    (no Content-Encoding). An answer that ends before its Content-Length is a broken
    connection, as urllib3 >= 2.3 reports it too. None: no such read, use ``iter_content``.
    """
    if hasattr(raw, 'read1'):
        return raw.read1
    fp = getattr(raw, '_fp', None)
    encoding = (raw.headers.get('Content-Encoding') or 'identity').strip().lower()
    if fp is None or not hasattr(fp, 'read1') or encoding != 'identity':
        return None

    def read1(amount: int) -> bytes:
        data = fp.read1(amount)
        missing = getattr(fp, 'length', None)
        if not data and missing:
            raise http.client.IncompleteRead(b'', missing)
        return data
    return read1


def follow_build_log(client: OpenShiftClient, name: str, *,
                     cancel: Optional[threading.Event] = None,
                     wait_deadline: Optional[float] = None,
                     chunk_size: int = DEFAULT_CHUNK_SIZE,
                     max_failures: int = DEFAULT_MAX_FAILURES,
                     stats: Optional[StreamStats] = None) -> Iterator[bytes]:
    """Yield the log of build ``name`` as it arrives, each byte exactly once, until it ends.

    Waits (a watch) for Running or a terminal phase first; ``wait_deadline`` bounds that wait
    (WaitTimeout). ``cancel`` stops it with Cancelled. Raises NotFound when the build goes
    away, and the last error after ``max_failures`` unproductive connections in a row.
    """
    stats = stats if stats is not None else StreamStats()
    build = wait_for_build(client, name, RUNNING_PHASES | TERMINAL_PHASES, cancel=cancel,
                           deadline=wait_deadline)
    cursor = ResumeCursor(stats)
    failures = 0
    with StreamInterrupter(cancel) as interrupter:
        while True:
            raise_if_cancelled(cancel, f'following the log of build {name}')
            before = cursor.delivered
            clean, idle, error = False, False, None
            cursor.restart()
            try:
                response = client.open_build_log(name)
                stats.connects += 1
                with contextlib.closing(response), interrupter.attached(response):
                    for chunk in _chunks(response, chunk_size):
                        raise_if_cancelled(cancel, f'following the log of build {name}')
                        new = cursor.new_part(chunk)
                        if new:
                            yield new
                    clean = True
            except (Cancelled, WaitTimeout):
                raise
            except requests.RequestException as exc:
                idle = is_timeout(exc)
                error = ConnectionFailed(f'log stream of build {name} broke: {exc}')
            except OpenShiftError as exc:
                error = exc
            raise_if_cancelled(cancel, f'following the log of build {name}')
            if clean and cursor.skipping:
                log.warning('log of build %s re-sent shorter than the %d bytes delivered',
                            name, cursor.delivered)
            build = client.get_build(name)
            terminal = phase_of(build) in TERMINAL_PHASES
            if terminal and clean:
                return
            if isinstance(error, (Unauthorized, Forbidden)):
                raise error  # no retry fixes credentials; never end the log quietly on them
            if terminal and error is not None and not is_transient(error):
                # OpenShift answers 400 "No logs are available" for builds cancelled or
                # failed before their pod ran: the log simply ends there.
                log.warning('log of build %s (%s) is not available: %s', name,
                            phase_of(build), error)
                return
            if cursor.delivered > before or idle:
                failures = 0
                continue
            failures += 1
            stats.failures += 1
            if failures > max_failures:
                if isinstance(error, ConnectionFailed) and cursor.delivered:
                    raise ConnectionFailed(
                        f'log stream of build {name} was cut {failures} times in a row before '
                        f'the re-sent log got past byte {cursor.delivered}, where it resumes') \
                        from error
                raise error or ConnectionFailed(
                    f'log stream of build {name} keeps ending without new output while the '
                    f'build is {phase_of(build)}')
            if client.pause(client.backoff(failures), cancel):
                raise_if_cancelled(cancel, f'following the log of build {name}')


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Complete lines (each with its ``\\n``) from arbitrary chunks; a trailing partial line
    is yielded last, as is."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        start = 0
        while True:
            end = pending.find(b'\n', start)
            if end < 0:
                break
            yield bytes(pending[start:end + 1])
            start = end + 1
        del pending[:start]
    if pending:
        yield bytes(pending)
