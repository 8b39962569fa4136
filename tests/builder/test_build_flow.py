"""buildContainer end to end through kojid's TaskManager, the sandbox hub and the simulator."""

from __future__ import annotations

import json

import koji

CLOSED = koji.TASK_STATES["CLOSED"]
FAILED = koji.TASK_STATES["FAILED"]


def test_scratch_build_on_two_platforms(world):
    task_id = world.submit({"scratch": True})
    info = world.run(task_id)
    assert info["state"] == CLOSED, world.result(task_id)
    result = world.result(task_id)
    [build] = world.builds()
    name = build["metadata"]["name"]
    assert name.startswith("scratch-")
    assert result["osbs_build_id"] == name
    assert result["koji_builds"] == []  # scratch builds are not imported
    assert result["repositories"] and all(":" in r for r in result["repositories"])
    assert result.get("build_node")
    outputs = world.outputs(task_id)
    for expected in ("orchestrator.log", "x86_64.log", "aarch64.log", "metadata.json",
                     "checkout-for-labels.log", "osbs-client.log"):
        assert expected in outputs, outputs
    emitted = world.sim.emitted_log(name)
    shipped = b"".join(world.output(task_id, n) for n in ("orchestrator.log", "x86_64.log",
                                                           "aarch64.log"))
    # every emitted line lands in exactly one file (metadata lines excepted)
    emitted_lines = [line for line in emitted.splitlines() if b"platform:_metadata_" not in line
                     and b"USER_WARNING" not in line]
    assert len(shipped.splitlines()) == len(emitted_lines)
    plugin_log = world.output(task_id, "osbs-client.log").decode()
    selflink = f"/apis/build.openshift.io/v1/namespaces/default/builds/{name}"
    assert f"openshift_build_selflink: {selflink}" in plugin_log
    assert "runs on node" in plugin_log
    assert json.loads(world.output(task_id, "metadata.json"))["metadata_version"] == 0
    # atomic-reactor's USER_WARNING lines leave the logs for the result and their own file
    assert result["user_warnings"] and "user_warnings.log" in outputs
    assert b"USER_WARNING" not in shipped
    annotations = json.loads(world.output(task_id, "build_annotations.json"))
    assert set(annotations) == {"remote_source_url"}  # the whitelisted ones only
    labels = build["metadata"]["labels"]
    assert labels["koji-task-id"] == str(task_id)
    assert labels["scratch"] == "true"
    params = json.loads(next(e["value"] for e in build["spec"]["strategy"]["customStrategy"]["env"]
                             if e["name"] == "USER_PARAMS"))
    assert params["platforms"] == ["x86_64", "aarch64"]
    assert params["git_ref"] == world.sha
    assert params["user"] == "user"


def test_regular_build_goes_through_a_build_config(world):
    task_id = world.submit()
    info = world.run(task_id)
    assert info["state"] == CLOSED, world.result(task_id)
    [build] = world.builds()
    assert build["metadata"]["labels"].get("buildconfig")
    result = world.result(task_id)
    assert result["koji_builds"] and result["koji_builds"][0].isdigit()
