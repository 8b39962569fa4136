"""Follow a build's log and resume it after disconnects, each line once (contract §2.5, §9).

The log is requested with ``timestamps=true``; after a disconnect the next request starts at
the second of the last line delivered (``sinceTime``), and ``logresume`` drops what comes again
and strips the timestamps, so the caller gets the build's own bytes. A server that ignores
``timestamps`` re-sends the whole log instead and the bytes already delivered are skipped.
Lines rotated out by the node before they could be read are reported (``logger``) with their
time range: the task log then has a gap, never a silent one.

osbs-client instead reconnects with ``sinceSeconds=<idle time>``: lines written in the same
second as the cut come again (duplicates), lines written while reconnecting can fall before
the window (loss), and a line cut in the middle is never completed.

The log is followed only once the build runs (OpenShift answers 500 for New/Pending builds,
and "not started" is not the end of a log). It ends when a stream closes cleanly and a GET
then shows a terminal phase; a stream that breaks, or closes while the build still runs, is
reopened, with backoff when it brought nothing new.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Optional, Union

import requests

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
from koji_containerbuild.openshift.logresume import AutoCursor, LogGap
from koji_containerbuild.openshift.streaming import response_chunks
from koji_containerbuild.openshift.watch import (
    DEFAULT_MAX_FAILURES,
    StreamStats,
    closed_on_cancel,
    raise_if_cancelled,
    wait_for_build,
)
from koji_containerbuild.prefixed import PrefixedLines

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 16384


def follow_build_log(client: OpenShiftClient, name: str, *,
                     cancel: Optional[threading.Event] = None,
                     wait_deadline: Optional[float] = None,
                     chunk_size: int = DEFAULT_CHUNK_SIZE,
                     max_failures: int = DEFAULT_MAX_FAILURES,
                     stats: Optional[StreamStats] = None,
                     logger: Optional[logging.Logger] = None,
                     keep_prefixed: bool = False) -> Iterator[Union[bytes, PrefixedLines]]:
    """Yield the log of build ``name`` as it arrives, each byte once, until it ends.

    Waits (a watch) for Running or a terminal phase first; ``wait_deadline`` bounds that wait
    (WaitTimeout). ``cancel`` stops it with Cancelled (a ``CancelEvent`` closes a blocked
    read at once). Raises NotFound when the build goes away, and the last error after
    ``max_failures`` unproductive connections in a row. Gaps and a re-sent log that differs
    are reported as warnings to ``logger`` (the task's plugin log), this module's otherwise.
    With ``keep_prefixed``, blocks of complete lines may come as ``PrefixedLines`` still
    carrying their timestamps, each to be stripped or accepted before the next is asked for.
    """
    stats = stats if stats is not None else StreamStats()
    report = logger or log
    build = wait_for_build(client, name, RUNNING_PHASES | TERMINAL_PHASES, cancel=cancel,
                           deadline=wait_deadline)

    def on_gap(gap: LogGap) -> None:
        report.warning('%s', gap.describe(name))

    def on_mismatch(offset: int) -> None:
        report.warning('log of build %s: the re-sent log differs from what was delivered '
                       'before byte %d (rotated?); continuing from that offset, lines may be '
                       'missing or repeated there', name, offset)

    cursor = AutoCursor(stats, on_gap, on_mismatch)
    failures = 0
    while True:
        raise_if_cancelled(cancel, f'following the log of build {name}')
        before = cursor.delivered
        clean, idle, error = False, False, None
        cursor.restart()
        try:
            response = client.open_build_log(name, timestamps=True, since_time=cursor.since())
            stats.connects += 1
            chunks = response_chunks(response, chunk_size)   # closed by a call: streaming.py
            with contextlib.closing(response), closed_on_cancel(cancel, response), \
                    contextlib.closing(chunks):
                for chunk in chunks:
                    raise_if_cancelled(cancel, f'following the log of build {name}')
                    mode = cursor.mode
                    new = cursor.feed(chunk, keep_prefixed)
                    if mode != 'bytes' and cursor.mode == 'bytes':
                        report.info('log of build %s: the server ignores timestamps=true; '
                                    'resuming by byte offset instead', name)
                    if new:
                        yield new
                        if isinstance(new, PrefixedLines) and not new.settled:
                            raise RuntimeError('the consumer neither stripped nor accepted '
                                               'a block of timestamped lines')
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
            report.warning('log of build %s re-sent shorter than the %d bytes delivered',
                           name, cursor.delivered)
        build = client.get_build(name)
        terminal = phase_of(build) in TERMINAL_PHASES
        if terminal and clean:
            rest = cursor.finish()  # a last line without a newline
            if rest:
                yield rest
            return
        if isinstance(error, (Unauthorized, Forbidden)):
            raise error  # no retry fixes credentials; never end the log quietly on them
        if terminal and error is not None and not is_transient(error):
            # OpenShift answers 400 "No logs are available" for builds cancelled or
            # failed before their pod ran: the log simply ends there.
            report.warning('log of build %s (%s) is not available: %s', name,
                           phase_of(build), error)
            return
        if cursor.delivered > before or idle:
            failures = 0
            continue
        failures += 1
        stats.failures += 1
        if failures > max_failures:
            if isinstance(error, ConnectionFailed) and cursor.delivered:
                where = (f'the lines of {cursor.since()}' if cursor.since()
                         else f'byte {cursor.delivered}')
                raise ConnectionFailed(
                    f'log stream of build {name} was cut {failures} times in a row before '
                    f'the re-sent log got past {where}, where it resumes') from error
            raise error or ConnectionFailed(
                f'log stream of build {name} keeps ending without new output while the '
                f'build is {phase_of(build)}')
        if client.pause(client.backoff(failures), cancel):
            raise_if_cancelled(cancel, f'following the log of build {name}')
