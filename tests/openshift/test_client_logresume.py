"""Resume by timestamp: sinceTime at whole seconds, (timestamp, ordinal) dedup, cut lines,
rotation gaps reported with their range, servers that ignore timestamps."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from koji_containerbuild.openshift.errors import ConnectionFailed
from koji_containerbuild.openshift.logresume import (
    PREFIX,
    LogGap,
    TimestampCursor,
    parse_timestamp,
    since_time,
)
from koji_containerbuild.openshift.logstream import follow_build_log
from koji_containerbuild.openshift.watch import StreamStats
from koji_containerbuild.prefixed import PrefixedLines
from tests.openshift.test_client_support import (
    BUILDS,
    build_in_phase,
    cut_body,
    make_client,
)

GET_URL = f'{BUILDS}/b'
LOG_URL = f'{BUILDS}/b/log'
BASE_NS = 1_796_196_489 * 10**9  # 2026-12-02T07:28:09Z


@pytest.fixture(autouse=True, params=['stripped', 'prefixed', 'declined'])
def consumer(request, monkeypatch):
    """Every test here runs three ways: the cursor strips the timestamps itself; blocks of
    complete lines come as PrefixedLines to a consumer that strips them in its own pass
    (as the demuxer does); or to one that hands every block back (``stripped()``)."""
    monkeypatch.setitem(globals(), 'MODE', request.param)
    return request.param


MODE = 'stripped'
_ONE_PREFIX = re.compile(rb'\n' + PREFIX)


def consume(piece) -> bytes:
    """What a consumer of ``keep_prefixed`` pieces makes of one: its own strip when every
    line has a timestamp (then ``accept``), else the producer's (``stripped``)."""
    if not isinstance(piece, PrefixedLines):
        return piece
    if MODE == 'prefixed':
        stripped, count = _ONE_PREFIX.subn(b'\n', b'\n' + piece.raw)
        if count == piece.raw.count(b'\n'):
            piece.accept(len(stripped) - 1)
            return stripped[1:]
    return piece.stripped()


def stamp(ns: int, fixed: bool = False) -> bytes:
    """RFC 3339 as the kubelet writes it (Go RFC3339Nano: trailing zeros trimmed) or as
    docker does (``fixed``: always nine digits)."""
    whole = since_time(ns)[:-1].encode()
    fraction = b'%09d' % (ns % 10**9)
    if not fixed:
        fraction = fraction.rstrip(b'0')
    return whole + (b'.' + fraction if fraction else b'') + b'Z'


