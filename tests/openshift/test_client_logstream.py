"""follow_build_log: only once running, exact resume after cuts, end rule, streaming, cancel."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import responses
from urllib3.exceptions import ReadTimeoutError

from koji_containerbuild.openshift.client import OpenShiftClient
from koji_containerbuild.openshift.errors import Cancelled, ConnectionFailed, is_timeout
from koji_containerbuild.openshift.logstream import follow_build_log
from koji_containerbuild.openshift.streaming import response_chunks, split_lines
from koji_containerbuild.openshift.watch import CancelEvent, StreamStats
from tests.openshift.test_client_support import (
    BUILDS,
    FIXTURES,
    NS,
    FakeClock,
    LoopbackServer,
    build_in_phase,
    cut_body,
    end_chunked,
    make_client,
    send_chunk,
    send_json,
    silent_build_server,
    start_chunked,
    status_body,
    watch_body,
)

GET_URL = f'{BUILDS}/b'
LOG_URL = f'{BUILDS}/b/log'
LOG = ((FIXTURES / 'build_test-orchestrator-build-123_logs.txt').read_bytes() * 20
       + 'tätä ünïcode — ✓ line\n'.encode() + b'trailing partial line')


def follow(client, **kwargs):
    return b''.join(follow_build_log(client, 'b', **kwargs))


@responses.activate
def test_log_is_requested_only_once_the_build_runs_with_timestamps():
    responses.get(BUILDS, body=watch_body(('MODIFIED', build_in_phase('Running', 'b', 2))))
    responses.get(GET_URL, json=build_in_phase('New', 'b', 1))
    responses.get(LOG_URL, body=LOG)
    responses.get(GET_URL, json=build_in_phase('Complete', 'b', 3))
    assert follow(make_client()) == LOG
    assert [c.request.url for c in responses.calls] == [
        f'{BUILDS}?watch=true&fieldSelector=metadata.name%3Db', GET_URL,
        f'{LOG_URL}?follow=true&timestamps=true', GET_URL]


@pytest.mark.parametrize('cut_at', [1, 100, 101, len(LOG) - 30, len(LOG) - 1])
@responses.activate
def test_without_timestamps_resume_by_bytes_is_byte_identical(cut_at):
    """A server that ignores timestamps=true re-sends the log from its first byte."""
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(BUILDS, body=b'')
    responses.get(LOG_URL, body=cut_body(LOG, cut_at))  # cut mid-line, even mid-character
    responses.get(LOG_URL, body=LOG)  # OpenShift re-sends from the first byte
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(GET_URL, json=build_in_phase('Complete', 'b'))
    clock = FakeClock()
    stats = StreamStats()
    assert follow(make_client(clock), stats=stats) == LOG
    # until the first line shows whether timestamps come, nothing is delivered (or skipped)
    skipped = 0 if cut_at == 1 else cut_at
    assert (stats.connects, stats.bytes_skipped, stats.bytes_delivered) == (2, skipped, len(LOG))
    assert stats.prefix_mismatches == 0
    assert clock.sleeps == ([] if skipped else [0.5])  # a connection that brought nothing


@responses.activate
def test_several_cuts_and_a_growing_log():
    part = LOG[:len(LOG) // 2]
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(BUILDS, body=b'')
    responses.get(LOG_URL, body=cut_body(part, 37))
    responses.get(LOG_URL, body=part)  # clean end while the build still runs: reconnect
    responses.get(LOG_URL, body=cut_body(LOG, len(part) + 5))
    responses.get(LOG_URL, body=LOG)
    for phase in ('Running', 'Running', 'Complete', 'Complete'):
        responses.get(GET_URL, json=build_in_phase(phase, 'b'))
    assert follow(make_client()) == LOG


@responses.activate
def test_a_cut_after_the_build_finished_still_reconnects_for_the_rest():
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(BUILDS, body=b'')
    responses.get(LOG_URL, body=cut_body(LOG, 500))
    responses.get(LOG_URL, body=LOG)
    responses.get(GET_URL, json=build_in_phase('Failed', 'b'))
    assert follow(make_client()) == LOG


@responses.activate
def test_a_stream_with_nothing_new_while_running_backs_off():
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(BUILDS, body=b'')
    responses.get(LOG_URL, body=LOG)
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))  # phase not updated yet
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(GET_URL, json=build_in_phase('Complete', 'b'))
    clock = FakeClock()
    assert follow(make_client(clock)) == LOG
    assert clock.sleeps == [0.5]


@responses.activate
def test_endless_empty_streams_give_up():
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(BUILDS, body=b'')
    responses.get(LOG_URL, body=b'')
    with pytest.raises(ConnectionFailed, match='keeps ending without new output'):
        follow(make_client(), max_failures=2)


@responses.activate
def test_cuts_that_never_reach_the_resume_point_are_reported():
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(BUILDS, body=b'')
    responses.get(LOG_URL, body=cut_body(LOG, 100))
    responses.get(LOG_URL, body=cut_body(LOG, 60))  # cut before byte 100...
    responses.get(LOG_URL, body=cut_body(LOG, 100))  # ...or right at it: no progress
    responses.get(LOG_URL, body=cut_body(LOG, 100))
    delivered = []
    with pytest.raises(ConnectionFailed, match='before the re-sent log got past byte 100'):
        for chunk in follow_build_log(make_client(), 'b', max_failures=2):
            delivered.append(chunk)
    assert b''.join(delivered) == LOG[:100]


@responses.activate
def test_a_finished_build_without_a_log_ends_quietly():
    responses.get(BUILDS, body=b'')
    responses.get(GET_URL, json=build_in_phase('Cancelled', 'b'))
    responses.get(LOG_URL, json=status_body(400, 'BadRequest', 'build was cancelled before '
                                                               'it ran'), status=400)
    assert follow(make_client()) == b''


@responses.activate
def test_a_changed_log_prefix_is_noticed():
    responses.get(GET_URL, json=build_in_phase('Running', 'b'))
    responses.get(BUILDS, body=b'')
    responses.get(LOG_URL, body=cut_body(LOG, 300))
    responses.get(LOG_URL, body=b'X' * 300 + LOG[300:])
    responses.get(GET_URL, json=build_in_phase('Complete', 'b'))
    stats = StreamStats()
    assert follow(make_client(), stats=stats) == LOG
    assert stats.prefix_mismatches == 1


@pytest.mark.parametrize('chunked', [True, False])
def test_bytes_are_yielded_as_they_arrive(chunked):
    first_seen = threading.Event()

    def handle(handler):
        if '/log' in handler.path:
            if chunked:
                start_chunked(handler)
                send_chunk(handler, b'first line\n')
            else:
                handler.send_response(200)
                handler.send_header('Content-Length', str(len(b'first line\nsecond line\n')))
                handler.end_headers()
                handler.wfile.write(b'first line\n')
                handler.wfile.flush()
            first_seen.wait(5)  # the rest only once the client showed the first line
            if chunked:
                send_chunk(handler, b'second line\n')
                end_chunked(handler)
            else:
                handler.wfile.write(b'second line\n')
        elif 'watch=true' in handler.path:
            start_chunked(handler, 'application/json')
            end_chunked(handler)
        else:
            send_json(handler, build_in_phase('Complete' if first_seen.is_set() else 'Running',
                                              'b'))

    with LoopbackServer(handle) as server:
        stream = follow_build_log(OpenShiftClient(server.url, NS), 'b')
        assert next(stream) == b'first line\n'
        first_seen.set()
        assert b''.join(stream) == b'second line\n'


def test_cancel_stops_a_blocked_log_stream_promptly():
    release = threading.Event()
    cancel = CancelEvent()
    with silent_build_server(release) as server:
        stream = follow_build_log(OpenShiftClient(server.url, NS), 'b', cancel=cancel)
        try:
            assert next(stream) == b'building...\n'
            threading.Timer(0.2, cancel.set).start()
            started = time.monotonic()
            with pytest.raises(Cancelled, match='following the log of build b'):
                next(stream)
            assert time.monotonic() - started < 1.5
        finally:
            release.set()


def test_split_lines_keeps_newlines_and_flushes_the_partial_tail():
    chunks = [b'a', b'bc\nde', b'f\n\ng', b'', b'h']
    assert list(split_lines(chunks)) == [b'abc\n', b'def\n', b'\n', b'gh']
    assert list(split_lines([])) == []
    assert b''.join(split_lines([LOG[i:i + 7] for i in range(0, len(LOG), 7)])) == LOG


def test_a_read_timeout_under_iter_content_stays_a_timeout():
    """An answer read through requests' iter_content (no read1: here gzip) reports its own
    typed errors; wrapped once more, a read timeout would look like a broken stream."""
    class Raw:
        chunked = False
        headers = {'Content-Encoding': 'gzip'}
        _fp = None

    class Answer:
        raw = Raw()

        def iter_content(self, chunk_size):
            raise requests.ConnectionError(ReadTimeoutError(None, '/log', 'Read timed out.'))
            yield b''

    with pytest.raises(requests.ConnectionError) as caught:
        list(response_chunks(Answer(), 10))
    assert is_timeout(caught.value)
