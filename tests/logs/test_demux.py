"""LogDemux: orchestrator log → per-platform files, byte for byte (osbs1-contract §5.3)."""

from __future__ import annotations

import gc
import json
import os
import random
import re
import tempfile
import weakref
from itertools import cycle
from pathlib import Path

import pytest

from koji_containerbuild.logs.demux import LogDemux
from koji_containerbuild.logs.lines import parse_log_line
from koji_containerbuild.openshift.logresume import TimestampCursor
from koji_containerbuild.openshift.watch import StreamStats
from koji_containerbuild.prefixed import PrefixedLines
from tests.fixtures import OPENSHIFT_FIXTURES
from tests.logs.test_lines import relayed_shaped_lines, spaced_lines

FIXTURE = OPENSHIFT_FIXTURES / "build_test-orchestrator-build-123_logs.txt"

TS = "2021-06-09 10:00:00,123"


def orch(msg: str, name: str = "atomic_reactor.plugins.orchestrate_build",
         level: str = "INFO") -> str:
    return f"{TS} platform:- - {name} - {level} - {msg}"


def relay(platform: str, inner: str) -> str:
    return f"{TS} platform:{platform} - atomic_reactor.plugins.orchestrate_build - INFO - {inner}"


def worker(msg: str, level: str = "INFO") -> str:
    return f"2021-06-09 10:00:01,456 platform:- - atomic_reactor.plugins.x - {level} - {msg}"


def stripped_worker(msg: str, level: str = "INFO") -> str:
    return f"2021-06-09 10:00:01,456 - atomic_reactor.plugins.x - {level} - {msg}"


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if not p.name.startswith(".")}


def demux_chunks(outdir: Path, chunks, **kwargs) -> LogDemux:
    demux = LogDemux(str(outdir), **kwargs)
    for chunk in chunks:
        demux.feed(chunk)
    demux.close()
    return demux


# ---------------------------------------------------------------------------------------------
# the parse rule


def test_real_orchestrator_log_fixture_is_split_like_upstream(tmp_path):
    demux_chunks(tmp_path, [FIXTURE.read_bytes()])
    assert read_dir(tmp_path) == {
        "orchestrator.log": (
            b"2017-06-23 17:18:41,791 platform:- - atomic_reactor.foo - DEBUG - "
            b"this is from the orchestrator build\n"
            b"2017-06-23 17:18:41,791 - I really like bacon\n"),
        "x86_64.log": (
            b"2017-06-23 17:18:41,400 atomic_reactor.foo -  DEBUG - this is from a worker build\n"
            b'"ContainersPaused": 0,\n'),
    }


def test_short_worker_line_goes_whole_to_the_orchestrator_log(tmp_path):
    demux_chunks(tmp_path, [b"2021-06-09 10:00:00,1 platform:x86_64 - name\n"])
    assert read_dir(tmp_path) == {
        "orchestrator.log": b"2021-06-09 10:00:00,1 platform:x86_64 - name\n"}


@pytest.mark.parametrize("platform", ["../../etc", "a/b", ".hidden", "", "x" * 65,
                                      "orchestrator", "user_warnings"])
def test_unsafe_platform_names_never_become_files(tmp_path, platform):
    line = relay(platform, worker("hello")).encode() + b"\n"
    out = tmp_path / "out"
    demux_chunks(out, [line])
    assert read_dir(out) == {"orchestrator.log": line}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ---------------------------------------------------------------------------------------------
# bytes in, bytes out


MULTI = "".join(line + "\n" for line in [
    orch("starting"),
    relay("x86_64", worker("Schritt 1: grüße 🚀")),
    relay("ppc64le", worker("  indented   spaces kept")),
    "Traceback (most recent call last):",
    '  File "x.py", line 1',
    relay("x86_64", worker("", level="DEBUG")),
    "",
    relay("s390x", "no inner platform here"),
    relay("s390x", "  two leading spaces kept"),
    orch("ünïcödé done"),
]).encode() + b"\xff\xfe broken utf-8 \xc3\n" + relay("x86_64", worker("tail")).encode() + b"\r\n"

