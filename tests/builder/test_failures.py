"""Every way an OpenShift build can end badly reaches the task as one clear line."""

from __future__ import annotations

import pytest

from .helpers import STATES, fault_of, scenario_task


@pytest.mark.parametrize("scenario,words", [
    ("plugin-failure", ["Image build failed.", "orchestrate_build"]),
    ("pod-failure", ["Image build failed."]),
    ("evicted", ["Image build failed.", "evicted"]),
    ("deadline-exceeded", ["Image build failed.", "deadline"]),
])
def test_failed_builds_fail_the_task_with_the_reason(world, scenario, words):
    task_id = scenario_task(world, scenario)
    info = world.run(task_id)
    assert info["state"] == STATES["FAILED"]
    message = fault_of(world, task_id)
    [build] = world.builds()
    assert message.rstrip().endswith(f"OSBS build id: {build['metadata']['name']}"), message
    assert "\n" not in message.strip()
    for word in words:
        assert word.lower() in message.lower(), message
    # the log made it to the task output even though the build failed
    assert "orchestrator.log" in world.outputs(task_id)


def test_build_cancelled_on_the_cluster_cancels_the_task(world):
    task_id = scenario_task(world, "cancelled-by-cluster")
    info = world.run(task_id)
    assert info["state"] == STATES["CANCELED"]
    assert "osbs-client.log" in world.outputs(task_id)


def test_build_stuck_pending_is_diagnosed_and_cancelled(world):
    world.builder_conf.write_text(f"[osbs]\nosbs_conf = {world.osbs_conf}\n"
                                  "[tasks]\npending_timeout = 1\n")
    task_id = scenario_task(world, "stuck-pending")
    info = world.run(task_id)
    assert info["state"] == STATES["FAILED"]
    message = fault_of(world, task_id)
    assert "did not start within 1s" in message
    assert "Insufficient memory" in message
    [build] = world.builds()
    assert build["status"]["phase"] == "Cancelled"
