"""The task ends only when its log is on the hub (issue 13, item 2): a slow hub delays the
end, a hub that stops taking the log fails the task naming what is missing, and only a signal
(a cancel, kojid stopping) bounds the last upload, within kojid's SIGINT→SIGTERM window."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

import koji
import pytest

from koji_containerbuild.logs.demux import LogDemux

from .helpers import STATES, fault_of, scenario_task

LOGS = ("orchestrator.log", "x86_64.log", "aarch64.log")


def expected_logs(emitted: bytes) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as out:
        with LogDemux(out) as demux:
            demux.feed(emitted)
        return {p.name: p.read_bytes() for p in Path(out).glob("*.log")}


def large_log_task(world, size: int) -> int:
    world.sim.large_log_bytes = size
    return scenario_task(world, "large-log")


def test_a_slow_hub_gets_the_whole_log_before_the_task_closes(world):
    world.hub.upload_rate = 1_000_000          # 1 MB/s for all uploads: seconds of backlog
    task_id = large_log_task(world, 3_000_000)
    info = world.run(task_id)
    assert info["state"] == STATES["CLOSED"], world.result(task_id)
    [build] = world.builds()
    want = expected_logs(world.sim.emitted_log(build["metadata"]["name"]))
    for name, data in want.items():
        assert world.output(task_id, name) == data, name


def test_a_hub_that_stops_taking_the_log_fails_the_task_naming_the_files(world, monkeypatch):
    real = world.hub.files.handle_upload

    def refuse_x86_64_log(query, body):
        if parse_qs(query)["filename"][0] == "x86_64.log":
            raise koji.GenericError("disk quota exceeded")
        return real(query, body)

    monkeypatch.setattr(world.hub.files, "handle_upload", refuse_x86_64_log)
    task_id = large_log_task(world, 3_000_000)
    info = world.run(task_id)
    assert info["state"] == STATES["FAILED"]
    [build] = world.builds()
    size = len(expected_logs(world.sim.emitted_log(build["metadata"]["name"]))["x86_64.log"])
    message = fault_of(world, task_id)
    assert f"x86_64.log: 0 of {size} bytes on the hub" in message, message
    assert "succeeded but its log could not be uploaded whole" in message
    assert "orchestrator.log" not in message       # complete files are not named


def test_a_cancel_during_a_slow_final_upload_ends_within_kojids_window(world):
    world.hub.upload_rate = 300_000            # the final upload would take ~10 s
    task_id = large_log_task(world, 3_000_000)
    sent = {}

    def cancel_when_complete():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            builds = world.builds()
            if builds and builds[0]["status"]["phase"] == "Complete":
                break
            time.sleep(0.01)
        time.sleep(0.3)                        # the final upload is under way
        world.user.cancelTask(task_id)
        sent["at"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)    # kojid's cleanupTask

    thread = threading.Thread(target=cancel_when_complete, daemon=True)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        world.run_next_task()
    ended = time.monotonic()
    thread.join()
    assert ended - sent["at"] < 3.0            # SIGTERM would follow 3 s after SIGINT
