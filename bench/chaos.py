"""The chaos checks of issue 8, through the builder tasks run by a sandbox kojid (``buildsite``).

Each check returns ``Figures``: counts that must be right plus what was measured, and the
problems found (an empty list means the check passed). ``tests/chaos`` runs them in pytest
(small by default; ``CHAOS_BUILDS=100 CHAOS_HUB_OUTAGE=30`` from ``make chaos``).

- ``faulty_builds``: builds of a scenario mix (and some cancelled tasks) while the simulator
  answers 10% 5xx, resets connections, drops watches every 2 s and cuts logs every 64 KiB.
  Every task must end in its expected state and every uploaded ``*.log`` must be
  byte-identical to the emitted log run through the same demux rule.
- ``kojid_restart``: kojid is restarted (or killed) mid-build; the re-run re-attaches.
- ``hub_outage``: the hub is down for N s mid-build; the uploads resume, nothing lost.
- orphans (in every check): a FAILED or CANCELED task leaves no build running.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from buildsite import STATES, TERMINAL_PHASES, Site

from koji_containerbuild.logs.demux import LogDemux
from koji_containerbuild.sandbox.openshift.faults import Faults

EXPECTED_STATE = {
    "success": "CLOSED", "large-log": "CLOSED", "slow-log": "CLOSED",
    "plugin-failure": "FAILED", "pod-failure": "FAILED", "evicted": "FAILED",
    "silent": "CANCELED",  # cancelled by the packager (cancelTask) while Running
}
MIX = ["success", "large-log", "silent", "plugin-failure", "slow-log", "pod-failure",
       "success", "evicted", "large-log", "success"]
CHAOS_FAULTS = {"error_rate": 0.1, "reset_rate": 0.05, "watch_drop_seconds": 2.0,
                "log_cut_bytes": 65536}


@dataclass
class Figures:
    name: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        self.rows.append((label, str(value)))


def expected_logs(emitted: bytes) -> dict[str, bytes]:
    """The ``*.log`` files the builder's demux rule makes of the emitted log."""
    with tempfile.TemporaryDirectory() as out:
        demux = LogDemux(out)
        demux.feed(emitted)
        demux.close()
        return {p.name: p.read_bytes() for p in Path(out).glob("*.log")}


def compare_logs(site: Site, task_id: int, figures: Figures) -> tuple[int, int, int]:
    """(bytes compared, lines lost, lines duplicated) for one task; problems are recorded."""
    builds = site.builds_of(task_id)
    if len(builds) != 1:
        figures.problems.append(f"task {task_id}: {len(builds)} OpenShift builds, wanted 1")
    if not builds:
        return 0, 0, 0
    name = builds[0]["metadata"]["name"]
    want = expected_logs(site.sim.emitted_log(name))
    got = site.task_files(task_id)
    compared = lost = duplicated = 0
    for fname, data in want.items():
        shipped = got.get(fname, b"")
        compared += len(data)
        if shipped != data:
            want_lines, got_lines = data.splitlines(), shipped.splitlines()
            lost += max(0, len(set(want_lines) - set(got_lines)))
            duplicated += max(0, len(got_lines) - len(set(got_lines))
                              - (len(want_lines) - len(set(want_lines))))
            figures.problems.append(f"task {task_id} ({name}) {fname}: {len(shipped)} bytes "
                                    f"uploaded, {len(data)} emitted")
    return compared, lost, duplicated


def check_orphans(site: Site, task_ids: list[int], figures: Figures) -> int:
    """Builds still running for FAILED/CANCELED tasks (given a moment to settle)."""
    infos = site.user.getTaskInfo(task_ids)
    ended = [i["id"] for i in infos if i["state"] in (STATES["FAILED"], STATES["CANCELED"])]
    deadline = time.monotonic() + 5
    while True:
        orphans = [b["metadata"]["name"] for t in ended for b in site.builds_of(t)
                   if b["status"]["phase"] not in TERMINAL_PHASES]
        if not orphans or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for name in orphans:
        figures.problems.append(f"orphan: build {name} still running after its task ended")
    figures.add("failed/cancelled tasks checked for orphans", len(ended))
    figures.add("orphan builds", len(orphans))
    return len(orphans)


