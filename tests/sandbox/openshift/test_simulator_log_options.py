"""The simulator's build log options as OpenShift/the kubelet serve them: ``timestamps``,
``sinceTime`` at whole seconds, rotation (only the current file for new requests), and a
server that knows neither option."""

from __future__ import annotations

import re

import pytest

from koji_containerbuild.sandbox.openshift.faults import Faults
from koji_containerbuild.sandbox.openshift.logs import (
    STAMP_QUANTUM,
    LogBuffer,
    format_timestamp,
    parse_since_time,
)
from tests.sandbox.openshift.test_simulator_helpers import (
    BUILDS,
    create_build,
    running_sim,
    session,
)

STAMPED = re.compile(rb'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (.*\n)')
SECOND = 1_796_196_489 * 10**9      # 2026-12-02T07:28:09Z


@pytest.fixture
def sim():
    yield from running_sim()


def log_get(sim, name, **params):
    reply = session().get(f"{sim.url}{BUILDS}/{name}/log", params=params, timeout=30)
    return reply


def unstamp(data: bytes) -> tuple[list[bytes], bytes]:
    """(timestamps, the lines without them); every line must carry one."""
    stamps, lines = [], []
    for line in data.splitlines(keepends=True):
        match = STAMPED.fullmatch(line)
        assert match, line
        stamps.append(match.group(1))
        lines.append(match.group(2))
    return stamps, b''.join(lines)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def buffer_with(lines_per_tick: list[list[bytes]], tick: int = 300_000_000) -> LogBuffer:
    buffer = LogBuffer()
    buffer.clock = clock = Clock(SECOND)
    for batch in lines_per_tick:
        for line in batch:
            buffer.append(line)
        clock.now += tick
    return buffer


def test_timestamps_are_kubelet_rfc3339nano():
    assert format_timestamp(SECOND + 123_456_789) == b'2026-12-02T07:28:09.123456789Z'
    assert format_timestamp(SECOND + 120_000_000) == b'2026-12-02T07:28:09.12Z'
    assert format_timestamp(SECOND) == b'2026-12-02T07:28:09Z'
    assert parse_since_time('2026-12-02T07:28:09.999Z') == SECOND // 10**9  # whole seconds
    assert parse_since_time('2026-12-02T09:28:09+02:00') == SECOND // 10**9
    assert parse_since_time('yesterday') is None


def test_every_line_is_stamped_in_order_and_the_bytes_are_the_log(sim):
    create_build(sim, "t1", "success")
    sim.wait_for_phase("t1", {"Complete"}, 20)
    stamps, text = unstamp(log_get(sim, "t1", timestamps="true").content)
    assert text == sim.emitted_log("t1")
    assert [s for s in stamps] == sorted(stamps, key=lambda s: (s[:19], s[20:-1].ljust(9, b'0')))
    assert log_get(sim, "t1").content == text            # without the option: bare lines