MULTI_EXPECTED = {
    "orchestrator.log": "".join(line + "\n" for line in [
        orch("starting"),
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "",
        orch("ünïcödé done"),
    ]).encode() + b"\xff\xfe broken utf-8 \xc3\n",
    "x86_64.log": (stripped_worker("Schritt 1: grüße 🚀") + "\n"
                   + stripped_worker("", level="DEBUG") + "\n"
                   + stripped_worker("tail") + "\r\n").encode(),
    "ppc64le.log": (stripped_worker("  indented   spaces kept") + "\n").encode(),
    "s390x.log": b"no inner platform here\n  two leading spaces kept\n",
}


def test_multi_platform_log_in_one_chunk(tmp_path):
    demux = demux_chunks(tmp_path, [MULTI])
    assert read_dir(tmp_path) == MULTI_EXPECTED
    assert set(demux.files) == set(MULTI_EXPECTED)
    assert demux.bytes_in == len(MULTI)


def test_every_split_position_gives_identical_files(tmp_path):
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        # hundreds of file creations: RAM is ~10x faster than the disk under tmp_path
        with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
            _check_every_split_position(Path(shm))
    else:
        _check_every_split_position(tmp_path)


def _check_every_split_position(tmp_path: Path) -> None:
    for cut in range(len(MULTI) + 1):
        for old in tmp_path.iterdir():
            old.unlink()
        demux_chunks(tmp_path, [MULTI[:cut], MULTI[cut:]])
        assert read_dir(tmp_path) == MULTI_EXPECTED, f"split at byte {cut}"


def test_one_byte_chunks_and_random_chunks(tmp_path):
    demux_chunks(tmp_path / "bytes", [MULTI[i:i + 1] for i in range(len(MULTI))])
    assert read_dir(tmp_path / "bytes") == MULTI_EXPECTED
    rng = random.Random(3)
    for run in range(20):
        chunks, pos = [], 0
        while pos < len(MULTI):
            size = rng.randint(1, 40)
            chunks.append(MULTI[pos:pos + size])
            pos += size
        demux_chunks(tmp_path / f"r{run}", chunks)
        assert read_dir(tmp_path / f"r{run}") == MULTI_EXPECTED


def test_unterminated_last_line_is_written_on_close(tmp_path):
    demux = LogDemux(str(tmp_path))
    demux.feed(orch("one").encode() + b"\n" + orch("last, no newline").encode())
    assert (tmp_path / "orchestrator.log").read_bytes() == orch("one").encode() + b"\n"
    demux.close()
    assert (tmp_path / "orchestrator.log").read_bytes() == (
        orch("one") + "\n" + orch("last, no newline") + "\n").encode()


def test_each_line_is_on_disk_when_feed_returns(tmp_path):
    """Regression #38: followed logs appeared in bursts because lines sat in a buffer."""
    notified = []
    demux = LogDemux(str(tmp_path), on_data=lambda: notified.append(1))
    for i in range(3):
        demux.feed(relay("x86_64", worker(f"line {i}")).encode() + b"\n")
        with open(tmp_path / "x86_64.log", "rb") as reader:   # a second reader, like the uploader
            assert reader.read().count(b"\n") == i + 1
    assert len(notified) == 3
    demux.close()


def test_files_are_appended_not_truncated(tmp_path):
    (tmp_path / "orchestrator.log").write_bytes(b"earlier\n")
    demux_chunks(tmp_path, [b"later\n"])
    assert (tmp_path / "orchestrator.log").read_bytes() == b"earlier\nlater\n"


def test_overlong_line_is_streamed_whole_instead_of_buffered(tmp_path):
    demux = LogDemux(str(tmp_path), max_line_bytes=100)
    demux.feed(b"a" * 150)
    assert (tmp_path / "orchestrator.log").read_bytes() == b"a" * 150   # on disk, not held
    demux.feed(b"b\nc\n")
    demux.close()
    assert (tmp_path / "orchestrator.log").read_bytes() == b"a" * 150 + b"b\nc\n"


def test_combined_mode_keeps_lines_verbatim_under_the_given_name(tmp_path):
    demux = demux_chunks(tmp_path, [MULTI], demux=False, main_log="openshift-incremental.log")
    assert read_dir(tmp_path) == {"openshift-incremental.log": MULTI + b""}
    assert demux.files == {"openshift-incremental.log": str(tmp_path / "openshift-incremental.log")}


def test_main_log_name_must_be_a_plain_log_name(tmp_path):
    for bad in ("../x.log", "orchestrator.txt", ".x.log"):
        with pytest.raises(ValueError):
            LogDemux(str(tmp_path), main_log=bad)


