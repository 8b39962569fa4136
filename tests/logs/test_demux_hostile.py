"""Hostile build output (issue 13, item 3): whatever a build prints costs linear time and
bounded memory, cannot take the task's own files or exhaust file descriptors, cannot make
the task result unsendable, and no line is broken or moved to another file."""

from __future__ import annotations

import json
import random
import re
import tracemalloc

import koji.xmlrpcplus
import pytest

from koji_containerbuild.logs.demux import LogDemux
from koji_containerbuild.logs.platform_files import MAX_PLATFORM_FILES, RESERVED_NAMES
from koji_containerbuild.logs.records import user_warning_json
from tests.logs.test_demux import TS, demux_chunks, read_dir, relay, stripped_worker, worker

# osbs-client's rule, as KCB 0.12 applied it (the reference for the linear version)
OSBS_USER_WARNING = re.compile(rb".+ - USER_WARNING - (\{.*\})\r?")


def test_user_warning_rule_agrees_with_osbs_clients_regex():
    rng = random.Random(13)
    pieces = [b" - USER_WARNING - {", b"}", b"{", b"\r", b"x", b" ", b"-", b"\"a\": 1",
              b" - USER_WARNING - ", b"USER_WARNING"]
    for _ in range(20000):
        line = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 9)))
        match = OSBS_USER_WARNING.fullmatch(line)
        assert user_warning_json(line) == (match.group(1) if match else None), line


def test_a_line_full_of_user_warning_marks_stays_in_the_log_as_it_was(tmp_path):
    line = (b"x" + b" - USER_WARNING - {" * 20000 + b"no closing brace\n")
    demux = demux_chunks(tmp_path, [line])
    assert demux.user_warnings == []
    assert read_dir(tmp_path) == {"orchestrator.log": line}


def test_deeply_nested_warning_json_stays_in_the_log(tmp_path):
    line = (f"{TS} platform:- - x - USER_WARNING - " + '{"message": ' + "[" * 100000
            + "]" * 100000 + "}\n").encode()
    demux = demux_chunks(tmp_path, [line])
    assert demux.user_warnings == [] and read_dir(tmp_path) == {"orchestrator.log": line}


@pytest.mark.parametrize("message,safe", [
    ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
    ("nul \x00 byte", "nul \\x00 byte"),
    ("escape \x1b[31m red", "escape \\x1b[31m red"),
    ("not a character \ufffe", "not a character \\ufffe"),
    ("kept: tab\t, grüße 🚀, \u2028", "kept: tab\t, grüße 🚀, \u2028"),
])
def test_user_warnings_are_what_xmlrpc_can_carry(tmp_path, message, safe):
    line = (f"{TS} platform:- - x - USER_WARNING - "
            + json.dumps({"message": message})).encode() + b"\n"
    demux = demux_chunks(tmp_path, [line])
    assert demux.user_warnings == [safe]
    # what kojid's runTask does with the task result before host.closeTask
    wire = koji.xmlrpcplus.dumps(({"user_warnings": demux.user_warnings},),
                                 methodresponse=1, allow_none=1).encode("utf-8")
    (result,), _method = koji.xmlrpcplus.loads(wire)
    assert result == {"user_warnings": [safe]}
    assert read_dir(tmp_path)["user_warnings.log"] == safe.encode() + b"\n"


def test_400_platforms_open_at_most_64_files_and_warn_once(tmp_path):
    lines = [relay(f"arch{i:03d}", worker(f"line of arch {i}")) + "\n" for i in range(400)]
    lines += [relay("arch000", worker("arch000 again")) + "\n"]
    demux = demux_chunks(tmp_path, ["".join(lines).encode()])
    files = read_dir(tmp_path)
    assert len(files) == MAX_PLATFORM_FILES + 1
    assert files["arch000.log"] == (stripped_worker("line of arch 0") + "\n"
                                    + stripped_worker("arch000 again") + "\n").encode()
    # the lines of the others stay whole, in order, in the main log
    assert files["orchestrator.log"] == "".join(lines[MAX_PLATFORM_FILES:400]).encode()
    assert len(demux.problems) == 1 and "arch064" in demux.problems[0]