def test_since_time_starts_at_the_first_line_of_that_whole_second():
    buffer = buffer_with([[b'a\n', b'b\n'], [b'c\n'], [b'd\n', b'e\n'], [b'f\n']])
    # a, b at .0; c at .3; d, e at .6; f at .9 -- all in one second, then a second later:
    buffer.clock.now = SECOND + 1_200_000_000
    buffer.append(b'g\n')
    assert buffer.offset_since_time(SECOND // 10**9) == 0
    assert buffer.offset_since_time(SECOND // 10**9 + 1) == len(b'abcdef') * 2
    assert buffer.offset_since_time(SECOND // 10**9 + 5) == buffer.size  # none yet: the end


def test_lines_of_one_write_share_a_stamp_and_stamps_never_change():
    buffer = buffer_with([[b'one\ntwo\n'], [b'three\n']])
    first = buffer.stamp_lines(0, buffer.read(0, 100), True)
    assert first.count(format_timestamp(SECOND) + b' ') == 2
    assert first.endswith(format_timestamp(SECOND + 300_000_000) + b' three\n')
    buffer.append(b'four\n')
    assert buffer.stamp_lines(0, buffer.read(0, 14), True) == first


def test_a_generated_region_is_stamped_per_read_buffer_over_its_time():
    buffer = LogBuffer()
    buffer.clock = clock = Clock(SECOND)
    line = b'x' * 99 + b'\n'
    reveal = buffer.append_lazy(len(line) * 2000,
                                lambda off, n: (line * (n // 100 + 2))[off % 100:][:n])
    for _ in range(4):
        clock.now += 500_000_000
        reveal(len(line) * 500)
    stamps, text = unstamp(buffer.stamp_lines(0, buffer.read(0, buffer.size), True))
    assert text == line * 2000
    assert len(set(stamps)) >= buffer.size // STAMP_QUANTUM      # one per 8 KiB read
    assert {s[:19] for s in stamps} == {b"2026-12-02T07:28:09", b"2026-12-02T07:28:10"}


def test_rotation_serves_new_requests_only_the_current_file():
    buffer = buffer_with([[b'%04d line\n' % i] for i in range(100)], tick=1000)
    assert buffer.size == 1000
    start = buffer.current_file_start(256)
    assert start == 770  # the first line at or after 3 * 256
    assert buffer.read(start, 10) == b'0077 line\n'
    assert buffer.current_file_start(2000) == 0


def test_a_reconnect_after_rotation_starts_in_the_current_file(sim):
    sim.faults = Faults(log_rotate_bytes=1024)
    create_build(sim, "r1", "success")
    sim.wait_for_phase("r1", {"Complete"}, 20)
    emitted = sim.emitted_log("r1")
    served = log_get(sim, "r1").content
    assert len(emitted) > 2048 and len(served) <= 1024 + len(emitted.splitlines()[-1]) * 4
    assert emitted.endswith(served) and emitted[-len(served) - 1:-len(served)] == b'\n'
    _stamps, text = unstamp(log_get(sim, "r1", timestamps="true").content)
    assert text == served


def test_since_time_with_since_seconds_is_invalid_and_a_bad_time_is_a_bad_request(sim):
    create_build(sim, "v1", "success")
    sim.wait_for_phase("v1", {"Complete"}, 20)
    both = log_get(sim, "v1", sinceTime="2026-12-02T07:28:09Z", sinceSeconds="5")
    assert both.status_code == 422 and both.json()["reason"] == "Invalid"
    bad = log_get(sim, "v1", sinceTime="07:28")
    assert bad.status_code == 400 and "RFC 3339" in bad.json()["message"]


def test_a_server_that_ignores_the_options_sends_bare_lines_from_the_start(sim):
    sim.faults = Faults(log_ignore_timestamps=True)
    create_build(sim, "i1", "success")
    sim.wait_for_phase("i1", {"Complete"}, 20)
    reply = log_get(sim, "i1", timestamps="true", sinceTime="2099-01-01T00:00:00Z")
    assert reply.content == sim.emitted_log("i1")


def test_rotation_never_splits_lines_written_together():
    # four 10-byte lines per write, all with the write's timestamp
    buffer = buffer_with([[b'%04d line\n' % (4 * w + i) for i in range(4)] for w in range(25)])
    assert buffer.current_file_start(256) == 800  # 768 is inside the write at 760..800


def test_since_time_finds_the_first_line_of_any_second_in_generated_regions():
    buffer = LogBuffer()
    buffer.clock = clock = Clock(SECOND)
    for i in range(30):             # plain lines first, as a build's early steps
        clock.now += 90_000_000
        buffer.append(b'plain line %d\n' % i)
    line = b'y' * 149 + b'\n'
    reveal = buffer.append_lazy(len(line) * 4000,
                                lambda off, n: (line * (n // 150 + 2))[off % 150:][:n])
    for step in range(40):          # then uneven growth: 15 KB every 0.37 s
        clock.now += 370_000_000 + step * 7_000_000
        reveal(len(line) * 100)
    for i in range(30):
        clock.now += 130_000_000
        buffer.append(b'last line %d\n' % i)
    starts, offset = [], 0
    for text in buffer.read(0, buffer.size).splitlines(keepends=True):
        starts.append((offset, buffer.timestamp_of(offset)))
        offset += len(text)
    first_second, last_second = starts[0][1] // 10**9, starts[-1][1] // 10**9
    assert last_second - first_second > 10
    for second in range(first_second, last_second + 1):
        want = next(o for o, stamp in starts if stamp >= second * 10**9)
        assert buffer.offset_since_time(second) == want, second


@pytest.mark.parametrize("seed", range(40))
def test_the_clients_cursor_reads_the_stamped_log_whole_across_random_cuts(seed):
    """Simulator and client agree: resuming at the second of the last line, with cuts at any
    byte, gives back exactly the log (stamps shared by lines of one write included)."""
    import random

    from koji_containerbuild.openshift.logresume import TimestampCursor, parse_timestamp
    from koji_containerbuild.openshift.watch import StreamStats

    rnd = random.Random(seed)
    buffer = LogBuffer()
    buffer.clock = clock = Clock(SECOND)
    for i in range(rnd.randint(5, 60)):
        clock.now += rnd.choice([0, 1000, 40_000_000, 300_000_000])
        buffer.append(b''.join(b'plain %d.%d\n' % (i, j) for j in range(rnd.randint(1, 4))))
    line = b'z' * 63 + b'\n'
    reveal = buffer.append_lazy(64 * 3000, lambda off, n: (line * (n // 64 + 2))[off % 64:][:n])
    for _ in range(rnd.randint(3, 12)):
        clock.now += rnd.randint(100_000_000, 900_000_000)
        reveal(rnd.randint(1, 400) * 64)
    for i in range(rnd.randint(1, 20)):
        clock.now += rnd.choice([0, 50_000_000])
        buffer.append(b'last %d\n' % i)
    log = buffer.read(0, buffer.size)
    cursor = TimestampCursor(StreamStats(), lambda gap: pytest.fail(f"gap {gap}"))
    out = []
    for _attempt in range(500):
        cursor.restart()
        since = cursor.since()
        offset = buffer.offset_since_time(parse_timestamp(since.encode()) // 10**9) \
            if since else 0
        wire = buffer.stamp_lines(offset, buffer.read(offset, buffer.size - offset), True)
        cut = rnd.randint(40_000, 120_000)   # more than a second of this log
        for i in range(0, min(cut, len(wire)), 4096):
            out.append(cursor.feed(wire[i:min(i + 4096, cut)]))
        if cut >= len(wire):
            out.append(cursor.finish())
            break
    assert b''.join(out) == log
