"""Each scenario's final state, annotations, pod and log format; scenario selection."""

from __future__ import annotations

import hashlib
import json
import re
import time

import pytest

from koji_containerbuild.sandbox.openshift.scenarios import SCENARIOS
from tests.sandbox.openshift.test_simulator_helpers import (
    BUILDS,
    TERMINAL,
    USER_WARNING,
    create_build,
    demux,
    follow_log,
    instantiate,
    running_sim,
    session,
    user_params,
)


@pytest.fixture
def sim():
    yield from running_sim()


def finished(sim, name: str) -> dict:
    return sim.wait_for_phase(name, TERMINAL, 15)


def test_success_regular_build_on_two_platforms(sim):
    instantiate(sim, "app", "success", platforms=("x86_64", "ppc64le"))
    build = finished(sim, "app-1")
    assert build["status"]["phase"] == "Complete"
    meta = build["metadata"]
    ann = meta["annotations"]
    repos = json.loads(ann["repositories"])
    assert set(repos) == {"primary", "unique", "floating"}
    assert repos["primary"] and repos["unique"] and repos["floating"]
    assert meta["labels"]["koji-build-id"].isdigit()
    assert set(json.loads(ann["worker-builds"])) == {"x86_64", "ppc64le"}
    assert json.loads(ann["plugins-metadata"])["errors"] == {}
    assert {d["version"] for d in json.loads(ann["digests"])} == {"v2_list"}
    whitelist = json.loads(ann["koji_task_annotations_whitelist"])
    assert whitelist == ["remote_source_url"] and ann["remote_source_url"].startswith("https://")
    assert all(isinstance(value, str) for value in ann.values())
    pod = sim.get_pod("app-1")
    assert pod["status"]["phase"] == "Succeeded"


def test_success_log_is_in_the_orchestrator_format(sim):
    create_build(sim, "fmt", platforms=("x86_64", "s390x"))
    lines = follow_log(sim, "fmt").decode().splitlines()
    by_platform: dict = {}
    for line in lines:
        platform, text = demux(line)
        by_platform.setdefault(platform, []).append(text)
    assert set(by_platform) == {None, "x86_64", "s390x", "_metadata_"}
    assert by_platform["_metadata_"][0].startswith("koji-upload/")
    assert by_platform["_metadata_"][0].endswith("/metadata.json")
    worker = by_platform["x86_64"][0]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - atomic_reactor\.", worker), worker
    assert any("platform:- - atomic_reactor.plugin - INFO - running plugin 'orchestrate_build'"
               in line for line in by_platform[None])
    warnings = [json.loads(USER_WARNING.match(line).group(1))["message"]
                for line in lines if USER_WARNING.match(line)]
    assert len(warnings) == 3 and len(set(warnings)) == 2


def test_success_scratch_has_no_koji_build_and_only_unique_tags(sim):
    create_build(sim, "scr")
    build = finished(sim, "scr")
    repos = json.loads(build["metadata"]["annotations"]["repositories"])
    assert repos["primary"] == [] and repos["floating"] == [] and len(repos["unique"]) == 1
    assert "koji-build-id" not in build["metadata"]["labels"]


def test_success_source_container_build(sim):
    params = user_params(kind="source_containers_user_params", sources_for_koji_build_id=42)
    body = {"kind": "Build", "metadata": {"name": "src", "labels": {"koji-task-id": "9"}},
            "spec": {"strategy": {"type": "Custom", "customStrategy": {
                "from": {"kind": "DockerImage", "name": "br"},
                "env": [{"name": "USER_PARAMS", "value": params}]}}}}
    assert session().post(sim.url + BUILDS, json=body).status_code == 201
    build = finished(sim, "src")
    assert build["status"]["phase"] == "Complete"
    assert "worker-builds" not in build["metadata"]["annotations"]
    assert build["metadata"]["labels"]["sources_for_koji_build_id"] == "42"
    assert {demux(line)[0] for line in sim.emitted_log("src").decode().splitlines()} == {None}


def test_plugin_failure(sim):
    instantiate(sim, "pf", "plugin-failure")
    build = finished(sim, "pf-1")
    status, ann = build["status"], build["metadata"]["annotations"]
    assert status["phase"] == "Failed" and status["reason"] == "GenericBuildFailed"
    errors = json.loads(ann["plugins-metadata"])["errors"]
    plugin, message = next(iter(errors.items()))
    assert plugin == "orchestrate_build" and "distgit_fetch_artefacts" in message
    assert "koji-build-id" not in build["metadata"]["labels"]
    assert json.loads(ann["repositories"]) == {"primary": [], "unique": [], "floating": []}
    assert status["logSnippet"]
    terminated = sim.get_pod("pf-1")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 1


def test_pod_failure_has_no_annotations_but_a_pod_reason(sim):
    create_build(sim, "podf", "pod-failure")
    build = finished(sim, "podf")
    assert build["status"]["phase"] == "Failed"
    assert "plugins-metadata" not in build["metadata"]["annotations"]
    terminated = sim.get_pod("podf")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 1 and terminated["reason"] == "Error"
    assert "No space left on device" in terminated["message"]


