"""LogFollower: stream → demux in a thread, errors kept, prompt stop; and the whole chain."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from koji_containerbuild.logs.follow import LogDemux, LogFollower, LogFollowError, TaskLogUploader
from tests.fixtures import OPENSHIFT_FIXTURES
from tests.logs.test_upload import UPLOAD_PATH, FakeHub

FIXTURE = OPENSHIFT_FIXTURES / "build_test-orchestrator-build-123_logs.txt"
TS = "2021-06-09 10:00:00,123"


def relay(platform: str, msg: str) -> bytes:
    return (f"{TS} platform:{platform} - atomic_reactor.plugins.orchestrate_build - INFO - "
            f"{TS} platform:- - atomic_reactor.plugins.x - INFO - {msg}\n").encode()


def worker_line(msg: str) -> bytes:
    return f"{TS} - atomic_reactor.plugins.x - INFO - {msg}\n".encode()


def test_stream_is_demuxed_and_join_reports_success(tmp_path):
    data = FIXTURE.read_bytes()
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    follower = LogFollower(lambda: iter(chunks), LogDemux(str(tmp_path))).start()
    assert follower.join(timeout=5) is None
    assert follower.done and not follower.cancelled
    follower.raise_if_failed()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orchestrator.log", "x86_64.log"]


def test_stream_failure_is_kept_and_the_lines_before_it_are_on_disk(tmp_path):
    def broken_stream():
        yield b"line one\nline t"
        raise ConnectionError("connection reset by peer")

    follower = LogFollower(broken_stream, LogDemux(str(tmp_path))).start()
    error = follower.join(timeout=5)
    assert isinstance(error, ConnectionError)
    with pytest.raises(LogFollowError, match="connection reset by peer"):
        follower.raise_if_failed()
    # nothing silently dropped: the partial last line is written too
    assert (tmp_path / "orchestrator.log").read_bytes() == b"line one\nline t\n"


def test_stream_that_cannot_start_is_an_error(tmp_path):
    def refuse():
        raise PermissionError("403 Forbidden")

    follower = LogFollower(refuse, LogDemux(str(tmp_path))).start()
    assert isinstance(follower.join(timeout=5), PermissionError)
    no_stream = LogFollower(lambda: None, LogDemux(str(tmp_path))).start()
    assert isinstance(no_stream.join(timeout=5), LogFollowError)


def test_write_failure_is_an_error(tmp_path):
    class FullDisk(LogDemux):
        def feed(self, chunk):
            raise OSError(28, "No space left on device")

    follower = LogFollower(lambda: iter([b"x\n"]), FullDisk(str(tmp_path))).start()
    assert isinstance(follower.join(timeout=5), OSError)


def blocking_stream(chunks: queue.Queue):
    """A silent build: the read blocks until data (or None = connection closed) arrives."""
    while True:
        item = chunks.get()
        if item is None:
            raise ConnectionError("stream closed")
        yield item


def test_stop_is_prompt_while_the_build_is_silent(tmp_path):
    chunks: queue.Queue = queue.Queue()
    chunks.put(b"before cancel\n")
    follower = LogFollower(lambda: blocking_stream(chunks), LogDemux(str(tmp_path)),
                           interrupt=lambda: chunks.put(None)).start()
    time.sleep(0.05)
    started = time.monotonic()
    follower.stop()
    assert follower.join(timeout=1) is None            # a stream broken by the stop is no error
    assert time.monotonic() - started < 1
    assert follower.done and follower.cancelled
    assert (tmp_path / "orchestrator.log").read_bytes() == b"before cancel\n"


def test_cancel_event_stops_between_chunks(tmp_path):
    cancel = threading.Event()

    def stream():
        yield b"one\n"
        cancel.set()
        yield b"two\n"
        yield b"three\n"

    follower = LogFollower(stream, LogDemux(str(tmp_path)), cancel=cancel).start()
    assert follower.join(timeout=5) is None and follower.cancelled
    # the chunk in hand when the cancel came is kept; nothing is read after it
    assert (tmp_path / "orchestrator.log").read_bytes() == b"one\ntwo\n"


# ---------------------------------------------------------------------------------------------
# the chain: follow → demux → files → hub


def test_two_platform_build_reaches_the_hub_byte_identical(tmp_path):
    lines = []
    for i in range(400):
        lines.append(f"{TS} platform:- - atomic_reactor.plugins.orchestrate_build - INFO - "
                     f"orchestrator {i} ✓\n".encode())
        lines.append(relay("x86_64", f"x86 step {i}"))
        lines.append(relay("ppc64le", f"ppc step {i} grüße"))
    data = b"".join(lines)
    chunks = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    hub = FakeHub()
    uploader = TaskLogUploader(None, str(tmp_path), UPLOAD_PATH, upload=hub.upload,
                               min_interval=0.02).start()
    demux = LogDemux(str(tmp_path), on_data=uploader.notify)
    follower = LogFollower(lambda: iter(chunks), demux).start()
    assert follower.join(timeout=10) is None
    assert uploader.final_upload(timeout=5)
    uploader.close()
    assert hub.content() == {
        "orchestrator.log": b"".join(lines[0::3]),
        "x86_64.log": b"".join(worker_line(f"x86 step {i}") for i in range(400)),
        "ppc64le.log": b"".join(worker_line(f"ppc step {i} grüße") for i in range(400)),
    }


def test_cancelled_build_still_uploads_its_tail(tmp_path):
    """Regression #30 on the cancel path: lines received before the cancel reach the hub."""
    chunks: queue.Queue = queue.Queue()
    hub = FakeHub()
    uploader = TaskLogUploader(None, str(tmp_path), UPLOAD_PATH, upload=hub.upload,
                               min_interval=60).start()     # only the final upload can ship it
    demux = LogDemux(str(tmp_path), on_data=uploader.notify)
    follower = LogFollower(lambda: blocking_stream(chunks), demux,
                           interrupt=lambda: chunks.put(None)).start()
    chunks.put(b"first\n")
    assert hub.wait_for("orchestrator.log", b"first\n")
    chunks.put(b"second\n")
    chunks.put(b"third, unterminated")
    deadline = time.monotonic() + 2
    while demux.bytes_in < 32 and time.monotonic() < deadline:
        time.sleep(0.01)
    follower.stop()                                     # SIGINT path
    assert follower.join(timeout=1) is None
    assert uploader.final_upload(timeout=2)
    uploader.close()
    assert hub.content() == {"orchestrator.log": b"first\nsecond\nthird, unterminated\n"}


def test_line_latency_through_the_chain(tmp_path):
    chunks: queue.Queue = queue.Queue()
    hub = FakeHub()
    uploader = TaskLogUploader(None, str(tmp_path), UPLOAD_PATH, upload=hub.upload).start()
    demux = LogDemux(str(tmp_path), on_data=uploader.notify)
    follower = LogFollower(lambda: blocking_stream(chunks), demux,
                           interrupt=lambda: chunks.put(None)).start()
    try:
        expected = b""
        for i in range(4):
            chunk = relay("x86_64", f"line {i}")
            expected += worker_line(f"line {i}")
            chunks.put(chunk)
            assert hub.wait_for("x86_64.log", expected, timeout=0.5), f"line {i} late"
    finally:
        follower.stop()
        follower.join(timeout=1)
        uploader.final_upload(timeout=2)
        uploader.close()
