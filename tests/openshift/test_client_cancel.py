"""CancelEvent: whoever cancels closes the open streams; nothing polls while a build is silent."""

from __future__ import annotations

import json
import threading
import time

import pytest
import urllib3

from koji_containerbuild.openshift.client import OpenShiftClient
from koji_containerbuild.openshift.errors import Cancelled
from koji_containerbuild.openshift.logstream import follow_build_log
from koji_containerbuild.openshift.watch import CancelEvent, wait_for_build
from tests.openshift.test_client_support import (
    NS,
    LoopbackServer,
    build_in_phase,
    send_chunk,
    send_json,
    silent_build_server,
    start_chunked,
)


class FakeRaw:
    def __init__(self) -> None:
        self.shutdowns = 0

    def shutdown(self) -> None:
        self.shutdowns += 1


class FakeResponse:
    def __init__(self) -> None:
        self.raw = FakeRaw()


def test_set_shuts_every_registered_stream_down_and_later_ones_at_once():
    cancel = CancelEvent()
    first, second, late = FakeResponse(), FakeResponse(), FakeResponse()
    with cancel.closing(first), cancel.closing(second):
        cancel.set()
        assert (first.raw.shutdowns, second.raw.shutdowns) == (1, 1)
    with cancel.closing(late):
        assert late.raw.shutdowns == 1     # registered after the cancel: closed at once
    cancel.set()
    assert (first.raw.shutdowns, late.raw.shutdowns) == (1, 1)  # closed streams stay alone
    assert cancel.is_set() and cancel.wait(0)


def _serves_a_request(thread: threading.Thread) -> bool:
    """The test server's own per-request threads: Python >= 3.10 names them after their
    target; 3.9 names them only Thread-N, so look at the target itself."""
    target = getattr(thread, '_target', None)
    return ('process_request' in thread.name
            or getattr(target, '__name__', '') == 'process_request_thread')


def test_a_silent_follow_starts_no_helper_thread_and_cancel_still_ends_it_at_once():
    release = threading.Event()
    cancel = CancelEvent()
    outcome: dict = {}
    first_line = threading.Event()

    def run():
        try:
            for _chunk in follow_build_log(OpenShiftClient(server.url, NS, read_timeout=60), 'b',
                                           cancel=cancel):
                first_line.set()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            outcome['error'] = exc

    with silent_build_server(release) as server:
        before = set(threading.enumerate())
        follower = threading.Thread(target=run, name='follower')
        follower.start()
        try:
            assert first_line.wait(10)
            time.sleep(0.3)
            extra = {t.name for t in set(threading.enumerate()) - before
                     if not _serves_a_request(t)}
            assert extra == {'follower'}   # no thread polls the cancel flag
            started = time.monotonic()
            cancel.set()
            follower.join(5)
            assert not follower.is_alive() and time.monotonic() - started < 1.0
            assert isinstance(outcome.get('error'), Cancelled)
        finally:
            release.set()
            follower.join(5)


def test_a_plain_event_still_cancels_between_reads():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        next(follow_build_log(OpenShiftClient('http://127.0.0.1:9/', NS), 'b', cancel=cancel))


def busy_build_server(release: threading.Event, watch_phase: str) -> LoopbackServer:
    """Build ``b`` Running; its log says a line every 10 ms, its watch says ``watch_phase``."""
    def handle(handler) -> None:
        if '/log' in handler.path:
            start_chunked(handler)
            while not release.wait(0.01):
                send_chunk(handler, b'building...\n')
        elif 'watch=true' in handler.path:
            start_chunked(handler, 'application/json')
            event = {'type': 'MODIFIED', 'object': build_in_phase(watch_phase, 'b')}
            send_chunk(handler, json.dumps(event).encode() + b'\n')
            release.wait(20)
        else:
            send_json(handler, build_in_phase('Running', 'b'))
    return LoopbackServer(handle)


class Interrupter:
    """Once armed, the next connection to ``port`` that urllib3 closes raises
    KeyboardInterrupt there: kojid's SIGINT arriving while a stream is being cleaned up."""

    def __init__(self) -> None:
        self.port = 0
        self.armed = threading.Event()

    def fire(self, connection) -> None:
        if connection.port == self.port and self.armed.is_set():
            self.armed.clear()
            raise KeyboardInterrupt


@pytest.fixture
def signal_while_closing_a_stream(monkeypatch):
    interrupter = Interrupter()
    close = urllib3.connection.HTTPConnection.close

    def interrupted_close(self):
        close(self)
        interrupter.fire(self)
    monkeypatch.setattr(urllib3.connection.HTTPConnection, 'close', interrupted_close)
    return interrupter


def test_a_signal_while_a_finished_watch_closes_its_stream_is_not_lost(
        signal_while_closing_a_stream):
    """Generators closed by their finaliser (requests' iter_lines lets go of iter_content's
    that way) turn an exception raised there into "Exception ignored in": kojid's SIGINT was
    lost like that and the task never cancelled (tests/builder/test_cancel_and_restart.py
    failed now and then). The watch closes its stream by a call instead."""
    release = threading.Event()
    with busy_build_server(release, 'Complete') as server:
        signal_while_closing_a_stream.port = server.server.server_address[1]
        signal_while_closing_a_stream.armed.set()
        try:
            with pytest.raises(KeyboardInterrupt):
                wait_for_build(OpenShiftClient(server.url, NS), 'b', {'Complete'})
        finally:
            release.set()


def test_a_signal_while_a_stopped_log_stream_closes_is_not_lost(signal_while_closing_a_stream):
    release = threading.Event()
    cancel = threading.Event()        # seen between reads: the stream is still open
    with busy_build_server(release, 'Running') as server:
        signal_while_closing_a_stream.port = server.server.server_address[1]
        try:
            with pytest.raises(KeyboardInterrupt):
                for _chunk in follow_build_log(OpenShiftClient(server.url, NS), 'b',
                                               cancel=cancel):
                    signal_while_closing_a_stream.armed.set()
                    cancel.set()
        finally:
            release.set()