def make_lines(count: int, per_second: int = 10, same_every: int = 0) -> list[tuple[bytes, bytes]]:
    """``count`` lines, ``per_second`` of them in each second; with ``same_every`` that many
    consecutive lines share one timestamp (a runtime that stamps a whole read at once)."""
    out = []
    for i in range(count):
        slot = i // same_every * same_every if same_every else i
        ns = BASE_NS + slot * (10**9 // per_second) + (slot % 7) * 1000
        out.append((stamp(ns), b'line %05d of the build \xe2\x9c\x93 %s\n' % (i, b'x' * (i % 13))))
    return out


def content(lines) -> bytes:
    return b''.join(text for _s, text in lines)


def stamped(lines) -> bytes:
    return b''.join(s + b' ' + text for s, text in lines)


class FakeLogServer:
    """OpenShift's build log endpoint over a kubelet: ``timestamps``, ``sinceTime`` at whole
    seconds, rotation (``first_line(connection)``: the first line still on the node), and
    a cut of every connection after ``cut`` bytes of its own."""

    def __init__(self, lines, cut=None, first_line=lambda n: 0, honour_timestamps=True):
        self.lines, self.cut, self.first_line = lines, cut, first_line
        self.honour = honour_timestamps
        self.queries: list[dict] = []
        self.served = 0
        self.reached_end = False

    def __call__(self, request):
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.queries.append(query)
        start = self.first_line(len(self.queries) - 1)
        lines = self.lines[start:]
        if 'sinceTime' in query and self.honour:
            since = parse_timestamp(query['sinceTime'].encode())
            since -= since % 10**9   # the kubelet gets whole seconds
            lines = [line for line in lines if parse_timestamp(line[0]) >= since]
        body = stamped(lines) if self.honour and query.get('timestamps') == 'true' \
            else content(lines)
        if self.cut is not None and len(body) > self.cut:
            self.served += self.cut
            return 200, {}, cut_body(body, self.cut)
        self.served += len(body)
        self.reached_end = True
        return 200, {}, body


def serve(server: FakeLogServer, cuts=(), honour=()) -> None:
    """The build runs until a connection has served the log to its end. ``cuts``, ``honour``:
    the cut and whether timestamps are honoured for the first connections (then the
    server's own)."""
    cuts, honour = iter(cuts), iter(honour)
    default_cut, default_honour = server.cut, server.honour

    def log(request):
        server.cut = next(cuts, default_cut)
        server.honour = next(honour, default_honour)
        return server(request)

    def build(request):
        phase = 'Complete' if server.reached_end else 'Running'
        return 200, {}, json.dumps(build_in_phase(phase, 'b'))

    responses.add_callback(responses.GET, GET_URL, callback=build)
    responses.get(BUILDS, body=b'')
    responses.add_callback(responses.GET, LOG_URL, callback=log)


def follow(server: FakeLogServer, **kwargs) -> tuple[bytes, StreamStats]:
    stats = StreamStats()
    out = b''.join(map(consume, follow_build_log(make_client(), 'b', stats=stats,
                                                 logger=logging.getLogger('test.plugin'),
                                                 keep_prefixed=MODE != 'stripped', **kwargs)))
    return out, stats


def test_timestamps_parse_in_both_runtime_forms_and_order_by_value():
    ns = BASE_NS + 120_000_000
    assert parse_timestamp(stamp(ns)) == parse_timestamp(stamp(ns, fixed=True)) == ns
    assert stamp(ns) == b'2026-12-02T07:28:09.12Z'
    # as text ".1Z" sorts after ".12Z"; as time it is before
    assert parse_timestamp(b'2026-12-02T07:28:09.1Z') < parse_timestamp(b'2026-12-02T07:28:09.12Z')
    assert parse_timestamp(b'2026-12-02T09:28:09.12+02:00') == ns
    assert parse_timestamp(b'2026-12-02T07:28:09Z') == BASE_NS
    assert parse_timestamp(b'2026-12-02 07:28:09,123') is None  # atomic-reactor's own format
    assert parse_timestamp(b'2026-13-02T07:28:09Z') is None
    assert since_time(ns) == '2026-12-02T07:28:09Z'


@pytest.mark.parametrize('cut_at', [5, 36, 200, 1234, 2001])
@responses.activate
def test_a_cut_anywhere_resumes_with_since_time_and_no_line_twice(cut_at):
    lines = make_lines(60)
    server = FakeLogServer(lines)
    serve(server, cuts=[cut_at])
    out, stats = follow(server)
    assert out == content(lines)
    first, second = server.queries[:2]
    assert first == {'follow': 'true', 'timestamps': 'true'}
    delivered_lines = stamped(lines)[:cut_at].count(b'\n')
    if delivered_lines:
        # the second of the last line delivered: the server re-sends all of that second
        last = lines[delivered_lines - 1][0]
        assert second['sinceTime'] == since_time(parse_timestamp(last))
    else:
        assert 'sinceTime' not in second   # nothing delivered yet: from the start
    assert stats.gaps == 0


@pytest.mark.parametrize('same_every,cut_line', [(5, 12), (20, 33)])
@responses.activate
def test_lines_with_one_timestamp_across_a_cut_are_told_apart_by_position(same_every,
                                                                          cut_line):
    # five (twenty) consecutive lines share each timestamp; the cut is in the third
    # (fourteenth) of them
    lines = make_lines(80, per_second=4, same_every=same_every)
    assert len({s for s, _t in lines[cut_line - cut_line % same_every:][:same_every]}) == 1
    body = stamped(lines)
    cut = body.index(lines[cut_line][1]) + 3
    server = FakeLogServer(lines)
    serve(server, cuts=[cut])
    out, _stats = follow(server)
    assert out == content(lines)


@responses.activate
def test_a_stream_cut_after_the_same_bytes_every_time_still_gets_through_linearly():
    lines = make_lines(3000, per_second=50)     # ~2.6 KB a second, 150 KB in all
    server = FakeLogServer(lines, cut=8192)
    serve(server)
    out, stats = follow(server)
    assert out == content(lines)
    total = len(stamped(lines))
    # each reconnect re-reads at most one second of log, never the whole prefix again
    assert server.served < 2 * total
    assert stats.connects > 20 and stats.gaps == 0


@responses.activate
def test_a_second_longer_than_a_connection_fails_loudly_instead_of_looping():
    lines = make_lines(400, per_second=400)     # 16 KB in each second, cut every 8 KiB
    server = FakeLogServer(lines, cut=8192)
    serve(server)
    with pytest.raises(ConnectionFailed, match='before the re-sent log got past the lines of '
                                               '2026-12-02T07:28:09Z'):
        follow(server, max_failures=3)


@pytest.mark.parametrize('fixed', [False, True], ids=['kubelet', 'docker'])
@responses.activate
def test_the_issue_case_3000_lines_cut_at_24576_rotated_to_line_1500(caplog, fixed):
    """3,000 lines, cut at byte 24,576, the node rotated the file so that a reconnect is
    served from line 1,500 on: the lines in between are reported as a gap, with their
    range, once; all others arrive exactly once."""
    lines = [(stamp(parse_timestamp(s), fixed=fixed), t) for s, t in make_lines(3000, 20)]
    server = FakeLogServer(lines, first_line=lambda n: 0 if n == 0 else 1499)
    serve(server, cuts=[24576])
    caplog.set_level(logging.WARNING, logger='test.plugin')
    out, stats = follow(server)
    got = out.splitlines(keepends=True)
    delivered = stamped(lines)[:24576].count(b'\n')
    assert got == [t for _s, t in lines[:delivered]] + [t for _s, t in lines[1499:]]
    gaps = [r.getMessage() for r in caplog.records if 'gap' in r.getMessage()]
    assert gaps == [LogGap(lines[delivered - 1][0], lines[1499][0]).describe('b')]
    # the missing lines are exactly those written strictly inside the reported range
    after, before = parse_timestamp(lines[delivered - 1][0]), parse_timestamp(lines[1499][0])
    missing = [t for s, t in lines if after < parse_timestamp(s) < before]
    assert missing == [t for _s, t in lines[delivered:1499]]
    assert stats.gaps == 1


@responses.activate
def test_the_issue_case_without_rotation_delivers_all_3000_lines(caplog):
    lines = make_lines(3000, 20)
    server = FakeLogServer(lines)
    serve(server, cuts=[24576])
    caplog.set_level(logging.WARNING)
    out, stats = follow(server)
    assert out == content(lines)
    assert stats.gaps == 0 and not [r for r in caplog.records if 'gap' in r.getMessage()]


@responses.activate
def test_a_gap_is_reported_once_even_when_later_reconnects_follow(caplog):
    lines = make_lines(300, 20)
    server = FakeLogServer(lines, cut=4000, first_line=lambda n: 0 if n == 0 else 150)
    serve(server)
    caplog.set_level(logging.WARNING, logger='test.plugin')
    out, stats = follow(server)
    assert stats.connects > 3
    assert len([r for r in caplog.records if 'gap' in r.getMessage()]) == 1
    assert out.endswith(content(lines[150:]))


@responses.activate
def test_a_server_ignoring_timestamps_is_followed_by_byte_offset(caplog):
    lines = make_lines(200)
    server = FakeLogServer(lines, honour_timestamps=False)
    serve(server, cuts=[3000])
    caplog.set_level(logging.INFO, logger='test.plugin')
    out, stats = follow(server)
    assert out == content(lines)
    assert stats.bytes_skipped == 3000          # the re-sent prefix, skipped by count
    assert 'sinceTime' not in server.queries[1]
    assert any('ignores timestamps' in r.getMessage() for r in caplog.records)


def feed_all(cursor: TimestampCursor, connections: list[bytes]) -> bytes:
    out = []
    for data in connections:
        cursor.restart()
        for i in range(0, len(data), 1000):
            out.append(consume(cursor.feed(data[i:i + 1000], MODE != 'stripped')))
    out.append(cursor.finish())
    return b''.join(out)


def test_a_line_longer_than_the_hold_limit_cut_midway_is_completed_not_repeated(monkeypatch):
    monkeypatch.setattr(TimestampCursor, 'HOLD_BYTES', 4096)
    lines = make_lines(10)
    lines[4] = (lines[4][0], b'L' * 20000 + b'\n')
    body = stamped(lines)
    cut = body.index(b'L' * 20000) + 9000          # 9,000 bytes of the long line delivered
    gaps: list[LogGap] = []
    cursor = TimestampCursor(StreamStats(), gaps.append)
    assert feed_all(cursor, [body[:cut], body]) == content(lines)
    assert gaps == []


def test_a_long_line_cut_and_rotated_away_is_ended_and_reported(monkeypatch):
    monkeypatch.setattr(TimestampCursor, 'HOLD_BYTES', 4096)
    lines = make_lines(10)
    lines[4] = (lines[4][0], b'L' * 20000 + b'\n')
    body = stamped(lines)
    cut = body.index(b'L' * 20000) + 9000
    gaps: list[LogGap] = []
    cursor = TimestampCursor(StreamStats(), gaps.append)
    out = feed_all(cursor, [body[:cut], stamped(lines[6:])])
    partial = out[len(content(lines[:4])):].split(b'\n')[0]
    assert out == content(lines[:4]) + partial + b'\n' + content(lines[6:])
    assert len(partial) >= 8000
    assert gaps == [LogGap(lines[4][0], lines[6][0], 1, cut_line=True)]


def test_a_short_unfinished_line_waits_for_its_end_and_a_final_one_is_kept():
    lines = make_lines(5)
    body = stamped(lines)
    cursor = TimestampCursor(StreamStats(), lambda gap: None)
    cursor.restart()
    cut = body.index(lines[2][1]) + 4
    first = consume(cursor.feed(body[:cut], MODE != 'stripped'))
    assert first == content(lines[:2])          # the cut line is held, not half-delivered
    cursor.restart()
    rest = consume(cursor.feed(body + lines[4][0] + b' no newline at the end',
                               MODE != 'stripped'))
    assert first + rest + cursor.finish() == content(lines) + b'no newline at the end'


def test_a_line_without_prefix_among_timestamped_ones_is_kept_in_place():
    lines = make_lines(6)
    body = stamped(lines[:3]) + b'continuation without a prefix\n' + stamped(lines[3:])
    want = content(lines[:3]) + b'continuation without a prefix\n' + content(lines[3:])
    cut = body.index(b'continuation') + 40
    cursor = TimestampCursor(StreamStats(), lambda gap: None)
    assert feed_all(cursor, [body[:cut], body]) == want


@responses.activate
def test_a_reconnect_to_a_server_without_timestamps_resumes_by_byte_offset(caplog):
    """E.g. a reconnect that reached an API server behind the same name that drops the
    options: it re-sends the log bare from its start; the bytes delivered are skipped."""
    lines = make_lines(200)
    server = FakeLogServer(lines, honour_timestamps=False)
    serve(server, cuts=[3000], honour=[True])
    caplog.set_level(logging.INFO, logger='test.plugin')
    out, stats = follow(server)
    assert out == content(lines)
    assert any('ignores timestamps' in r.getMessage() for r in caplog.records)
    assert stats.gaps == 0 and stats.prefix_mismatches == 0


@responses.activate
def test_a_consumer_that_neither_strips_nor_accepts_a_block_is_a_bug_said_at_once():
    server = FakeLogServer(make_lines(20))
    serve(server)
    pieces = follow_build_log(make_client(), 'b', keep_prefixed=True)
    first = next(pieces)
    assert isinstance(first, PrefixedLines) and first.raw == stamped(make_lines(20))
    with pytest.raises(RuntimeError, match='neither stripped nor accepted'):
        next(pieces)


def test_a_block_of_prefixed_lines_is_settled_once():
    cursor = TimestampCursor(StreamStats(), lambda gap: None)
    cursor.restart()
    piece = cursor.feed(stamped(make_lines(3)), keep_prefixed=True)
    assert piece.stripped() == content(make_lines(3))
    with pytest.raises(RuntimeError, match='only once'):
        piece.accept(10)


@pytest.mark.parametrize('count', [1, 3, 8, 9, 30])
def test_the_last_line_of_a_block_is_known_by_its_ordinal_among_equal_timestamps(count):
    """The resume point after a block whose last ``count`` lines share one timestamp (the
    whole block, or after an earlier line of another second)."""
    lines = make_lines(count, same_every=count)
    for head in ([], make_lines(1, per_second=1)[:1]):
        earlier = [(stamp(BASE_NS - 10**9), text) for _s, text in head]
        cursor = TimestampCursor(StreamStats(), lambda gap: None)
        cursor.restart()
        assert consume(cursor.feed(stamped(earlier + lines), MODE != 'stripped')) == \
            content(earlier + lines)
        assert (cursor.last.stamp, cursor.last.ordinal) == (lines[0][0], count - 1)