# ---------------------------------------------------------------------------------------------
# USER_WARNING and _metadata_


def user_warning(message, platform=None) -> str:
    line = f"{TS} platform:- - atomic_reactor.plugins.x - USER_WARNING - " + json.dumps(
        {"message": message})
    return relay(platform, line) if platform else line


def test_user_warnings_leave_the_logs_unique_and_in_order(tmp_path):
    lines = [
        orch("before"),
        user_warning("Base image is deprecated"),
        relay("x86_64", user_warning("Package foo is unsigned")),
        user_warning("Base image is deprecated"),
        relay("ppc64le", user_warning("Base image is deprecated")),
        user_warning("grüße\nzwei Zeilen"),
        orch("after"),
    ]
    demux = demux_chunks(tmp_path, ["".join(x + "\n" for x in lines).encode()])
    assert demux.user_warnings == ["Base image is deprecated", "Package foo is unsigned",
                                   "grüße\nzwei Zeilen"]
    files = read_dir(tmp_path)
    assert files["user_warnings.log"] == (
        "Base image is deprecated\nPackage foo is unsigned\ngrüße\nzwei Zeilen\n").encode()
    assert files["orchestrator.log"] == (orch("before") + "\n" + orch("after") + "\n").encode()
    assert "x86_64.log" not in files and "ppc64le.log" not in files


@pytest.mark.parametrize("payload", ['{"message": ', '{"msg": "x"}', '{"message": 3}',
                                     '["message"]'])
def test_malformed_user_warning_stays_in_the_log(tmp_path, payload):
    line = f"{TS} platform:- - atomic_reactor.plugins.x - USER_WARNING - {payload}\n".encode()
    demux = demux_chunks(tmp_path, [line])
    assert demux.user_warnings == []
    assert read_dir(tmp_path) == {"orchestrator.log": line}


def test_user_warnings_are_also_collected_without_demux(tmp_path):
    demux = demux_chunks(tmp_path, [(user_warning("w") + "\nplain\n").encode()], demux=False)
    assert demux.user_warnings == ["w"]
    assert read_dir(tmp_path)["orchestrator.log"] == b"plain\n"


def metadata_line(path: str) -> bytes:
    return (f"{TS} platform:_metadata_ - atomic_reactor.plugins.exit_koji_import - INFO - "
            f"{path}\n").encode()


def test_scratch_metadata_is_copied_into_the_task_output(tmp_path):
    """Regression #16: scratch metadata.json must be in the task's own output."""
    work = tmp_path / "work"
    (work / "koji-upload" / "abc123").mkdir(parents=True)
    content = json.dumps({"metadata_version": 0, "build": {"name": "x"}}).encode()
    (work / "koji-upload" / "abc123" / "metadata.json").write_bytes(content)
    out = tmp_path / "out"
    demux = demux_chunks(out, [orch("a").encode() + b"\n",
                               metadata_line("koji-upload/abc123/metadata.json"),
                               orch("b").encode() + b"\n"],
                         metadata_root=str(work))
    files = read_dir(out)
    assert files["metadata.json"] == content
    assert files["orchestrator.log"] == (orch("a") + "\n" + orch("b") + "\n").encode()
    assert demux.metadata_files == ["metadata.json"] and demux.problems == []


@pytest.mark.parametrize("path", ["../secret/metadata.json", "/etc/metadata.json",
                                  "koji-upload/x/passwd", "koji-upload/missing/metadata.json"])
def test_bad_or_missing_metadata_is_reported_and_the_log_goes_on(tmp_path, path):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "metadata.json").write_text("{}")
    out = tmp_path / "out"
    demux = demux_chunks(out, [metadata_line(path), orch("still here").encode() + b"\n"],
                         metadata_root=str(work))
    assert read_dir(out) == {"orchestrator.log": (orch("still here") + "\n").encode()}
    assert len(demux.problems) == 1 and path in demux.problems[0]


def test_metadata_without_work_dir_is_reported(tmp_path):
    demux = demux_chunks(tmp_path, [metadata_line("koji-upload/a/metadata.json")])
    assert read_dir(tmp_path) == {}
    assert "no Koji work directory" in demux.problems[0]


