"""CancelEvent: whoever cancels closes the open streams; nothing polls while a build is silent."""

from __future__ import annotations

import threading
import time

import pytest

from koji_containerbuild.openshift.client import OpenShiftClient
from koji_containerbuild.openshift.errors import Cancelled
from koji_containerbuild.openshift.logstream import follow_build_log
from koji_containerbuild.openshift.watch import CancelEvent
from tests.openshift.test_client_support import (
    NS,
    silent_build_server,
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
