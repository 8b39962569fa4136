"""TaskLogUploader against a hub stand-in that stores uploads the way kojihub does."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from koji.util import adler32_constructor

from koji_containerbuild.logs.upload import TaskLogUploader

UPLOAD_PATH = "tasks/123/123"


class FakeHub:
    """Stores uploads like kojihub's handle_upload: truncate at offset, then write."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.calls: list[tuple[str, int, bytes]] = []
        self.fail = None          # callable(name, offset, chunk) -> bool
        self.gate: threading.Event | None = None   # blocks uploads until set
        self.changed = threading.Condition()

    def raw_upload(self, name: str, offset: int, chunk: bytes) -> None:
        if self.gate is not None:
            self.gate.wait()
        if self.fail is not None and self.fail(name, offset, chunk):
            raise ConnectionError("hub unavailable")
        with self.changed:
            data = self.files.setdefault(name, bytearray())
            assert offset <= len(data), "upload would leave a hole"
            del data[offset:]
            data += chunk
            self.calls.append((name, offset, bytes(chunk)))
            self.changed.notify_all()

    def upload(self, session, name, path, offset, chunk):
        """The uploader's chunk sender: one call per chunk, raises when not stored."""
        assert path == UPLOAD_PATH and isinstance(chunk, bytes)
        self.raw_upload(name, offset, chunk)

    def wait_for(self, name: str, content: bytes, timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while bytes(self.files.get(name, b"")) != content:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
        return True

    def content(self) -> dict[str, bytes]:
        return {name: bytes(data) for name, data in self.files.items()}


class FakeSession:
    """What koji.daemon.incremental_upload needs from a ClientSession (fast upload path)."""

    opts = {"use_fast_upload": True}

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub

    def rawUpload(self, chunk, offset, path, name, overwrite=False):  # noqa: N802 - koji API
        assert path == UPLOAD_PATH and overwrite
        self.hub.raw_upload(name, offset, chunk)
        return {"size": len(chunk), "hexdigest": adler32_constructor(chunk).hexdigest(),
                "offset": offset}


@pytest.fixture
def hub():
    return FakeHub()


def make(hub, outdir, **kwargs) -> TaskLogUploader:
    kwargs.setdefault("upload", hub.upload)
    kwargs.setdefault("chunk_size", 65536)
    kwargs.setdefault("retry_initial", 0.01)
    return TaskLogUploader(None, str(outdir), UPLOAD_PATH, **kwargs)


def append(path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def local_files(outdir) -> dict[str, bytes]:
    return {name: (outdir / name).read_bytes() for name in os.listdir(outdir)}


# ---------------------------------------------------------------------------------------------
# offsets and content


def test_each_byte_is_sent_once_and_in_order(hub, tmp_path):
    uploader = make(hub, tmp_path)
    append(tmp_path / "orchestrator.log", b"one\n")
    append(tmp_path / "x86_64.log", "grüße 🚀\n".encode())
    assert uploader.upload_pending()
    append(tmp_path / "orchestrator.log", b"two\n" * 40000)     # > 64 KiB: several chunks
    assert uploader.upload_pending()
    assert uploader.upload_pending()                             # nothing new: no call
    assert hub.content() == local_files(tmp_path)
    for name in ("orchestrator.log", "x86_64.log"):
        sent = [(offset, chunk) for fname, offset, chunk in hub.calls if fname == name]
        position = 0
        for offset, chunk in sent:
            assert offset == position, "a range was sent twice or skipped"
            position += len(chunk)
    assert uploader.uploaded() == {"orchestrator.log": 4 + 4 * 40000,
                                   "x86_64.log": len("grüße 🚀\n".encode())}


def test_real_koji_incremental_upload_with_non_ascii_bytes(hub, tmp_path):
    """Default callable is koji.daemon.incremental_upload; offsets are bytes, not chars."""
    data = ("ünïcödé ✓ line\n" * 9000).encode() + b"\xff\xfe raw\n"
    append(tmp_path / "x86_64.log", data)
    uploader = TaskLogUploader(FakeSession(hub), str(tmp_path), UPLOAD_PATH)
    assert uploader.upload_pending()
    append(tmp_path / "x86_64.log", "tail ü\n".encode())
    assert uploader.upload_pending()
    assert hub.content() == {"x86_64.log": data + "tail ü\n".encode()}
    assert uploader.uploaded() == {"x86_64.log": len(data) + len("tail ü\n".encode())}


def test_only_log_and_json_files_are_uploaded(hub, tmp_path):
    append(tmp_path / "orchestrator.log", b"a\n")
    append(tmp_path / "metadata.json", b"{}")
    append(tmp_path / ".metadata.json.part", b"{")
    append(tmp_path / "notes.txt", b"x")
    (tmp_path / "dir.log").mkdir()
    assert make(hub, tmp_path).upload_pending()
    assert sorted(hub.content()) == ["metadata.json", "orchestrator.log"]


def test_replaced_file_is_uploaded_again_from_the_start(hub, tmp_path):
    uploader = make(hub, tmp_path)
    append(tmp_path / "metadata.json", b'{"old": "a much longer first version"}')
    assert uploader.upload_pending()
    append(tmp_path / "new.tmp", b'{"new": 1}')
    os.replace(tmp_path / "new.tmp", tmp_path / "metadata.json")
    assert uploader.upload_pending()
    assert hub.content() == {"metadata.json": b'{"new": 1}'}


# ---------------------------------------------------------------------------------------------
# hub failures


def test_hub_failure_mid_file_keeps_offsets_and_recovers_exactly(hub, tmp_path):
    data = bytes(range(256)) * 1024                    # 256 KiB: four chunks
    append(tmp_path / "orchestrator.log", data)
    uploader = make(hub, tmp_path)
    hub.fail = lambda name, offset, chunk: offset >= 2 * 65536   # third chunk on: down
    assert not uploader.upload_pending()
    # the two chunks the hub stored are confirmed: a retry starts at the failed one
    assert uploader.uploaded() == {"orchestrator.log": 2 * 65536}
    assert len(hub.files["orchestrator.log"]) == 2 * 65536
    append(tmp_path / "orchestrator.log", b"more\n")
    assert not uploader.upload_pending()
    hub.fail = None
    assert uploader.upload_pending()
    assert hub.content() == {"orchestrator.log": data + b"more\n"}
    assert [offset for _name, offset, _chunk in hub.calls] == [0, 65536, 131072, 196608, 262144]


def test_real_koji_upload_when_the_hub_raises(hub, tmp_path):
    from koji_containerbuild.logs.upload import FAST_CHUNK

    data = b"x" * (2 * FAST_CHUNK + 150000) + b"\n"  # three chunks
    append(tmp_path / "orchestrator.log", data)
    failures = iter([False, True, True])
    hub.fail = lambda name, offset, chunk: next(failures, False)
    uploader = TaskLogUploader(FakeSession(hub), str(tmp_path), UPLOAD_PATH)
    assert not uploader.upload_pending()
    assert not uploader.upload_pending()
    assert uploader.upload_pending()
    assert hub.content() == {"orchestrator.log": data}


def test_background_retries_without_new_data(hub, tmp_path):
    down = threading.Event()
    down.set()
    hub.fail = lambda name, offset, chunk: down.is_set()
    uploader = make(hub, tmp_path, retry_initial=0.02, retry_max=0.05).start()
    try:
        append(tmp_path / "orchestrator.log", b"written while the hub is down\n")
        uploader.notify()
        time.sleep(0.1)
        assert hub.content() == {}
        down.clear()                                     # hub back; nobody notifies again
        assert hub.wait_for("orchestrator.log", b"written while the hub is down\n")
    finally:
        assert uploader.final_upload(timeout=2)
        uploader.close()


def test_final_upload_gives_up_when_the_hub_stays_down(hub, tmp_path):
    append(tmp_path / "orchestrator.log", b"line\n")
    hub.fail = lambda name, offset, chunk: True
    uploader = make(hub, tmp_path, retry_initial=0.01)
    started = time.monotonic()
    assert uploader.final_upload(timeout=1) is False
    assert time.monotonic() - started < 1
    assert (tmp_path / "orchestrator.log").read_bytes() == b"line\n"


def test_final_upload_does_not_hang_on_a_blocked_hub_call(hub, tmp_path):
    hub.gate = threading.Event()
    uploader = make(hub, tmp_path).start()
    append(tmp_path / "orchestrator.log", b"line\n")
    uploader.notify()
    started = time.monotonic()
    assert uploader.final_upload(timeout=0.2) is False
    assert time.monotonic() - started < 1
    uploader.close()                                   # must not wait for the blocked pass
    assert uploader.uploaded() == {"orchestrator.log": 0}
    assert time.monotonic() - started < 1
    hub.gate.set()
    assert hub.wait_for("orchestrator.log", b"line\n")


# ---------------------------------------------------------------------------------------------
# scheduling: latency, coalescing, silence


def test_a_line_reaches_the_hub_within_half_a_second(hub, tmp_path):
    uploader = make(hub, tmp_path, min_interval=0.15).start()
    try:
        expected = b""
        for i in range(5):
            line = f"line {i}\n".encode()
            expected += line
            append(tmp_path / "orchestrator.log", line)
            uploader.notify()
            assert hub.wait_for("orchestrator.log", expected, timeout=0.5), f"line {i} late"
    finally:
        uploader.final_upload()
        uploader.close()


def test_bursts_are_coalesced(hub, tmp_path):
    uploader = make(hub, tmp_path, min_interval=0.05).start()
    try:
        for i in range(300):
            append(tmp_path / "orchestrator.log", f"burst line {i}\n".encode())
            uploader.notify()
            if i % 50 == 0:
                time.sleep(0.02)
        assert uploader.final_upload(timeout=2)
    finally:
        uploader.close()
    assert hub.content() == local_files(tmp_path)
    assert uploader.passes < 30
    assert len(hub.calls) < 30


def started_on_a_line(hub, tmp_path, line: bytes, **kwargs) -> TaskLogUploader:
    """A started uploader whose first line, already on the hub, is ``line``."""
    uploader = make(hub, tmp_path, **kwargs).start()
    append(tmp_path / "orchestrator.log", line)
    uploader.notify()
    assert hub.wait_for("orchestrator.log", line)
    return uploader


def test_a_fast_log_wakes_the_thread_once_per_pass_not_per_chunk(hub, tmp_path):
    uploader = started_on_a_line(hub, tmp_path, b"first line\n", min_interval=60)
    try:
        for i in range(1000):         # the next pass is due in 60 s: nothing to wake for
            append(tmp_path / "orchestrator.log", b"line %d\n" % i)
            uploader.notify()
        time.sleep(0.1)
        assert uploader.wakeups <= 2
        assert uploader.final_upload(timeout=5)
    finally:
        uploader.close()
    assert hub.content() == local_files(tmp_path)


def test_a_log_growing_faster_than_a_pass_is_uploaded_without_pauses(hub, tmp_path):
    """While a whole chunk is waiting, the next pass starts at once: min_interval only
    coalesces a trickle. Here the file grows by 5 chunks during the first pass."""
    grown = []

    def upload(session, name, path, offset, chunk):
        if not grown:
            grown.append(True)
            append(tmp_path / "orchestrator.log", b"y" * 5000)
        hub.upload(session, name, path, offset, chunk)

    uploader = make(hub, tmp_path, min_interval=60, chunk_size=1000, upload=upload).start()
    try:
        append(tmp_path / "orchestrator.log", b"x" * 3000)
        uploader.notify()
        assert hub.wait_for("orchestrator.log", b"x" * 3000 + b"y" * 5000, timeout=5)
        assert uploader.passes == 2
    finally:
        uploader.final_upload(timeout=5)
        uploader.close()


def test_silence_costs_no_wakeups_and_no_calls(hub, tmp_path):
    uploader = started_on_a_line(hub, tmp_path, b"last line before silence\n",
                                 min_interval=0.01)
    try:
        time.sleep(0.05)
        passes, calls = uploader.passes, len(hub.calls)
        time.sleep(0.4)
        assert (uploader.passes, len(hub.calls)) == (passes, calls)
    finally:
        uploader.final_upload()
        uploader.close()


def test_final_upload_drains_what_the_thread_has_not_sent(hub, tmp_path):
    """Regression #30: the tail must reach the hub on every exit path (cancel too)."""
    uploader = started_on_a_line(hub, tmp_path, b"first\n", min_interval=60)
    append(tmp_path / "orchestrator.log", b"tail written just before cancel\n")
    uploader.notify()                                   # next pass would be 60 s away
    assert uploader.final_upload(timeout=2)
    uploader.close()
    assert hub.content() == {"orchestrator.log": b"first\ntail written just before cancel\n"}


def test_context_manager_uploads_on_exception(hub, tmp_path):
    with pytest.raises(RuntimeError):
        with make(hub, tmp_path, min_interval=60):
            append(tmp_path / "orchestrator.log", b"before the failure\n")
            raise RuntimeError("task failed")
    assert hub.content() == {"orchestrator.log": b"before the failure\n"}


# ---------------------------------------------------------------------------------------------
# the workdir vanishing (regression #1)


def test_workdir_removed_under_the_uploader(hub, tmp_path):
    outdir = tmp_path / "osbslogs"
    outdir.mkdir()
    uploader = make(hub, outdir)
    append(outdir / "orchestrator.log", b"a\n")
    assert uploader.upload_pending()
    append(outdir / "orchestrator.log", b"b\n")
    shutil.rmtree(outdir)
    assert uploader.upload_pending()                   # open fd still readable
    assert uploader.final_upload(timeout=1)
    assert hub.content() == {"orchestrator.log": b"a\nb\n"}


def test_workdir_that_never_existed(hub, tmp_path):
    uploader = make(hub, tmp_path / "missing")
    assert uploader.upload_pending()
    assert uploader.final_upload(timeout=1)
    assert hub.calls == []


class _RawHub:
    """A session double for the fast upload path: stores bytes like the hub's rawUpload."""

    def __init__(self, corrupt_at=None):
        self.opts = {"use_fast_upload": True}
        self.files: dict = {}
        self.sizes: list = []
        self.corrupt_at = corrupt_at

    def rawUpload(self, chunk, offset, path, name, overwrite=False):  # noqa: N802 - koji's name
        from koji.util import adler32_constructor

        data = self.files.get(name, b"")[:offset] + chunk
        self.files[name] = data
        self.sizes.append(len(chunk))
        stored = b"x" + chunk[1:] if offset == self.corrupt_at else chunk
        return {"size": len(chunk), "hexdigest": adler32_constructor(stored).hexdigest()}


def test_fast_upload_sends_large_chunks_and_resends_a_chunk_stored_wrongly(tmp_path):
    from koji_containerbuild.logs.upload import FAST_CHUNK

    data = bytes(range(256)) * (3 * FAST_CHUNK // 256) + b"tail" * 30  # no chunk starts with x
    (tmp_path / "x86_64.log").write_bytes(data)
    hub = _RawHub()
    assert TaskLogUploader(hub, str(tmp_path), "tasks/1/1").final_upload()
    assert hub.files["x86_64.log"] == data
    assert hub.sizes == [FAST_CHUNK] * 3 + [120]  # 4 requests, where koji's path makes 49
    once = _RawHub(corrupt_at=FAST_CHUNK)         # the hub garbles the second chunk once
    uploader = TaskLogUploader(once, str(tmp_path), "tasks/1/1", retry_initial=0.001)
    once.rawUpload = _corrupt_once(once.rawUpload)
    assert uploader.final_upload()
    assert once.files["x86_64.log"] == data and once.sizes.count(FAST_CHUNK) == 4


def _corrupt_once(upload):
    state = {"done": False}

    def call(chunk, offset, path, name, overwrite=False):
        result = upload(chunk, offset, path, name, overwrite)
        if state["done"]:
            return dict(result, hexdigest=adler32_constructor(chunk).hexdigest())
        state["done"] = state["done"] or result["hexdigest"] != adler32_constructor(
            chunk).hexdigest()
        return result
    return call


def test_a_chunk_the_hub_always_garbles_ends_the_final_upload_naming_the_file(tmp_path):
    from koji_containerbuild.logs.upload import FAST_CHUNK

    data = bytes(range(256)) * (2 * FAST_CHUNK // 256)  # the second chunk starts with 0x00
    (tmp_path / "x86_64.log").write_bytes(data)
    uploader = TaskLogUploader(_RawHub(corrupt_at=FAST_CHUNK), str(tmp_path), "tasks/1/1",
                               retry_initial=0.001, upload_retries=3)
    assert uploader.final_upload() is False
    assert "rejected a chunk 4 times" in uploader.final_error
    assert uploader.describe_incomplete() == (
        f"x86_64.log: {FAST_CHUNK} of {2 * FAST_CHUNK} bytes on the hub")


def test_legacy_upload_file_call_when_the_session_has_no_fast_upload(tmp_path):
    import base64
    import hashlib

    class Legacy:
        opts = {"use_fast_upload": False}
        stored = bytearray()

        def uploadFile(self, path, name, size, checksum, offset, data):  # noqa: N802 - koji's
            raw = base64.b64decode(data)
            assert size == len(raw) and checksum == ("sha256", hashlib.sha256(raw).hexdigest())
            del self.stored[offset:]
            self.stored += raw
            return True

    data = b"legacy line \xe2\x9c\x93\n" * 100000
    (tmp_path / "orchestrator.log").write_bytes(data)
    session = Legacy()
    assert TaskLogUploader(session, str(tmp_path), "tasks/1/1").final_upload()
    assert bytes(session.stored) == data


# ---------------------------------------------------------------------------------------------
# progress and the end of the task (issue 13, item 2)


def test_one_failed_call_in_30_still_delivers_a_100_chunk_backlog(hub, tmp_path):
    """The confirmed offset moves per chunk: a pass that fails keeps what went through."""
    data = b"".join(b"%07d backlog line\n" % i for i in range(100 * 65536 // 20))
    append(tmp_path / "orchestrator.log", data)
    calls = iter(range(10 ** 6))
    hub.fail = lambda name, offset, chunk: next(calls) % 30 == 29
    uploader = make(hub, tmp_path, retry_initial=0.001, retry_max=0.001).start()
    try:
        uploader.notify()
        assert hub.wait_for("orchestrator.log", data, timeout=30)
    finally:
        hub.fail = None
        assert uploader.final_upload()
        uploader.close()
    assert len(hub.calls) <= 110          # each chunk confirmed once; ~1 in 30 sent twice


def test_final_upload_waits_for_a_hub_as_slow_as_it_is(hub, tmp_path):
    """No clock bounds the final upload: it ends when the bytes are on the hub."""
    data = os.urandom(40 * 65536)
    append(tmp_path / "x86_64.log", data)
    permits = threading.Semaphore(0)
    hub.gate = None
    real = hub.raw_upload

    def slow(name, offset, chunk):
        assert permits.acquire(timeout=30)
        real(name, offset, chunk)

    hub.raw_upload = slow

    def release():
        for _ in range(40):
            time.sleep(0.06)            # 2.4 s in all: longer than any fixed bound we had
            permits.release()

    threading.Thread(target=release, daemon=True).start()
    uploader = make(hub, tmp_path)
    assert uploader.final_upload() is True
    assert hub.content() == {"x86_64.log": data}


def test_final_upload_stops_when_the_session_gives_up_and_says_what_is_missing(hub, tmp_path):
    """A koji session retries each call itself; a call that still fails means the hub is
    gone: the final upload ends at once, naming every incomplete file and its byte counts."""
    append(tmp_path / "orchestrator.log", b"o" * 100)
    append(tmp_path / "x86_64.log", b"x" * 200000)
    hub.fail = lambda name, offset, chunk: name == "x86_64.log" and offset >= 65536
    uploader = make(hub, tmp_path)
    assert uploader.final_upload() is False
    assert "hub unavailable" in uploader.final_error
    assert uploader.describe_incomplete() == "x86_64.log: 65536 of 200000 bytes on the hub"
    assert sum(1 for name, _o, _c in hub.calls if name == "x86_64.log") == 1


def test_limit_bounds_a_final_upload_under_way(hub, tmp_path):
    """A cancel or kojid's stop during a slow final upload: no chunk starts after the
    deadline, and the caller waits at most that long."""
    append(tmp_path / "x86_64.log", os.urandom(200 * 65536))
    real = hub.raw_upload

    def slow(name, offset, chunk):
        time.sleep(0.01)
        real(name, offset, chunk)

    hub.raw_upload = slow
    uploader = make(hub, tmp_path)
    uploader.begin_final()
    uploader.limit(0.2)
    assert uploader.wait_final() is False
    assert "deadline" in uploader.final_error
    assert len(hub.calls) < 200
    assert uploader.incomplete()["x86_64.log"][0] == len(hub.files["x86_64.log"])




def test_chunks_follow_the_sessions_upload_blocksize(tmp_path):
    (tmp_path / "x86_64.log").write_bytes(b"y" * 200000)
    hub = _RawHub()
    hub.opts["upload_blocksize"] = 65536           # koji's ClientSession option
    assert TaskLogUploader(hub, str(tmp_path), "tasks/1/1").final_upload()
    assert hub.sizes == [65536, 65536, 65536, 200000 - 3 * 65536]


def test_refusal_after_a_cancel_is_one_quiet_info_line_not_an_error(hub, tmp_path, caplog):
    """Issue 15 #7: after ``koji cancel`` the hub refuses uploads to the task; that is expected,
    so it is said once at INFO and not retried, and the final upload is not an ERROR."""
    import logging

    import koji

    attempts = []

    def refused(session, name, path, offset, data):
        attempts.append(name)
        raise koji.ActionNotAllowed("host 1 does not own task 40")

    for name in ("orchestrator.log", "x86_64.log"):
        append(tmp_path / name, b"line\n")
    caplog.set_level(logging.DEBUG)
    uploader = make(hub, tmp_path, upload=refused)
    assert uploader.final_upload(timeout=5) is True
    uploader.close()
    assert len(attempts) == 1  # nothing retried, the other file not tried
    records = [r for r in caplog.records if r.name.startswith("koji_containerbuild")]
    assert [r.levelname for r in records] == ["INFO"]
    assert "host 1 does not own task 40" in records[0].getMessage()
    assert "cancelled" in records[0].getMessage()


def test_a_backlog_the_hub_no_longer_takes_does_not_keep_the_thread_busy(hub, tmp_path):
    import koji

    def refused(session, name, path, offset, data):
        raise koji.ActionNotAllowed("host 1 does not own task 40")

    uploader = make(hub, tmp_path, upload=refused, chunk_size=10, min_interval=0.01).start()
    try:
        append(tmp_path / "orchestrator.log", b"x" * 1000)    # 100 chunks waiting
        uploader.notify()
        time.sleep(0.3)
        assert uploader.passes <= 2
    finally:
        uploader.final_upload(timeout=5)
        uploader.close()
