"""The chaos checks of issue 13 for the task log (``bench/chaos.py`` has issue 8's): a hub
that is slow and then down during the final upload, and a build printing hostile lines.

Each returns ``chaos.Figures``; an empty ``problems`` list means the check passed. Sizes come
from ``tests/chaos`` (small in ``make test``, full in ``make chaos``).
"""

from __future__ import annotations

import threading
import time

from buildsite import STATES, Site
from chaos import Figures, check_closed, check_log, expected_logs, koji_state

from koji_containerbuild.sandbox.openshift.scenarios import HostileLog


def slow_hub_final_outage(site: Site, *, delay: float, rate: float, log_bytes: int,
                          outage: float, timeout: float = 900.0) -> Figures:
    """Every hub call takes ``delay`` s and uploads share ``rate`` bytes/s; once the build
    is Complete (the final upload under way) the hub is down for ``outage`` s. The task
    must close with its log byte-identical to what the build emitted."""
    figures = Figures(f"hub slow ({delay:g} s per call, uploads {rate / 1e6:g} MB/s), down "
                      f"{outage:g} s during the final upload, {log_bytes / 1e6:g} MB log")
    site.sim.large_log_bytes = log_bytes
    site.hub.call_delay, site.hub.upload_rate = delay, rate
    outage_started: dict = {}
    try:
        task_id = site.submit("large-log")
        build = site.wait_build(task_id, {"Complete"}, timeout)
        name = build["metadata"]["name"]
        want = sum(len(v) for v in expected_logs(site.sim.emitted_log(name)).values())
        on_hub = sum(len(v) for k, v in site.task_files(task_id).items() if k.endswith(".log"))
        outage_started["bytes"] = on_hub
        began = time.monotonic()
        stopper = threading.Thread(target=site.hub_outage, args=(outage,))
        stopper.start()
        stopper.join()
        states = site.wait_tasks([task_id], timeout)
        figures.add("log bytes on the hub when the outage began", f"{on_hub} of {want}")
        figures.add("outage + rest of the final upload", f"{time.monotonic() - began:.1f} s")
        if on_hub >= want:
            figures.problems.append("the log was already on the hub: the outage did not hit "
                                    "the final upload (make the hub slower)")
        check_closed(figures, states, task_id)
        check_log(figures, site, task_id)
    finally:
        site.hub.call_delay, site.hub.upload_rate = 0.0, None
    return figures


def hostile_log(site: Site, *, line_bytes: int, timeout: float = 600.0) -> Figures:
    """A build whose log holds every hostile line of issue 13 ends CLOSED, its logs on the
    hub byte-identical to the demux of what it emitted, the task's own files untouched and
    its user warnings sendable."""
    figures = Figures(f"hostile log lines (marks, 400 platforms, reserved names, unsendable "
                      f"warnings, a {line_bytes / 1e6:g} MB worker line)")
    site.sim.settings.hostile_line_bytes = line_bytes
    started = time.monotonic()
    task_id = site.submit("hostile-log")
    states = site.wait_tasks([task_id], timeout)
    figures.add("wall time", f"{time.monotonic() - started:.1f} s")
    check_closed(figures, states, task_id)
    check_log(figures, site, task_id)
    files = site.task_files(task_id)
    platform_logs = [n for n in files if n.startswith("hostile")]
    figures.add("platform log files of the 400 names", len(platform_logs))
    if len(platform_logs) > 64:
        figures.problems.append(f"{len(platform_logs)} platform files, at most 64 allowed")
    plugin_log = files.get("osbs-client.log", b"")
    for reserved in HostileLog.RESERVED:
        if f"writing into {reserved}.log".encode() in plugin_log + files.get(
                f"{reserved}.log", b"") and reserved != "orchestrator" and reserved != "metadata":
            figures.problems.append(f"platform:{reserved} wrote into the task's {reserved}.log")
    if states.get(task_id) == STATES["CLOSED"]:
        warnings = site.user.getTaskResult(task_id).get("user_warnings", [])
        figures.add("user warnings in the result", len(warnings))
        for want in ("lone \\ud800 surrogate", "nul \\x00 byte", "escape \\x1b[31m",
                     "a warning after many marks"):
            if want not in warnings:
                figures.problems.append(f"user warning {want!r} missing from {warnings}")
    else:
        figures.add("task", koji_state(states.get(task_id)))
    return figures
