"""``make bench``: speed and scale of the builder plugin, each figure against a baseline measured
in the same run (see bench/README.md for what each figure means).

Sizes from the environment, for a quick run::

    BENCH_LATENCY_LINES=2000 BENCH_LATENCY_RATE=50 BENCH_LOG_MB=200 BENCH_COMMITS=20000
    BENCH_HISTORY_MB=200 BENCH_TASKS=200 BENCH_SILENCE=60 BENCH_CANCELS=50
    BENCH_IDLE_SECONDS=60 BENCH_RECONNECT_MB=8
    BENCH_ONLY=latency,throughput,presubmit,scale,idle,reconnect

Everything runs on loopback: simulator and hub in this process, kojid and its task processes
as processes of their own (``buildsite``).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import requests
from buildsite import STATES, TOKEN, Site, percentile, wait_for
from demux_hostile import bench_hostile
from follow_costs import bench_idle, bench_reconnect
from log_upload import bench_upload
from measure import child_pids, children_cpu, count_across, env, proc_cpu
from openshift_faults import build_json
from presubmit_repo import history_repo

from koji_containerbuild.openshift.client import OpenShiftClient

CACHE = Path(os.environ.get("BENCH_CACHE", Path(__file__).resolve().parent / ".cache"))
LOG_PATH = "/apis/build.openshift.io/v1/namespaces/default/builds/{}/log"


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, figure: str, value: str, baseline: str, ratio: str, goal: str) -> None:
        self.rows.append((figure, value, baseline, ratio, goal))
        print(f"  measured: {figure}: {value} (baseline {baseline}, ratio {ratio}; {goal})",
              flush=True)

    def render(self) -> str:
        head = ("figure", "value", "baseline (same run)", "ratio", "goal")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(5)]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        return "\n".join([line(head), line(tuple("-" * w for w in widths))]
                         + [line(r) for r in self.rows])


def machine() -> str:
    model = "?"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


# -- helpers ------------------------------------------------------------------------------
def bare_log_get(url: str, name: str, follow: bool, sink: Callable[[bytes], None]) -> None:
    """The baseline reader: one streaming GET of the log endpoint, no client library."""
    with requests.get(url + LOG_PATH.format(name), params={"follow": "true"} if follow else {},
                      headers={"Authorization": f"Bearer {TOKEN}"}, stream=True,
                      timeout=60) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_content(1 << 16):
            sink(chunk)


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB; PSS splits pages shared with kojid (fork) between the sharers."""
    rss = pss = 0
    for text in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if text.startswith("Rss:"):
            rss = int(text.split()[1])
        elif text.startswith("Pss:"):
            pss = int(text.split()[1])
    return rss, pss


def arrival_times(path: Path, stop: threading.Event, pause: float = 0.005) -> dict[int, float]:
    """Monotonic time at which each line (by index) was first seen in a growing file."""
    seen: dict[int, float] = {}
    offset, partial = 0, b""
    count = 0
    while not stop.is_set():
        if path.exists():
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            now = time.monotonic()
            offset += len(data)
            data = partial + data
            lines = data.split(b"\n")
            partial = lines.pop()
            for _line in lines:
                seen[count] = now
                count += 1
        stop.wait(pause)
    return seen


def emitted_times(log: bytes) -> list[float]:
    return [float(line.rsplit(b"monotonic=", 1)[1]) for line in log.splitlines()
            if b"slow-log line" in line]


# -- figures -------------------------------------------------------------------------------
def bench_latency(site: Site, table: Table) -> None:
    lines, rate = int(env("BENCH_LATENCY_LINES", 2000)), env("BENCH_LATENCY_RATE", 50)
    site.sim.slow_log_lines, site.sim.slow_log_rate = lines, rate
    task_id = site.submit("slow-log")
    build = site.wait_build(task_id, {"Running"}, 60)
    name = build["metadata"]["name"]
    stop = threading.Event()
    hub_seen: dict = {}
    base_seen: list[float] = []
    hub_file = site.task_file(task_id, "x86_64.log")

    def base_sink(chunk: bytes) -> None:
        now = time.monotonic()
        base_seen.extend([now] * chunk.count(b"slow-log line"))

    watcher = threading.Thread(target=lambda: hub_seen.update(arrival_times(hub_file, stop)))
    baseline = threading.Thread(target=bare_log_get, args=(site.sim.url, name, True, base_sink))
    watcher.start()
    baseline.start()
    site.wait_tasks([task_id], lines / rate + 120)
    baseline.join()
    time.sleep(0.2)
    stop.set()
    watcher.join()
    emitted = emitted_times(site.sim.emitted_log(name))
    # x86_64.log holds the worker lines; the slow-log lines are its last len(emitted) lines
    hub_lines = sorted(hub_seen.items())
    hub_times = [t for _i, t in hub_lines][-len(emitted):]
    hub_lat = [h - e for h, e in zip(hub_times, emitted)]
    base_lat = [b - e for b, e in zip(base_seen, emitted)]
    for pct in (50, 99):
        value, base = percentile(hub_lat, pct), percentile(base_lat, pct)
        table.add(f"log latency p{pct} ({len(emitted)} lines @ {rate:g}/s)", f"{value:.3f} s",
                  f"{base:.3f} s (bare GET)", f"{value / base:.0f}x" if base > 0 else "-",
                  "p99 <= 0.5 s" if pct == 99 else "")


