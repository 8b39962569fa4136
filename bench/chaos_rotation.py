"""Chaos check of issue 13 (following side): a build log that the node rotates every 1 MiB while
every log connection is cut after a fixed number of its own bytes, through a sandbox kojid.

The task must end CLOSED and its logs on the hub must be byte-identical to what the build
emitted less the lines of the gaps reported in ``osbs-client.log`` ("lines written after T1
and before T2 were rotated out"): every line the hub lacks must lie inside a reported range.
The simulator knows every line's timestamp, so the check is exact.

With ``open_seconds`` the reader reconnects late and lines are really rotated away: then
gaps must be reported. The cut must be larger than one second of log (``sinceTime`` has
whole-second precision, so a reconnect re-reads up to a second); the log is written at
~320 KB/s against 512 KiB cuts.
"""

from __future__ import annotations

import re
import time

from buildsite import Site
from chaos import Figures, check_closed, expected_logs

from koji_containerbuild.openshift.logresume import parse_timestamp
from koji_containerbuild.sandbox.openshift.faults import Faults

GAP = re.compile(rb"lines written between (\S+) \(after its line (\d+)\) and (\S+) were "
                 rb"rotated out")
ROTATE_BYTES = 1 << 20
CUT_BYTES = 512 << 10
STEP_BYTES = 32 << 10       # revealed every step_seconds (0.1 s): ~320 KB/s


def reported_gaps(plugin_log: bytes) -> list[tuple[int, int, int]]:
    """(after, lines of ``after`` delivered, before), times in nanoseconds, of each gap
    ``osbs-client.log`` reports."""
    gaps = []
    for after, seen, before in GAP.findall(plugin_log):
        start, end = parse_timestamp(after), parse_timestamp(before)
        if start is not None and end is not None:
            gaps.append((start, int(seen), end))
    return gaps


def emitted_less_gaps(site: Site, name: str, gaps: list[tuple[int, int, int]]
                      ) -> tuple[bytes, int]:
    """The emitted log without the lines inside a reported gap (stamped between its ends, or
    with its first stamp past the lines delivered), and how many lines that drops."""
    buffer = site.sim._engine.runs[name].log
    kept, dropped, offset = [], 0, 0
    previous, ordinal = None, 0
    for line in site.sim.emitted_log(name).splitlines(keepends=True):
        stamp = buffer.timestamp_of(offset)
        offset += len(line)
        ordinal = ordinal + 1 if stamp == previous else 1
        previous = stamp
        if any(after < stamp < before or (stamp == after and ordinal > seen)
               for after, seen, before in gaps):
            dropped += 1
        else:
            kept.append(line)
    return b"".join(kept), dropped


def rotation_and_cuts(site: Site, size: int, open_seconds: float = 0.0,
                      timeout: float = 300.0) -> Figures:
    """``open_seconds``: the node answers each log request that late, so the reader falls
    behind by that much log at every reconnect and rotation takes lines from it."""
    late = f", log requests answered after {open_seconds:g} s" if open_seconds else ""
    figures = Figures(f"a {size / 1e6:.0f} MB log rotated every {ROTATE_BYTES >> 20} MiB, each "
                      f"log connection cut after {CUT_BYTES >> 10} KiB of its own{late}")
    settings = site.sim.settings
    saved = (settings.large_log_bytes, settings.large_log_step_bytes, site.sim.time_scale)
    settings.large_log_bytes, settings.large_log_step_bytes = size, STEP_BYTES
    site.sim.time_scale = 1.0
    site.sim.faults = Faults(seed=13, log_rotate_bytes=ROTATE_BYTES, log_cut_bytes=CUT_BYTES,
                             log_cut_counts_resent=True, log_open_seconds=open_seconds)
    started = time.monotonic()
    try:
        task_id = site.submit("large-log")
        states = site.wait_tasks([task_id], timeout)
    finally:
        site.sim.faults = Faults()
        settings.large_log_bytes, settings.large_log_step_bytes, site.sim.time_scale = saved
    wall = time.monotonic() - started
    check_closed(figures, states, task_id)
    [build] = site.builds_of(task_id) or [None]
    if build is None:
        figures.problems.append(f"task {task_id}: no OpenShift build")
        return figures
    name = build["metadata"]["name"]
    got = site.task_files(task_id)
    gaps = reported_gaps(got.get("osbs-client.log", b""))
    kept, dropped = emitted_less_gaps(site, name, gaps)
    compared = 0
    for fname, data in expected_logs(kept).items():
        compared += len(data)
        shipped = got.get(fname, b"")
        if shipped != data:
            figures.problems.append(f"{fname}: {len(shipped)} bytes on the hub, {len(data)} "
                                    "emitted less the reported gaps")
    requests = site.sim.requests
    figures.add("log stream connections", sum(1 for _m, path in requests
                                             if f"/builds/{name}/log" in path))
    figures.add("gaps reported in osbs-client.log", len(gaps))
    figures.add("lines inside the reported gaps", dropped)
    figures.add("log bytes compared (hub vs emitted less gaps)", compared)
    figures.add("wall time", f"{wall:.1f} s")
    if open_seconds and not gaps:
        figures.problems.append("a reader this late must meet rotated-out lines; none reported")
    return figures
