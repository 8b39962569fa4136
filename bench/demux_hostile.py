"""``make bench`` figures of issue 13 (item 3): the demuxer against hostile build output.

* **hostile line cost**: demultiplexing a 1 MB line made of ` - USER_WARNING - {` marks (the
  old backtracking rule took ~35 s) against demultiplexing 1 MB of ordinary log lines, in the
  same run. Goal: linear, within a small factor of the ordinary log. And lines of one or two
  fields in one block of 4 MB against 1 MB (what the relayed split's fast fields could run
  through). Goal: 4x.
* **memory**: peak RSS growth of a process feeding the demuxer ``BENCH_DEMUX_GB`` (2) GB of
  ordinary log in 16 KiB chunks, and one 100 MB line; baseline: the same process's RSS
  before. Files are truncated as they grow, so the disk does not fill.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from measure import env

from koji_containerbuild.logs.demux import LogDemux
from koji_containerbuild.sandbox.openshift.reactor import relayed_line

CHUNK = 16 << 10


def ordinary(size: int) -> bytes:
    line = (relayed_line(1_623_232_800.0, "x86_64", "atomic_reactor.plugins.imagebuilder",
                         "INFO", "STEP 3/9: RUN dnf -y install httpd && dnf clean all")
            + "\n").encode()
    return line * (size // len(line) + 1)


def demux_seconds(data: bytes, chunk: int = CHUNK) -> float:
    with tempfile.TemporaryDirectory() as out:
        demux = LogDemux(out)
        began = time.process_time()
        for i in range(0, len(data), chunk):
            demux.feed(data[i:i + chunk])
        demux.close()
        return time.process_time() - began


def peak_growth_mb(feed_bytes: int, line: bool) -> tuple[float, float]:
    """(peak RSS growth MB, seconds) of a child feeding ``feed_bytes`` through a demuxer."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 1
        try:
            block = (("ü" * (CHUNK // 2)).encode() if line else ordinary(CHUNK)[:CHUNK])
            with tempfile.TemporaryDirectory() as out:
                demux = LogDemux(out)
                if line:
                    demux.feed(relayed_line(0.0, "x86_64", "x", "INFO", "one line: ").encode())
                before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                began = time.monotonic()
                for n in range(feed_bytes // len(block)):
                    demux.feed(block)
                    if n % 4096 == 0:               # keep the disk free: cut the files
                        for path in Path(out).glob("*.log"):
                            os.truncate(path, 0)
                demux.feed(b"\n")
                demux.close()
                seconds = time.monotonic() - began
                after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            os.write(write, f"{(after - before) / 1024:.1f} {seconds:.1f}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as answer:
        text = answer.read()
    os.waitpid(pid, 0)
    grown, seconds = text.split()
    return float(grown), float(seconds)


def bench_hostile(_site, table) -> None:
    size = 1_000_000
    marks = b"x" + b" - USER_WARNING - {" * (size // 19) + b"no closing brace\n"
    normal = ordinary(size)[:size]
    normal = normal[:normal.rfind(b"\n") + 1]
    hostile_s = min(demux_seconds(marks, CHUNK) for _ in range(3))
    normal_s = min(demux_seconds(normal, CHUNK) for _ in range(3))
    table.add("hostile line: 1 MB of USER_WARNING marks, demux CPU", f"{hostile_s * 1e3:.1f} ms",
              f"{normal_s * 1e3:.1f} ms (1 MB of log lines)", f"{hostile_s / normal_s:.1f}x",
              "linear (old rule ~35 s)")
    # lines of one or two fields, all in one block: the relayed split's `[^ ]+` fields may
    # run past a newline, but only from the few lines before a space, so 4x the bytes must
    # cost 4x the time (a field that did it from every line would cost 16x)
    def short_lines(total: int) -> bytes:
        return (b"a b platform:x86_64\n" + b"x\n" * (total // 4)
                + b"a b\n" * (total // 16) + b"y" * 50 + b" z\n")
    one, four = short_lines(size), short_lines(4 * size)
    one_s = min(demux_seconds(one, len(one)) for _ in range(3))
    four_s = min(demux_seconds(four, len(four)) for _ in range(3))
    table.add("hostile lines: 1-2 field lines, one block of 4 MB vs 1 MB, demux CPU",
              f"{four_s * 1e3:.1f} ms", f"{one_s * 1e3:.1f} ms (1 MB)",
              f"{four_s / one_s:.1f}x", "linear: ~4x")
    gb = env("BENCH_DEMUX_GB", 2)
    grown, seconds = peak_growth_mb(int(gb * 1e9), line=False)
    table.add(f"demux memory, {gb:g} GB log in 16 KiB chunks", f"+{grown:.1f} MB peak RSS",
              "RSS before feeding", f"{seconds:.0f} s", "bounded")
    grown, seconds = peak_growth_mb(100 << 20, line=True)
    table.add("demux memory, one 100 MB line", f"+{grown:.1f} MB peak RSS",
              "RSS before feeding", f"{seconds:.0f} s", "bounded")