def test_400_platforms_line_by_line_too(tmp_path):
    lines = [(relay(f"p{i}", worker("x")) + "\n").encode() for i in range(400)]
    demux_chunks(tmp_path, lines)
    assert len(read_dir(tmp_path)) == MAX_PLATFORM_FILES + 1


@pytest.mark.parametrize("name", sorted(n[:-4] for n in RESERVED_NAMES if n.endswith(".log")))
def test_the_tasks_own_files_cannot_be_written_by_a_platform(tmp_path, name):
    line = (relay(name, worker("overwrite you")) + "\n").encode()
    demux_chunks(tmp_path, [line])
    assert read_dir(tmp_path) == {"orchestrator.log": line}


def long_worker_line(size: int) -> tuple[bytes, bytes]:
    """A relayed worker line of about ``size`` bytes of multi-byte text, and its stripped
    form (what x86_64.log must hold)."""
    text = ("grüße 🚀 ✓ " * (size // 20))
    return ((relay("x86_64", worker(text)) + "\n").encode(),
            (stripped_worker(text) + "\n").encode())


@pytest.mark.parametrize("chunking", ["whole", "64k", "random"])
def test_a_1_6_mb_worker_line_stays_whole_in_its_platform_file(tmp_path, chunking):
    line, stripped = long_worker_line(1_600_000)
    before = (relay("x86_64", worker("before")) + "\n").encode()
    after = (relay("x86_64", worker("after")) + "\n" + "orchestrator tail\n").encode()
    data = before + line + after
    if chunking == "whole":
        chunks = [data]
    elif chunking == "64k":
        chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    else:
        rng, chunks, i = random.Random(16), [], 0
        while i < len(data):
            step = rng.randrange(1, 300_000)
            chunks.append(data[i:i + step])
            i += step
    seen = []
    demux = LogDemux(str(tmp_path), on_data=lambda: seen.append(
        (tmp_path / "x86_64.log").read_bytes() if (tmp_path / "x86_64.log").exists() else b""))
    for chunk in chunks:
        demux.feed(chunk)
    demux.close()
    assert read_dir(tmp_path) == {
        "x86_64.log": (stripped_worker("before") + "\n").encode() + stripped
        + (stripped_worker("after") + "\n").encode(),
        "orchestrator.log": b"orchestrator tail\n"}
    for content in seen:
        content.decode("utf-8")          # never half a character on disk


def test_a_100_mb_line_is_streamed_in_bounded_memory(tmp_path):
    chunk = ("ü" * 32768).encode()       # 64 KiB of two-byte characters
    tracemalloc.start()
    try:
        demux = LogDemux(str(tmp_path))
        demux.feed(relay("x86_64", worker("start ")).encode())
        for _ in range(1600):            # 100 MiB, one line
            demux.feed(chunk)
        demux.feed(b"\n")
        demux.close()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    size = (tmp_path / "x86_64.log").stat().st_size
    assert size == len(stripped_worker("start ").encode()) + 1600 * len(chunk) + 1
    assert (tmp_path / "orchestrator.log").exists() is False


def test_a_block_of_lines_without_spaces_is_kept_whole_in_linear_time(tmp_path):
    """The relayed split's fast fields may run past a newline; lines without a space must
    stop every attempt at their own end (else this block took hours: quadratic)."""
    head = relay("x86_64", worker("one relayed line")).encode() + b"\n"
    block = head + b"x\n" * 200_000 + b"a b\n" * 50_000
    demux = demux_chunks(tmp_path, [block])
    assert read_dir(tmp_path) == {"orchestrator.log": block[len(head):],
                                  "x86_64.log": stripped_worker("one relayed line").encode()
                                  + b"\n"}
    assert demux.lines == 250_001