def test_symlink_escaping_the_work_dir_is_refused(tmp_path):
    work = tmp_path / "work"
    (work / "koji-upload").mkdir(parents=True)
    (tmp_path / "metadata.json").write_text("{}")
    (work / "koji-upload" / "link").symlink_to(tmp_path)
    out = tmp_path / "out"
    demux = demux_chunks(out, [metadata_line("koji-upload/link/metadata.json")],
                         metadata_root=str(work))
    assert not (out / "metadata.json").exists()
    assert "outside" in demux.problems[0]


def test_feed_after_close_is_an_error(tmp_path):
    demux = demux_chunks(tmp_path, [b"x\n"])
    with pytest.raises(ValueError):
        demux.feed(b"y\n")
    assert os.listdir(tmp_path) == ["orchestrator.log"]


def test_a_dropped_demux_is_freed_at_once(tmp_path):
    # no reference cycle through its platform-file policy: an unclosed demuxer's files close
    # when it is dropped, not at some later garbage collection
    gc.disable()
    try:
        demux = LogDemux(str(tmp_path))
        demux.feed(relay("x86_64", worker("x")).encode() + b"\n")
        gone = weakref.ref(demux)
        del demux
        assert gone() is None
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------------
# the block fast path agrees with the per-line rule


def expected_files(lines: list[bytes]) -> dict[str, bytes]:
    """Files the per-line rule (``parse_log_line``) gives for lines without special records."""
    files: dict[str, list[bytes]] = {}
    for line in lines:
        platform, text = parse_log_line(line)
        if platform is None or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", platform) \
                or platform in ("orchestrator", "user_warnings"):
            files.setdefault("orchestrator.log", []).append(line + b"\n")
        else:
            files.setdefault(platform + ".log", []).append(text + b"\n")
    return {name: b"".join(parts) for name, parts in files.items()}


@pytest.mark.parametrize("platform_count", [3, 40])
def test_whole_chunks_split_like_the_per_line_rule(tmp_path, platform_count):
    rng = random.Random(platform_count)
    platforms = [f"arch{i}" for i in range(platform_count)] + ["-", "", "a/b", "orchestrator"]
    blanks = [b" "] * 12 + [b"\t", b"\r", b"\x0b", b"\x0c", b"  "]
    words = [b"x", b"-", b"INFO", b"platform:-", b"\xff\xfe", b"a:b", b"{json}"]
    lines = []
    for _ in range(3000):
        fields = [rng.choice(words) for _ in range(rng.randint(0, 14))]
        if rng.random() < 0.8 and len(fields) > 2:
            fields[2] = b"platform:" + rng.choice(platforms).encode()
        if rng.random() < 0.6 and len(fields) > 10:
            fields[10] = b"platform:-"
        line = rng.choice([b"", b" "]) + b"".join(
            field + rng.choice(blanks) for field in fields) + rng.choice([b"", b"\r", b" "])
        lines.append(line)
    data = b"".join(line + b"\n" for line in lines)
    assert b"USER_WARNING" not in data and b"_metadata_" not in data
    demux_chunks(tmp_path / "whole", [data])
    assert read_dir(tmp_path / "whole") == expected_files(lines)
    demux_chunks(tmp_path / "chunks", [data[i:i + 997] for i in range(0, len(data), 997)])
    assert read_dir(tmp_path / "chunks") == expected_files(lines)


def test_a_log_of_relayed_and_orchestrator_lines_never_needs_the_general_paths(
        tmp_path, monkeypatch):
    """The common log (every line relayed with its worker prefix, or the orchestrator's own)
    is split by the relayed-line path alone, into the files the per-line rule gives."""
    def general_path(*args):
        raise AssertionError("a well-formed block left the relayed-line path")
    rng = random.Random(21)
    lines = []
    for i in range(20000):
        platform = rng.choice([b"x86_64", b"aarch64", b"ppc64le", b"-"])
        inner = b"" if platform == b"-" else b"2021-06-09 10:00:00,%03d platform:- " % (i % 1000)
        lines.append(b"2021-06-09 10:00:00,%03d platform:%s - atomic_reactor.plugins.x - "
                     b"INFO - %s%s" % (i % 1000, platform, inner,
                                       rng.choice([b"step %d" % i, b"", b"  indented",
                                                   b"\xe2\x82\xac \xff"])))
    data = b"".join(line + b"\n" for line in lines)
    monkeypatch.setattr(LogDemux, "_write_routed_block", general_path)
    monkeypatch.setattr(LogDemux, "_write_lines", general_path)
    for size in (len(data), 65536, 997):
        out = tmp_path / str(size)
        demux_chunks(out, [data[i:i + size] for i in range(0, len(data), size)])
        assert read_dir(out) == expected_files(lines)