def faulty_builds(site: Site, builds: int, timeout: float = 600.0,
                  seed: int = 8) -> Figures:
    figures = Figures(f"{builds} builds under API faults (10% 5xx, resets, watch drops 2 s, "
                      "log cuts 64 KiB)")
    site.sim.faults = Faults(seed=seed, **CHAOS_FAULTS)
    site.sim.slow_log_lines, site.sim.slow_log_rate = 40, 20.0
    site.sim.large_log_bytes = 400_000
    started = time.monotonic()
    scenarios = {}
    for i in range(builds):
        scenario = MIX[i % len(MIX)]
        scenarios[site.submit(scenario)] = scenario
    cancelled = [t for t, s in scenarios.items() if s == "silent"]
    for task_id in cancelled:
        site.wait_build(task_id, {"Running"}, timeout)
        site.user.cancelTask(task_id)
    states = site.wait_tasks(list(scenarios), timeout)
    wall = time.monotonic() - started
    site.sim.faults = Faults()
    right = 0
    compared = lost = duplicated = 0
    builds_per_task = []
    for task_id, scenario in scenarios.items():
        want = STATES[EXPECTED_STATE[scenario]]
        got = states.get(task_id)
        if got == want:
            right += 1
        else:
            label = koji_state(got)
            figures.problems.append(f"task {task_id} ({scenario}): {label}, wanted "
                                    f"{EXPECTED_STATE[scenario]}")
        builds_per_task.append(len(site.builds_of(task_id)))
        if scenario != "silent":
            c, lo, du = compare_logs(site, task_id, figures)
            compared, lost, duplicated = compared + c, lost + lo, duplicated + du
    requests = site.sim.requests
    figures.add("tasks in the expected final state", f"{right}/{builds}")
    figures.add("OpenShift builds per task (max)", max(builds_per_task or [0]))
    figures.add("log bytes compared (uploaded vs emitted)", compared)
    figures.add("log lines lost / duplicated", f"{lost} / {duplicated}")
    figures.add("API requests during the run", len(requests))
    figures.add("log stream connections (reconnects after cuts)",
                sum(1 for _m, path in requests if "/log?" in path or path.endswith("/log")))
    figures.add("watch connections (reconnects after drops)",
                sum(1 for _m, path in requests if "watch=" in path or "/watch/" in path))
    figures.add("wall time", f"{wall:.1f} s")
    check_orphans(site, list(scenarios), figures)
    return figures


def kojid_restart(site: Site, crash: bool, timeout: float = 120.0) -> Figures:
    how = "killed (SIGKILL) and started" if crash else "restarted (SIGTERM, tasks freed)"
    figures = Figures(f"kojid {how} mid-build")
    site.sim.slow_log_lines, site.sim.slow_log_rate = 60, 20.0
    task_id = site.submit("slow-log")
    build = site.wait_build(task_id, {"Running"}, timeout)
    time.sleep(0.8)  # some of the log is uploaded by the first run
    if crash:
        site.kojid.crash()
        site.kojid.start()
    else:
        site.kojid.restart()
    states = site.wait_tasks([task_id], timeout)
    check_closed(figures, states, task_id)
    names = [b["metadata"]["name"] for b in site.builds_of(task_id)]
    figures.add("OpenShift builds for the task", len(names))
    figures.add("re-attached to the first build", names == [build["metadata"]["name"]])
    check_log(figures, site, task_id)
    return figures


def hub_outage(site: Site, seconds: float, timeout: float = 180.0) -> Figures:
    figures = Figures(f"hub unavailable for {seconds:g} s mid-build")
    rate = 20.0
    site.sim.slow_log_lines, site.sim.slow_log_rate = int((seconds + 6) * rate), rate
    task_id = site.submit("slow-log")
    site.wait_build(task_id, {"Running"}, timeout)
    time.sleep(1.0)
    before = len(site.task_files(task_id).get("x86_64.log", b""))
    site.hub_outage(seconds)
    states = site.wait_tasks([task_id], timeout)
    figures.add("bytes of x86_64.log uploaded before the outage", before)
    check_closed(figures, states, task_id)
    check_log(figures, site, task_id)
    return figures


def check_closed(figures: Figures, states: dict, task_id: int) -> None:
    """The task must have ended CLOSED."""
    figures.add("task final state", koji_state(states.get(task_id)))
    if states.get(task_id) != STATES["CLOSED"]:
        figures.problems.append(f"task {task_id}: {koji_state(states.get(task_id))}")


def check_log(figures: Figures, site: Site, task_id: int) -> None:
    """The uploaded logs must be what the build emitted, line for line."""
    compared, lost, duplicated = compare_logs(site, task_id, figures)
    figures.add("log bytes compared", compared)
    figures.add("log lines lost / duplicated", f"{lost} / {duplicated}")


def koji_state(code: object) -> str:
    return STATES.get(code, "not finished") if isinstance(code, int) else "not finished"


def table(all_figures: list[Figures]) -> str:
    width = max((len(label) for f in all_figures for label, _ in f.rows), default=10)
    out = []
    for f in all_figures:
        verdict = "ok" if not f.problems else f"{len(f.problems)} PROBLEM(S)"
        out.append(f"== {f.name}: {verdict}")
        out += [f"   {label:<{width}}  {value}" for label, value in f.rows]
        out += [f"   ! {p}" for p in f.problems[:20]]
    return "\n".join(out)


def large_log_complete(site: Site, size: int, timeout: float = 300.0) -> Figures:
    figures = Figures(f"a {size / 1e6:.0f} MB log emitted faster than it uploads")
    site.sim.large_log_bytes, scale = size, site.sim.time_scale
    site.sim.time_scale = 0.001
    try:
        task_id = site.submit("large-log")
        states = site.wait_tasks([task_id], timeout)
    finally:
        site.sim.time_scale = scale
    check_closed(figures, states, task_id)
    check_log(figures, site, task_id)
    return figures
