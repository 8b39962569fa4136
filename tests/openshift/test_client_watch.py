"""wait_for_build: watch URL, fresh GET per connect, reconnects, backoff, deadline, cancel."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import responses

from koji_containerbuild.openshift.client import OpenShiftClient
from koji_containerbuild.openshift.errors import (
    Cancelled,
    ConnectionFailed,
    NotFound,
    WaitTimeout,
)
from koji_containerbuild.openshift.watch import CancelEvent, StreamStats, wait_for_build
from tests.openshift.test_client_support import (
    BUILDS,
    NS,
    FakeClock,
    LoopbackServer,
    build_in_phase,
    cut_body,
    make_client,
    send_chunk,
    send_json,
    start_chunked,
    status_body,
    watch_body,
)

DONE = {'Complete', 'Failed', 'Error', 'Cancelled'}


def calls():
    return [(c.request.method, c.request.url) for c in responses.calls]


WATCH_URL = f'{BUILDS}?watch=true&fieldSelector=metadata.name%3Db'
GET_URL = f'{BUILDS}/b'


@responses.activate
def test_returns_the_event_object_that_reaches_a_wanted_phase():
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Running', 'b', 2)),
                                          ('MODIFIED', build_in_phase('Complete', 'b', 3))))
    responses.get(GET_URL, json=build_in_phase('Pending', 'b', 1))
    build = wait_for_build(make_client(), 'b', DONE)
    assert build['status']['phase'] == 'Complete'
    assert calls() == [('GET', WATCH_URL), ('GET', GET_URL)]  # GET only once the watch is open


@responses.activate
def test_phases_match_case_insensitively():
    responses.get(BUILDS, body=b'')
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    assert wait_for_build(make_client(), 'b', {'running'})['status']['phase'] == 'Running'


@responses.activate
def test_fresh_get_after_connect_sees_a_change_the_stream_will_not_repeat():
    responses.get(BUILDS, body=b'')  # the change happened before this watch began
    responses.get(GET_URL, json=build_in_phase('Failed', 'b'))
    assert wait_for_build(make_client(), 'b', DONE)['status']['phase'] == 'Failed'


@responses.activate
def test_reconnects_at_once_when_a_stream_ends():
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Running', 'b', 2))))
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Complete', 'b', 4))))
    responses.get(GET_URL, json=build_in_phase('Pending', 'b', 1))
    responses.get(GET_URL, json=build_in_phase('Running', 'b', 3))
    clock = FakeClock()
    stats = StreamStats()
    assert wait_for_build(make_client(clock), 'b', DONE, stats=stats)['status']['phase'] == \
        'Complete'
    assert [url for _, url in calls()] == [WATCH_URL, GET_URL, WATCH_URL, GET_URL]
    assert clock.sleeps == []
    assert (stats.connects, stats.reconnects, stats.events) == (2, 1, 2)


@responses.activate
def test_reconnects_at_once_after_a_read_timeout():
    responses.get(BUILDS, body=cut_body(b'', 0, socket.timeout))
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Complete', 'b', 4))))
    responses.get(GET_URL, json=build_in_phase('Running', 'b', 3))
    clock = FakeClock()
    assert wait_for_build(make_client(clock), 'b', DONE)['status']['phase'] == 'Complete'
    assert clock.sleeps == []


@responses.activate
def test_streams_that_die_at_once_back_off_and_give_up():
    responses.get(BUILDS, body=b'')
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    clock = FakeClock()
    with pytest.raises(ConnectionFailed) as info:
        wait_for_build(make_client(clock), 'b', DONE, max_failures=3)
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert 'watch of build b ended 4 times in a row' in str(info.value)


@responses.activate
def test_a_long_lived_stream_resets_the_failure_count():
    clock = FakeClock(step=0.5)  # each stream lives a few clock readings: >= 1 s
    responses.get(BUILDS, body=b'')
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    stats = StreamStats()
    with pytest.raises(WaitTimeout):
        wait_for_build(make_client(clock), 'b', DONE, deadline=30, max_failures=1, stats=stats)
    assert stats.connects > 3
    assert clock.sleeps == []


@responses.activate
def test_streams_broken_after_news_reconnect_at_once_however_often():
    for version in range(2, 12):
        event = watch_body(('MODIFIED', build_in_phase('Running', 'b', version)))
        responses.get(BUILDS, body=cut_body(event, len(event) + 1))  # news, then a broken end
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Complete', 'b', 99))))
    responses.get(GET_URL, json=build_in_phase('Running', 'b', 1))
    clock = FakeClock()
    stats = StreamStats()
    assert wait_for_build(make_client(clock), 'b', DONE, max_failures=2, stats=stats)[
        'status']['phase'] == 'Complete'
    assert clock.sleeps == []
    assert stats.connects == 11


@responses.activate
def test_a_stream_repeating_what_was_known_is_not_news():
    known = build_in_phase('Running', 'b', 1)
    responses.get(BUILDS, body=watch_body(('ADDED', known)))  # the initial snapshot only
    responses.get(GET_URL, json=known)
    clock = FakeClock()
    with pytest.raises(ConnectionFailed):
        wait_for_build(make_client(clock), 'b', DONE, max_failures=2)
    assert clock.sleeps == [0.5, 1.0]


@responses.activate
def test_server_errors_are_retried_with_backoff_then_recover():
    responses.get(BUILDS, json=status_body(500, 'InternalError', 'oops'), status=500)
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Complete', 'b', 4))))
    responses.get(GET_URL, json=build_in_phase('Running', 'b', 3))
    clock = FakeClock()
    client = make_client(clock, retries=0)
    assert wait_for_build(client, 'b', DONE)['status']['phase'] == 'Complete'
    assert clock.sleeps == [0.5]


@responses.activate
def test_a_deleted_build_is_not_found():
    responses.get(BUILDS, body=watch_body(('DELETED', build_in_phase('Running', 'b', 2))))
    responses.get(GET_URL, json=build_in_phase('Running', 'b', 1))
    with pytest.raises(NotFound, match='build b was deleted'):
        wait_for_build(make_client(), 'b', DONE)


@responses.activate
def test_a_missing_build_is_not_found_at_once():
    responses.get(BUILDS, body=b'')
    responses.get(GET_URL, json=status_body(404, 'NotFound', 'builds "b" not found'), status=404)
    with pytest.raises(NotFound, match='builds "b" not found'):
        wait_for_build(make_client(), 'b', DONE)
    assert len(responses.calls) == 2


@responses.activate
def test_other_builds_and_error_events_are_ignored():
    responses.get(BUILDS, body=watch_body(
        ('MODIFIED', build_in_phase('Complete', 'other', 2)),
        ('ERROR', status_body(410, 'Gone', 'too old resource version'))) + b'not json\n')
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Failed', 'b', 5))))
    responses.get(GET_URL, json=build_in_phase('Running', 'b', 1))
    assert wait_for_build(make_client(), 'b', DONE)['metadata']['name'] == 'b'


@responses.activate
def test_on_update_sees_each_new_version_once():
    seen = []
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Pending', 'b', 1)),
                                          ('MODIFIED', build_in_phase('Running', 'b', 2)),
                                          ('MODIFIED', build_in_phase('Complete', 'b', 3))))
    responses.get(GET_URL, json=build_in_phase('Pending', 'b', 1))
    wait_for_build(make_client(), 'b', DONE,
                   on_update=lambda b: seen.append(b['metadata']['resourceVersion']))
    assert seen == ['1', '2', '3']


@responses.activate
def test_deadline_raises_a_clear_timeout():
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Pending', 'b', 2))))
    responses.get(GET_URL, json=build_in_phase('Pending', 'b', 1))
    clock = FakeClock(step=1.0)
    with pytest.raises(WaitTimeout) as info:
        wait_for_build(make_client(clock), 'b', DONE, deadline=10)
    assert str(info.value) == ('build b did not reach cancelled/complete/error/failed within '
                               '10s (last phase: pending)')


def test_cancel_before_start_makes_no_request():
    cancel = CancelEvent()
    cancel.set()
    with pytest.raises(Cancelled):
        wait_for_build(OpenShiftClient('http://127.0.0.1:9/', NS), 'b', DONE, cancel=cancel)


def test_cancel_closes_a_blocked_stream_promptly():
    release = threading.Event()

    def handle(handler):
        if 'watch=true' in handler.path:
            start_chunked(handler, 'application/json')
            send_chunk(handler, watch_body(('MODIFIED', build_in_phase('Running', 'b', 2))))
            release.wait(10)  # an idle watch: nothing more to say for a long time
        else:
            send_json(handler, build_in_phase('Running', 'b', 1))

    cancel = CancelEvent()
    with LoopbackServer(handle) as server:
        client = OpenShiftClient(server.url, NS, read_timeout=30)
        timer = threading.Timer(0.3, cancel.set)
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(Cancelled, match='waiting for build b: cancelled'):
                wait_for_build(client, 'b', DONE, cancel=cancel)
            assert time.monotonic() - started < 1.5
        finally:
            release.set()
            timer.cancel()