def bench_throughput(site: Site, table: Table) -> None:
    mb = env("BENCH_LOG_MB", 200)
    site.sim.large_log_bytes = int(mb * 1e6)
    site.sim.time_scale = 0.001  # the simulator emits as fast as it can
    cpu_before = children_cpu(site.kojid.pid)
    task_id = site.submit("large-log")
    build = site.wait_build(task_id, {"Running", "Complete"}, 120)
    started = time.monotonic()
    states = site.wait_tasks([task_id], 1800)
    elapsed = time.monotonic() - started
    cpu = children_cpu(site.kojid.pid) - cpu_before
    name = build["metadata"]["name"]
    size, _digest = site.sim.emitted_log_digest(name)
    uploaded = sum(len(v) for k, v in site.task_files(task_id).items() if k.endswith(".log"))
    emitted_lines = count_across(site.sim._engine.runs[name].log.iter_chunks(),
                                 b"large-log line")
    shipped_lines = site.task_file(task_id, "x86_64.log").read_bytes().count(b"large-log line")
    ok = states.get(task_id) == STATES["CLOSED"] and emitted_lines == shipped_lines
    if emitted_lines != shipped_lines:
        print(f"  !! {shipped_lines} of {emitted_lines} log lines uploaded", flush=True)
    with tempfile.TemporaryFile() as out:
        raw_started = time.monotonic()
        bare_log_get(site.sim.url, name, False, out.write)
        raw = time.monotonic() - raw_started
    rate, raw_rate = size / elapsed / 1e6, size / raw / 1e6
    table.add(f"log throughput, {size / 1e6:.0f} MB follow->demux->upload"
              + ("" if ok else " (INCOMPLETE)"), f"{rate:.1f} MB/s", f"{raw_rate:.1f} MB/s "
              "(bare GET to file)", f"{rate / raw_rate:.0%}", ">= 50% of raw")
    table.add("builder CPU per 100 MB of log", f"{cpu / size * 1e8:.1f} s",
              f"{uploaded / 1e6:.0f} MB uploaded", "-", "")
    site.sim.time_scale = 1.0


def bench_presubmit(site: Site, table: Table) -> None:
    commits, mb = int(env("BENCH_COMMITS", 20000)), env("BENCH_HISTORY_MB", 200)
    repo_name = f"history-{commits}-{int(mb)}"
    sha = history_repo(CACHE, Path(site.git.base) / "container" / f"{repo_name}.git",
                       commits, int(mb * 1e6))
    posted: dict[str, float] = {}
    record = site.sim._record_request

    def hook(method: str, path: str) -> None:
        if method == "POST" and path.rstrip("/").endswith("/builds"):
            posted.setdefault("at", time.time())
        record(method, path)

    site.sim._record_request = hook
    try:
        task_id = site.user.buildContainer(site.git.url(f"container/{repo_name}.git", sha),
                                           "f39-container-candidate",
                                           {"git_branch": "f39", "scratch": True})
        wait_for("the Build POST", lambda: posted, 600, pause=0.05)
    finally:
        site.sim._record_request = record
    info = site.user.getTaskInfo(task_id)
    start = info["start_ts"]
    presubmit = posted["at"] - start
    site.user.cancelTask(task_id)
    with tempfile.TemporaryDirectory() as work:
        began = time.monotonic()
        subprocess.run(["git", "clone", "-q", site.git.url(f"container/{repo_name}.git", "")
                        .split("#")[0], work + "/clone"], check=True)
        clone = time.monotonic() - began
    table.add(f"pre-submit: task start -> Build POST ({commits} commits, {mb:g} MB)",
              f"{presubmit:.2f} s", f"{clone:.2f} s (git clone)", f"{presubmit / clone:.1%}",
              "<= 10%")


