"""Wait for a build to reach one of a set of phases by watching it (contract §2.4, §7).

``GET .../builds?watch=true&fieldSelector=metadata.name=NAME`` streams JSON events. After
every (re)connect a fresh GET of the build runs *after* the watch is open, so a change made
between two connections is never missed (osbs-client's OSBS-8325 fix). A stream that ends or
idles past the read timeout is reopened at once; failures (5xx, broken connections, streams
that die immediately) back off exponentially and give up after ``max_failures`` in a row.
A ``CancelEvent`` closes the open stream when it is set, so a blocked read returns at once
instead of at the next event; nothing polls it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

import requests

from koji_containerbuild.openshift.client import OpenShiftClient, phase_of
from koji_containerbuild.openshift.errors import (
    Cancelled,
    ConnectionFailed,
    NotFound,
    OpenShiftError,
    WaitTimeout,
    is_timeout,
    is_transient,
)
from koji_containerbuild.openshift.streaming import response_chunks, split_lines

log = logging.getLogger(__name__)

# A stream that lived this long, or brought an event, was healthy: reopen it without waiting.
HEALTHY_STREAM_SECONDS = 1.0
DEFAULT_MAX_FAILURES = 8


@dataclass
class StreamStats:
    """What following a watch or a log cost: for logs, benchmarks and tests."""

    connects: int = 0
    failures: int = 0
    events: int = 0
    bytes_delivered: int = 0
    bytes_skipped: int = 0
    prefix_mismatches: int = 0
    gaps: int = 0

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)


def shutdown_response(response: Any) -> None:
    """Make a read blocked on ``response`` (in another thread) return now."""
    raw = getattr(response, 'raw', None)
    with contextlib.suppress(AttributeError, ValueError, RuntimeError, OSError):
        raw.shutdown()  # urllib3 >= 2.3 shuts the socket's reading side down
        return
    connection = getattr(raw, '_connection', None) or getattr(raw, 'connection', None)
    sock = getattr(connection, 'sock', None)
    if sock is None:
        # urllib3 < 2.3 (1.26 on RHEL 9 and Debian 12): for a "Connection: close" answer,
        # http.client hands the socket to the response; it sits under the response's file
        reader = getattr(getattr(raw, '_fp', None), 'fp', None)
        sock = getattr(getattr(reader, 'raw', None), '_sock', None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class CancelEvent(threading.Event):
    """A cancel flag that also closes the streams opened under it.

    Whoever cancels (kojid's signal unwinding the task's main thread, a follower being
    stopped) calls ``set()``, which shuts down every stream registered with ``closing()``:
    a read blocked on one returns at once. No thread polls the flag, so a silent build costs
    nothing between the watch and log read timeouts. A plain ``threading.Event`` still works
    as a cancel flag, but only between reads.
    """

    def __init__(self) -> None:
        super().__init__()
        # re-entrant: set() may run from a signal handler on the thread that holds it
        self._streams_lock = threading.RLock()
        self._streams: list[Any] = []

    def set(self) -> None:
        with self._streams_lock:
            super().set()
            for response in self._streams:
                shutdown_response(response)

    @contextlib.contextmanager
    def closing(self, response: Any) -> Iterator[None]:
        """Register ``response`` while the block runs (shut down at once if already set)."""
        with self._streams_lock:
            self._streams.append(response)
            if self.is_set():
                shutdown_response(response)
        try:
            yield
        finally:
            with self._streams_lock:  # before the caller closes it: never shut a closed one
                self._streams.remove(response)


def closed_on_cancel(cancel: Optional[threading.Event], response: Any
                     ) -> contextlib.AbstractContextManager:
    """``cancel.closing(response)`` for a CancelEvent; nothing for a plain Event or None."""
    if isinstance(cancel, CancelEvent):
        return cancel.closing(response)
    return contextlib.nullcontext()


def raise_if_cancelled(cancel: Optional[threading.Event], what: str) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(f'{what}: cancelled by the caller')


def _parse_event(line: bytes) -> Optional[tuple[str, dict]]:
    try:
        event = json.loads(line.decode(requests.utils.guess_json_utf(line) or 'utf-8'))
    except (ValueError, UnicodeDecodeError, LookupError):
        log.warning('skipping a watch line that is not JSON: %.200r', line)
        return None
    if not isinstance(event, dict) or not isinstance(event.get('object'), dict):
        log.warning('skipping a watch line without an object: %.200r', line)
        return None
    return str(event.get('type') or ''), event['object']


class _BuildWatch:
    """State of one wait: the wanted phases, the deadline, what was seen last."""

    def __init__(self, client: OpenShiftClient, name: str, phases: Iterable[str],
                 cancel: Optional[threading.Event], deadline: Optional[float],
                 on_update: Optional[Callable[[dict], Any]], stats: StreamStats) -> None:
        self.client = client
        self.name = name
        self.wanted = {phase.lower() for phase in phases}
        self.cancel = cancel
        self.deadline = deadline
        self.give_up_at = None if deadline is None else client.clock() + deadline
        self.on_update = on_update
        self.stats = stats
        self.last_seen: Optional[dict] = None
        self.versions_seen = 0
        self._last_version: Any = object()

    def reached(self, build: dict) -> bool:
        """Report a build object; True when its phase is a wanted one."""
        self.last_seen = build
        version = (build.get('metadata') or {}).get('resourceVersion')
        if version != self._last_version:
            self.versions_seen += 1
            if self.on_update is not None:
                self.on_update(build)
        self._last_version = version
        return phase_of(build) in self.wanted

    def check_limits(self) -> None:
        raise_if_cancelled(self.cancel, f'waiting for build {self.name}')
        if self.give_up_at is not None and self.client.clock() >= self.give_up_at:
            phase = phase_of(self.last_seen) or 'unknown'
            raise WaitTimeout(f'build {self.name} did not reach {"/".join(sorted(self.wanted))} '
                              f'within {self.deadline:g}s (last phase: {phase})')

    def read_timeout(self) -> float:
        timeout = self.client.read_timeout
        if self.give_up_at is not None:
            timeout = min(timeout, max(0.05, self.give_up_at - self.client.clock()))
        return timeout

    def watch_once(self) -> tuple[Optional[dict], bool]:
        """One connection. Returns (build in a wanted phase or None, whether it was healthy:
        it brought a new version of the build or lived long enough to make reconnecting cheap).
        """
        started = self.client.clock()
        versions_before = self.versions_seen
        response = self.client.open_build_watch(self.name, read_timeout=self.read_timeout())
        self.stats.connects += 1

        def healthy() -> bool:
            return (self.versions_seen > versions_before
                    or self.client.clock() - started >= HEALTHY_STREAM_SECONDS)

        chunks = response_chunks(response, 4096)   # closed by a call: see streaming.py
        with contextlib.closing(response), closed_on_cancel(self.cancel, response), \
                contextlib.closing(chunks):
            if self.reached(self.client.get_build(self.name)):
                return self.last_seen, True
            try:
                for line in split_lines(chunks):
                    self.check_limits()
                    parsed = _parse_event(line) if line.strip() else None
                    if parsed is None:
                        continue
                    kind, obj = parsed
                    self.stats.events += 1
                    if kind == 'ERROR':  # e.g. 410 Gone: start over with a fresh GET
                        log.info('watch of build %s: server error event %.200s', self.name,
                                 obj.get('message'))
                        break
                    if (obj.get('metadata') or {}).get('name') != self.name:
                        continue
                    if kind == 'DELETED':
                        raise NotFound(f'build {self.name} was deleted while being watched')
                    if self.reached(obj):
                        return obj, True
            except requests.RequestException as exc:
                self.check_limits()
                if is_timeout(exc):
                    return None, True  # an idle stream: reconnecting is routine
                if not healthy():
                    raise ConnectionFailed(f'watch of build {self.name} broke: {exc}') from exc
                log.debug('watch of build %s broke after a while: %s', self.name, exc)
        self.check_limits()
        return None, healthy()


def wait_for_build(client: OpenShiftClient, name: str, phases: Iterable[str], *,
                   cancel: Optional[threading.Event] = None, deadline: Optional[float] = None,
                   on_update: Optional[Callable[[dict], Any]] = None,
                   max_failures: int = DEFAULT_MAX_FAILURES,
                   stats: Optional[StreamStats] = None) -> dict:
    """Watch build ``name`` until its phase is in ``phases`` (case-insensitive); return it.

    ``deadline`` is in seconds from now (WaitTimeout past it); ``cancel`` stops the wait with
    Cancelled (at once for a CancelEvent, else at the next event or read timeout);
    ``on_update`` gets every new version of the build seen. NotFound, Unauthorized, Forbidden
    propagate at once; transient failures are retried with backoff until ``max_failures``
    happen in a row.
    """
    state = _BuildWatch(client, name, phases, cancel, deadline, on_update,
                        stats if stats is not None else StreamStats())
    failures = 0
    while True:
        state.check_limits()
        error: Optional[OpenShiftError] = None
        try:
            build, healthy = state.watch_once()
        except (WaitTimeout, Cancelled):
            raise
        except OpenShiftError as exc:
            state.check_limits()
            if not is_transient(exc):
                raise
            build, healthy, error = None, False, exc
        if build is not None:
            return build
        if healthy:
            failures = 0
            continue
        failures += 1
        state.stats.failures += 1
        if failures > max_failures:
            if error is not None:
                raise error
            raise ConnectionFailed(f'watch of build {name} ended {failures} times in a row '
                                   'without news')
        delay = client.backoff(failures)
        log.info('watch of build %s: %s; reconnecting in %.1fs (%d/%d)', name,
                 error or 'stream ended at once', delay, failures, max_failures)
        if client.pause(delay, cancel):
            raise_if_cancelled(cancel, f'waiting for build {name}')