# ---------------------------------------------------------------------------------------------
# timestamped lines split and stripped in one pass (PrefixedLines)


def stamped_feed(outdir: Path, data: bytes, sizes, **kwargs) -> tuple[LogDemux, TimestampCursor]:
    """``data`` (timestamped lines) as the builder feeds it: through TimestampCursor with
    ``keep_prefixed``, in chunks of the given sizes (cycled)."""
    demux = LogDemux(str(outdir), **kwargs)
    cursor = TimestampCursor(StreamStats(), lambda gap: None)
    cursor.restart()
    pos, sizes = 0, cycle(sizes)
    while pos < len(data):
        size = next(sizes)
        demux.feed(cursor.feed(data[pos:pos + size], keep_prefixed=True))
        pos += size
    demux.feed(cursor.finish())
    demux.close()
    return demux, cursor


def test_timestamped_lines_give_the_files_of_their_stripped_log(tmp_path):
    """Whatever the lines hold (near misses, user warnings, metadata, a long line, a line
    without a timestamp), handing them over still stamped writes exactly the files the
    stripped log gives, and the cursor counts exactly the stripped bytes."""
    rng = random.Random(31)
    odd = relayed_shaped_lines(rng, 3000) + spaced_lines(rng, 1000)
    odd += [user_warning("mind the gap").encode(), user_warning("arch", "x86_64").encode(),
            (relay("x86_64", worker("w" * 5000))).encode(), b"\xff\xfe binary \x00 line"]
    lines = [relay(rng.choice(["x86_64", "aarch64", "-"]), worker(f"step {i}")).encode()
             for i in range(40000)]
    for line in odd:       # in runs, so that blocks of both kinds come one after the other
        lines.insert(rng.randrange(len(lines)) // 2000 * 2000, line)
    stamps = [b"2026-12-02T07:28:%02d.%dZ " % (i // 100 % 60, i) for i in range(len(lines))]
    stamps[1234] = b""                                   # a line without a timestamp
    plain = b"".join(line + b"\n" for line in lines)
    data = b"".join(stamp + line + b"\n" for stamp, line in zip(stamps, lines))
    want = demux_chunks(tmp_path / "want", [plain], max_line_bytes=4096)
    for name, sizes in (("whole", [len(data)]), ("64k", [65536]), ("odd", [997, 31, 8191])):
        demux, cursor = stamped_feed(tmp_path / name, data, sizes, max_line_bytes=4096)
        assert read_dir(tmp_path / name) == read_dir(tmp_path / "want"), name
        assert demux.user_warnings == want.user_warnings
        assert sorted(want.user_warnings) == ["arch", "mind the gap"]
        assert cursor.delivered == len(plain) == demux.bytes_in
        assert demux.lines == want.lines


def test_a_common_timestamped_log_is_stripped_by_the_demuxers_own_pass(tmp_path, monkeypatch):
    def cursor_strips(self):
        raise AssertionError("a block of well-formed lines was handed back to be stripped")
    monkeypatch.setattr(PrefixedLines, "stripped", cursor_strips)
    lines = [relay(rng_platform, worker(f"step {i}")).encode()
             for i, rng_platform in enumerate(["x86_64", "aarch64", "-"] * 2000)]
    data = b"".join(b"2026-12-02T07:28:09.%dZ " % i + line + b"\n"
                    for i, line in enumerate(lines))
    _demux, cursor = stamped_feed(tmp_path, data, [65536])
    assert read_dir(tmp_path) == expected_files(lines)
    assert cursor.last is not None and cursor.last.stamp == b"2026-12-02T07:28:09.5999Z"


def test_without_demux_timestamped_lines_are_stripped_and_kept_whole(tmp_path):
    lines = [relay("x86_64", worker(f"step {i}")).encode() for i in range(500)]
    data = b"".join(b"2026-12-02T07:28:09.%dZ " % i + line + b"\n" for i, line in enumerate(lines))
    stamped_feed(tmp_path, data, [4096], demux=False, main_log="openshift-incremental.log")
    assert read_dir(tmp_path) == {
        "openshift-incremental.log": b"".join(line + b"\n" for line in lines)}