def test_stuck_pending_is_unschedulable(sim):
    create_build(sim, "stuck", "stuck-pending")
    sim.wait_for_phase("stuck", {"Pending"}, 5)
    time.sleep(0.2)
    assert sim.get_build("stuck")["status"]["phase"] == "Pending"
    pod = sim.get_pod("stuck")
    assert "nodeName" not in pod["spec"] and pod["status"]["phase"] == "Pending"
    [condition] = pod["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == \
        ("PodScheduled", "False", "Unschedulable")
    assert condition["message"] == "0/3 nodes are available: 3 Insufficient memory."


def test_evicted(sim):
    create_build(sim, "ev", "evicted")
    build = finished(sim, "ev")
    assert (build["status"]["phase"], build["status"]["reason"]) == ("Failed", "BuildPodEvicted")
    pod_status = sim.get_pod("ev")["status"]
    assert pod_status["reason"] == "Evicted" and "containerStatuses" not in pod_status
    assert pod_status["message"].startswith("The node was low on resource: ephemeral-storage")
    assert "plugins-metadata" not in build["metadata"]["annotations"]


def test_deadline_exceeded(sim):
    create_build(sim, "dl", "deadline-exceeded")
    build = finished(sim, "dl")
    assert (build["status"]["phase"], build["status"]["reason"]) == ("Failed", "DeadlineExceeded")
    pod_status = sim.get_pod("dl")["status"]
    assert pod_status["reason"] == "DeadlineExceeded"
    assert pod_status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143


def test_cancelled_by_the_cluster_after_running(sim):
    create_build(sim, "cc", "cancelled-by-cluster")
    build = finished(sim, "cc")
    assert build["status"]["phase"] == "Cancelled" and build["status"]["cancelled"] is True
    assert build["status"]["startTimestamp"]
    assert b"build cancelled" in sim.emitted_log("cc")


def test_silent_runs_quietly_until_cancelled(sim):
    create_build(sim, "quiet", "silent")
    sim.wait_for_phase("quiet", {"Running"}, 5)
    time.sleep(0.1)
    assert sim.emitted_log("quiet") == b""
    sim.cancel_build("quiet")
    assert sim.get_build("quiet")["status"]["phase"] == "Cancelled"


def test_large_log_is_generated_lazily_and_served_whole(sim):
    sim.large_log_bytes = 3_000_000
    create_build(sim, "big", "large-log")
    reply = session().get(f"{sim.url}{BUILDS}/big/log?follow=1", stream=True, timeout=30)
    digest, size = hashlib.sha256(), 0
    for chunk in reply.iter_content(1 << 16):
        digest.update(chunk)
        size += len(chunk)
    assert finished(sim, "big")["status"]["phase"] == "Complete"
    assert (size, digest.hexdigest()) == sim.emitted_log_digest("big")
    assert size > 3_000_000
    kept = sum(len(seg) for seg in sim._engine.runs["big"].log._segments
               if isinstance(seg, bytearray))
    assert kept < 100_000          # only the scripted lines are held in memory


@pytest.mark.slow
def test_default_large_log_of_300_mb_streams_from_the_start_each_time(sim):
    create_build(sim, "huge", "large-log")
    for _ in range(2):
        reply = session().get(f"{sim.url}{BUILDS}/huge/log?follow=1", stream=True, timeout=120)
        digest, size = hashlib.sha256(), 0
        for chunk in reply.iter_content(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        assert (size, digest.hexdigest()) == sim.emitted_log_digest("huge")
    assert size > 300_000_000


def test_slow_log_lines_carry_monotonic_emit_times(sim):
    sim.slow_log_lines, sim.slow_log_rate = 6, 50.0
    create_build(sim, "slow", "slow-log")
    data = follow_log(sim, "slow").decode()
    stamps = [float(m) for m in re.findall(r"slow-log line \d+/6 monotonic=([\d.]+)", data)]
    assert len(stamps) == 6 and stamps == sorted(stamps)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(0.01 < gap < 0.06 for gap in gaps), gaps


def test_scenario_from_ref_uri_default_and_custom_selector(sim):
    create_build(sim, "by-ref", ref="refs/heads/scenario-evicted")
    create_build(sim, "by-uri", uri="https://git.example.com/c/scenario-plugin-failure.git")
    create_build(sim, "unknown", ref="scenario-nonexistent")
    sim.default_scenario = "pod-failure"
    create_build(sim, "by-default")
    sim.scenario_selector = lambda build: "silent"
    create_build(sim, "by-selector")
    assert [sim.scenario_of(name) for name in
            ("by-ref", "by-uri", "unknown", "by-default", "by-selector")] == \
        ["evicted", "plugin-failure", "success", "pod-failure", "silent"]
    with pytest.raises(ValueError):
        sim.default_scenario = "nope"


def test_scenario_names():
    assert {"success", "plugin-failure", "pod-failure", "stuck-pending", "evicted",
            "deadline-exceeded", "cancelled-by-cluster", "large-log", "silent",
            "slow-log"} <= set(SCENARIOS)