def bench_scale_and_cancel(site: Site, table: Table) -> None:
    tasks, silence = int(env("BENCH_TASKS", 200)), env("BENCH_SILENCE", 60)
    cancels = int(env("BENCH_CANCELS", 50))
    started = time.monotonic()
    ids = [site.submit("silent") for _ in range(tasks)]
    wait_for(f"{tasks} builds Running", lambda: sum(
        1 for b in site.sim.list_builds() if b["status"]["phase"] == "Running"
        and int(b["metadata"]["labels"]["koji-task-id"]) in set(ids)) >= tasks,
        60 + tasks * 3, pause=0.5)
    ramp = time.monotonic() - started
    time.sleep(3)  # let the first uploads and watches settle
    pids = child_pids(site.kojid.pid)
    mem = [memory_kb(p) for p in pids]
    rss = sum(m[0] for m in mem) / 1024 / max(1, len(pids))
    pss = sum(m[1] for m in mem) / 1024 / max(1, len(pids))
    kojid_rss = memory_kb(site.kojid.pid)[0] / 1024
    cpu0 = {p: proc_cpu(p) for p in pids}
    kojid0 = proc_cpu(site.kojid.pid)
    requests0 = len(site.sim.requests)
    time.sleep(silence)
    cpu = sum(proc_cpu(p) - c for p, c in cpu0.items())
    kojid_cpu = proc_cpu(site.kojid.pid) - kojid0
    api = len(site.sim.requests) - requests0
    table.add(f"scale: memory per task ({len(pids)} task processes, silent builds)",
              f"{rss:.1f} MB RSS / {pss:.1f} MB PSS", f"{kojid_rss:.1f} MB (kojid itself)",
              f"{rss / kojid_rss:.2f}", "<= 25 MB per task")
    table.add(f"scale: task CPU over {silence:g} s of silence", f"{cpu:.2f} s total",
              f"{kojid_cpu:.2f} s (kojid's own loop)", f"{api} API requests",
              "CPU ~ 0; ramp-up took " + f"{ramp:.0f} s")
    bench_cancel(site, table, ids[:cancels])
    for task_id in ids[cancels:]:
        site.user.cancelTask(task_id)
    site.wait_tasks(ids, 120)
    # kojid cleans cancelled tasks up one at a time, pausing after each SIGINT
    wait_for("kojid to reap its task processes", lambda: not child_pids(site.kojid.pid),
             60 + tasks * (site.kojid.kill_pause + 0.5), pause=0.5)


def bench_cancel(site: Site, table: Table, ids: list[int]) -> None:
    latencies = []
    for task_id in ids:
        [build] = site.builds_of(task_id)
        name = build["metadata"]["name"]
        began = time.monotonic()
        site.user.cancelTask(task_id)
        site.sim.wait_for_phase(name, {"Cancelled"}, 30)
        latencies.append(time.monotonic() - began)
        time.sleep(site.kojid.kill_pause + 0.3)  # kojid's cleanupTask blocks this long
    client = OpenShiftClient(site.sim.url, "default", token=TOKEN, verify=True)
    direct = []
    names = [f"bench-cancel-{i:03d}" for i in range(len(ids))]
    for i, name in enumerate(names):
        client.create_build(build_json(name, "silent", 900_000 + i))
    for name in names:
        site.sim.wait_for_phase(name, {"Running"}, 30)
        began = time.monotonic()
        client.cancel_build(name)
        site.sim.wait_for_phase(name, {"Cancelled"}, 30)
        direct.append(time.monotonic() - began)
    client.close()
    for pct in (50, 99):
        value, base = percentile(latencies, pct), percentile(direct, pct)
        table.add(f"cancel latency p{pct} ({len(ids)} cancelTask -> Cancelled)",
                  f"{value:.3f} s", f"{base:.3f} s (client cancel_build)", f"{value / base:.0f}x",
                  "<= 1 s" if pct == 99 else "")


BENCHES = {"latency": bench_latency, "throughput": bench_throughput,
           "upload": bench_upload, "hostile": bench_hostile, "presubmit": bench_presubmit,
           "scale": bench_scale_and_cancel, "idle": bench_idle, "reconnect": bench_reconnect}


def main(argv: Optional[list[str]] = None) -> int:
    only = [b for b in os.environ.get("BENCH_ONLY", ",".join(BENCHES)).split(",") if b]
    table = Table()
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kcb-bench-") as root:
        tasks = int(env("BENCH_TASKS", 200))
        site = Site(root, maxjobs=tasks + 20, kill_pause=1.0)
        try:
            for name in only:
                print(f"-- {name}", flush=True)
                BENCHES[name](site, table)
        finally:
            site.close()
    print()
    print(f"machine: {machine()}")
    print(table.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
