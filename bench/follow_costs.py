"""What following a build costs when nothing happens, and when the log stream keeps breaking.

``bench_idle``: CPU of a silent Running build over ``BENCH_IDLE_SECONDS`` (60): the follower
and watch threads of ``follow_build_log``/``wait_for_build`` in this process, a whole kojid task
process of the ``silent`` scenario, and, in the same window, two baselines: a bare thread
blocked in a socket read of the same log endpoint (the floor: no wakeups at all) and the
0.1 s cancel poll per stream that ``StreamInterrupter`` used to run. Goal: at or below the
upstream plugin's 0.015 CPU-s a minute (measured in the same harness, issue 13).

``bench_reconnect``: a finished ``BENCH_RECONNECT_MB`` (8) MB log written at ~400 KB/s, read
with the stream cut after every 256 KiB of new log: resume by timestamp (``sinceTime``) against
the byte-prefix re-read that a server without ``timestamps`` forces, same log, same run.
Reported: bytes read per byte of log, wall time and CPU of the reading thread.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import requests
from buildsite import TOKEN, Site
from measure import child_pids, env

from koji_containerbuild.openshift.client import TERMINAL_PHASES, OpenShiftClient
from koji_containerbuild.openshift.errors import Cancelled
from koji_containerbuild.openshift.logstream import follow_build_log
from koji_containerbuild.openshift.watch import CancelEvent, StreamStats, wait_for_build
from koji_containerbuild.sandbox.openshift.faults import Faults

LOG_PATH = "/apis/build.openshift.io/v1/namespaces/default/builds/{}/log"
UPSTREAM_IDLE = 0.015   # CPU-s a minute of a silent build with the upstream plugin (issue 13)


def thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds of a running thread (schedstat: nanoseconds, not 10 ms ticks)."""
    path = Path(f"/proc/self/task/{thread.native_id}/schedstat")
    return int(path.read_text().split()[0]) / 1e9


def process_cpu(pid: int) -> float:
    """CPU seconds of every thread of a process."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except OSError:
            continue
    return total / 1e9


def start(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def bench_idle(site: Site, table) -> None:
    seconds = env("BENCH_IDLE_SECONDS", 60)
    client = OpenShiftClient(site.sim.url, "default", token=TOKEN)
    from openshift_faults import build_json
    name = "bench-idle-follow"
    client.create_build(build_json(name, "silent", 990_001))
    site.sim.wait_for_phase(name, {"Running"}, 30)
    cancel = CancelEvent()
    stop_poll = threading.Event()

    def follower() -> None:
        try:
            for _chunk in follow_build_log(client, name, cancel=cancel):
                pass
        except Cancelled:
            pass

    def watcher() -> None:
        try:
            wait_for_build(client, name, TERMINAL_PHASES, cancel=cancel)
        except Cancelled:
            pass

    def bare_read() -> None:
        with requests.get(site.sim.url + LOG_PATH.format(name), params={"follow": "true"},
                          headers={"Authorization": f"Bearer {TOKEN}"}, stream=True,
                          timeout=3600) as answer:
            for _chunk in answer.iter_content(1 << 16):
                pass

    def old_poll() -> None:   # what StreamInterrupter ran for each open stream
        while not stop_poll.wait(0.1):
            cancel.is_set()

    before = set(child_pids(site.kojid.pid))
    task_id = site.submit("silent")
    site.wait_build(task_id, {"Running"}, 60)
    threads = {"follow": start(follower, "follow"), "watch": start(watcher, "watch"),
               "bare": start(bare_read, "bare"), "poll-log": start(old_poll, "poll-log"),
               "poll-watch": start(old_poll, "poll-watch")}
    time.sleep(3)   # connections open and settle
    task_pid = next(iter(sorted(set(child_pids(site.kojid.pid)) - before)), None)
    cpu0 = {key: thread_cpu(t) for key, t in threads.items()}
    task0 = process_cpu(task_pid) if task_pid else 0.0
    time.sleep(seconds)
    cpu = {key: thread_cpu(t) - cpu0[key] for key, t in threads.items()}
    task = process_cpu(task_pid) - task0 if task_pid else float("nan")
    per_minute = 60.0 / seconds
    ours = (cpu["follow"] + cpu["watch"]) * per_minute
    floor = cpu["bare"] * per_minute
    polls = (cpu["poll-log"] + cpu["poll-watch"]) * per_minute
    cancel.set()
    stop_poll.set()
    site.user.cancelTask(task_id)
    client.cancel_build(name)
    table.add(f"idle: follower+watch threads, silent build, {seconds:g} s",
              f"{ours:.4f} CPU-s/min", f"{floor:.4f} CPU-s/min (bare blocked read)",
              f"{ours / UPSTREAM_IDLE:.2f}x upstream's 0.015",
              "<= 0.015 CPU-s/min, no periodic wakeups")
    table.add("idle: the removed 0.1 s cancel polls (one per stream)", f"{polls:.4f} CPU-s/min",
              f"{ours:.4f} CPU-s/min (CancelEvent)",
              f"{polls / ours:.0f}x" if ours > 0 else "-", "(what StreamInterrupter cost)")
    table.add(f"idle: whole kojid task process, silent build, {seconds:g} s",
              f"{task * per_minute:.4f} CPU-s/min", "0.015 CPU-s/min (upstream, issue 13)",
              f"{task * per_minute / UPSTREAM_IDLE:.2f}x", "<= 0.015 CPU-s/min")
    site.wait_tasks([task_id], 60)
    client.close()


def read_with_cuts(site: Site, name: str, ignore_timestamps: bool, cut: int
                   ) -> tuple[bytes, StreamStats, float, float]:
    site.sim.faults = Faults(log_cut_bytes=cut, log_ignore_timestamps=ignore_timestamps)
    site.sim._engine.runs[name].log.delivered = 0   # cuts count from what this reader got
    stats = StreamStats()
    out: list[bytes] = []
    client = OpenShiftClient(site.sim.url, "default", token=TOKEN, backoff_factor=0.05)

    def read() -> None:
        out.extend(follow_build_log(client, name, stats=stats, max_failures=1000))

    began = time.monotonic()
    reader = threading.Thread(target=read, name="reader")
    reader.start()
    cpu = 0.0
    while reader.is_alive():
        try:
            cpu = thread_cpu(reader)
        except (OSError, TypeError):
            pass
        reader.join(0.05)
    wall = time.monotonic() - began
    site.sim.faults = Faults()
    client.close()
    return b"".join(out), stats, wall, cpu


def bench_reconnect(site: Site, table) -> None:
    """Two sizes, so that linear (sinceTime) and quadratic (re-read) growth show."""
    mb = env("BENCH_RECONNECT_MB", 8)
    for size in (mb / 2, mb):
        reconnect_figures(site, table, int(size * 1e6))


def reconnect_figures(site: Site, table, size: int, cut: int = 256 << 10) -> None:
    from openshift_faults import build_json
    client = OpenShiftClient(site.sim.url, "default", token=TOKEN)
    name = f"bench-reconnect-{size}"
    settings = site.sim.settings
    saved = (settings.large_log_bytes, settings.large_log_step_bytes, site.sim.time_scale)
    settings.large_log_bytes, settings.large_log_step_bytes = size, 40_000
    site.sim.time_scale = 1.0     # 40 KB every 0.1 s: ~400 KB of log a second
    try:
        client.create_build(build_json(name, "large-log", 990_002 + size % 1000))
        site.sim.wait_for_phase(name, {"Complete", "Failed", "Error", "Cancelled"},
                                size / 400e3 + 120)
    finally:
        settings.large_log_bytes, settings.large_log_step_bytes, site.sim.time_scale = saved
    client.close()
    emitted = site.sim.emitted_log(name)
    rows = {}
    for mode, ignore in (("timestamps", False), ("bytes", True)):
        log, stats, wall, cpu = read_with_cuts(site, name, ignore, cut)
        if log != emitted:
            print(f"  !! {mode}: {len(log)} of {len(emitted)} bytes read back", flush=True)
        rows[mode] = (stats, wall, cpu, log == emitted)
    ts, by = rows["timestamps"], rows["bytes"]
    read_ts = (ts[0].bytes_delivered + ts[0].bytes_skipped) / len(emitted)
    read_by = (by[0].bytes_delivered + by[0].bytes_skipped) / len(emitted)
    table.add(f"reconnect: {len(emitted) / 1e6:.0f} MB log cut every {cut >> 10} KiB "
              f"({ts[0].reconnects} reconnects), bytes read per log byte"
              + ("" if ts[3] and by[3] else " (INCOMPLETE)"),
              f"{read_ts:.2f} (sinceTime)", f"{read_by:.2f} (byte-prefix re-read)",
              f"{read_by / read_ts:.0f}x less", "linear: ~1 at any size")
    table.add(f"reconnect: {len(emitted) / 1e6:.0f} MB, wall / CPU of the reading thread",
              f"{ts[1]:.2f} s / {ts[2]:.2f} s", f"{by[1]:.2f} s / {by[2]:.2f} s",
              f"{by[1] / ts[1]:.1f}x faster", "")
