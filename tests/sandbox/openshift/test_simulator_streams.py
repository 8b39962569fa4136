"""Watch streams, log streams and cancellation, over real HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.sandbox.openshift.test_simulator_helpers import (
    BUILDS,
    NS,
    TERMINAL,
    create_build,
    follow_log,
    instantiate,
    running_sim,
    session,
    start_sim,
    watch_events,
)


@pytest.fixture
def sim():
    yield from running_sim()


WATCH = f"/apis/build.openshift.io/v1/watch/namespaces/{NS}/builds"


def test_watch_starts_with_added_then_every_change_in_order(sim):
    reply = session().get(f"{sim.url}{BUILDS}?watch=true&fieldSelector=metadata.name%3Dw1",
                          stream=True, timeout=10)
    assert reply.status_code == 200            # headers arrive before anything happens
    create_build(sim, "w1")
    assert reply.headers["Transfer-Encoding"] == "chunked"
    phases = []
    for line in reply.iter_lines():
        event = json.loads(line)
        assert event["object"]["metadata"]["name"] == "w1"
        phases.append((event["type"], event["object"]["status"]["phase"]))
        if event["object"]["status"]["phase"] in TERMINAL:
            break
    reply.close()
    assert phases[0] == ("ADDED", "New")
    assert all(kind == "MODIFIED" for kind, _ in phases[1:])
    seen = [phase for _, phase in phases]
    assert seen.index("Pending") < seen.index("Running") < seen.index("Complete")


def test_legacy_watch_path_and_timeout_seconds_close_the_stream(sim):
    create_build(sim, "w2", "silent")
    sim.wait_for_phase("w2", {"Running"}, 5)
    began = time.monotonic()
    reply = session().get(f"{sim.url}{WATCH}/w2/?timeoutSeconds=0.3", stream=True, timeout=10)
    events = watch_events(reply)          # returns when the server ends the stream cleanly
    assert 0.25 < time.monotonic() - began < 3
    assert [(e["type"], e["object"]["status"]["phase"]) for e in events] == [("ADDED", "Running")]


def test_idle_watch_is_closed_at_the_server_timeout():
    quick = start_sim(watch_timeout=0.3)
    try:
        create_build(quick, "idle", "silent")
        quick.wait_for_phase("idle", {"Running"}, 5)
        began = time.monotonic()
        events = watch_events(session().get(
            f"{quick.url}{BUILDS}?watch=1&fieldSelector=metadata.name%3Didle",
            stream=True, timeout=10))
        assert 0.25 < time.monotonic() - began < 3 and len(events) == 1
    finally:
        quick.stop()


def test_watch_from_a_resource_version_replays_only_later_changes(sim):
    created = create_build(sim, "w3")
    sim.wait_for_phase("w3", {"Complete"}, 10)
    version = created["metadata"]["resourceVersion"]
    reply = session().get(f"{sim.url}{BUILDS}?watch=true&fieldSelector=metadata.name%3Dw3"
                          f"&resourceVersion={version}&timeoutSeconds=0.2", stream=True)
    events = watch_events(reply)
    assert events and all(e["type"] == "MODIFIED" for e in events)
    assert events[-1]["object"]["status"]["phase"] == "Complete"


def test_watch_from_a_version_older_than_the_window_is_gone(sim):
    old = create_build(sim, "w5")["metadata"]["resourceVersion"]
    for index in range(4200):             # more changes than the 4096-event window holds
        sim.set_configmap("churn", {"n": str(index)})
    reply = session().get(f"{sim.url}{BUILDS}?watch=true&resourceVersion={old}", stream=True)
    [event] = watch_events(reply)
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


def test_watch_sees_deletion_and_stays_open(sim):
    create_build(sim, "w4", "silent")
    sim.wait_for_phase("w4", {"Running"}, 5)
    reply = session().get(f"{sim.url}{WATCH}/w4?timeoutSeconds=5", stream=True, timeout=10)
    lines = (json.loads(line) for line in reply.iter_lines() if line)
    assert next(lines)["type"] == "ADDED"
    session().delete(f"{sim.url}{BUILDS}/w4")
    assert next(event["type"] for event in lines if event["type"] != "MODIFIED") == "DELETED"
    reply.close()


def test_log_follow_gives_exactly_what_was_emitted(sim):
    create_build(sim, "l1", platforms=("x86_64", "ppc64le"))
    data = follow_log(sim, "l1")
    assert sim.get_build("l1")["status"]["phase"] == "Complete"
    assert data == sim.emitted_log("l1") and len(data) > 3000
    assert "✓".encode() in data
    assert sim.emitted_log_digest("l1")[0] == len(data)


def test_every_log_reconnect_starts_from_the_beginning(sim):
    sim.time_scale = 0.05
    create_build(sim, "l2")
    sim.wait_for_phase("l2", {"Running"}, 5)
    first = session().get(f"{sim.url}{BUILDS}/l2/log/?follow=1", stream=True, timeout=10)
    head = first.raw.read(300)
    first.close()
    again = follow_log(sim, "l2")
    assert again.startswith(head) and again == sim.emitted_log("l2")
    assert follow_log(sim, "l2") == again        # after completion too


def test_log_without_follow_returns_what_exists_so_far(sim):
    sim.time_scale = 0.3
    create_build(sim, "l3")
    sim.wait_for_phase("l3", {"Running"}, 5)
    partial = session().get(f"{sim.url}{BUILDS}/l3/log/", timeout=10).content
    sim.wait_for_phase("l3", {"Complete"}, 10)
    whole = sim.emitted_log("l3")
    assert whole.startswith(partial) and len(partial) < len(whole)


def test_since_seconds_starts_at_a_recent_line(sim):
    sim.slow_log_lines, sim.slow_log_rate = 10, 40.0
    create_build(sim, "since", "slow-log")
    sim.wait_for_phase("since", TERMINAL, 10)
    emitted = sim.emitted_log("since")
    recent = session().get(f"{sim.url}{BUILDS}/since/log?sinceSeconds=1").content
    assert recent == emitted                               # all of it is under a second old
    time.sleep(0.3)
    assert session().get(f"{sim.url}{BUILDS}/since/log?sinceSeconds=0.1").content == b""
    limited = session().get(f"{sim.url}{BUILDS}/since/log?limitBytes=100").content
    assert limited == emitted[:100]


def test_log_of_a_pending_build_waits_then_times_out_or_answers_empty_with_nowait(sim):
    sim.log_wait_timeout = 0.3
    create_build(sim, "stuck", "stuck-pending")
    sim.wait_for_phase("stuck", {"Pending"}, 5)
    empty = session().get(f"{sim.url}{BUILDS}/stuck/log?nowait=true")
    assert empty.status_code == 200 and empty.content == b""
    began = time.monotonic()
    late = session().get(f"{sim.url}{BUILDS}/stuck/log?follow=true")
    assert late.status_code == 504 and late.json()["reason"] == "Timeout"
    assert "timed out waiting for build stuck to start" in late.json()["message"]
    assert time.monotonic() - began >= 0.3


def test_log_of_a_new_build_streams_once_it_starts(sim):
    sim.time_scale = 0.05
    create_build(sim, "soon")
    data = follow_log(sim, "soon")          # asked while New: waits for Running, then follows
    assert data == sim.emitted_log("soon")


def test_cancel_put_is_prompt_and_ends_log_and_watch(sim):
    create_build(sim, "c1", "silent")
    sim.wait_for_phase("c1", {"Running"}, 5)
    http = session()
    log_reply = http.get(f"{sim.url}{BUILDS}/c1/log?follow=true", stream=True, timeout=10)
    watch_reply = session().get(f"{sim.url}{WATCH}/c1/?timeoutSeconds=5", stream=True,
                                timeout=10)
    watched: list = []

    def collect() -> None:
        for line in watch_reply.iter_lines():
            watched.append(json.loads(line))
            if watched[-1]["object"]["status"]["phase"] == "Cancelled":
                return
    watcher = threading.Thread(target=collect)
    watcher.start()
    time.sleep(0.05)
    build = http.get(f"{sim.url}{BUILDS}/c1/").json()
    build["status"]["cancelled"] = True
    began = time.monotonic()
    reply = http.put(f"{sim.url}{BUILDS}/c1/", json=build)
    elapsed = time.monotonic() - began
    assert reply.status_code == 200 and elapsed < 0.1
    assert reply.json()["status"]["phase"] == "Cancelled"
    assert reply.json()["status"]["cancelled"] is True
    assert log_reply.raw.read() == b""                       # the log stream ended
    pod = sim.get_pod("c1")
    assert pod["metadata"]["deletionTimestamp"]
    watcher.join(5)
    watch_reply.close()
    assert [(e["type"], e["object"]["status"]["phase"]) for e in watched] == \
        [("ADDED", "Running"), ("MODIFIED", "Cancelled")]


def test_log_of_a_cancelled_build_is_a_bad_request(sim):
    create_build(sim, "c2", "silent")
    sim.wait_for_phase("c2", {"Running"}, 5)
    sim.cancel_build("c2")
    reply = session().get(f"{sim.url}{BUILDS}/c2/log?follow=true")
    assert reply.status_code == 400
    assert reply.json()["message"] == "build c2 was cancelled. No logs are available."


def test_cancelling_a_queued_build_needs_no_pod(sim):
    instantiate(sim, "q", "silent")
    instantiate(sim, "q")
    sim.wait_for_phase("q-1", {"Running"}, 5)
    cancelled = sim.cancel_build("q-2")
    assert cancelled["status"]["phase"] == "Cancelled" and sim.get_pod("q-2") is None


def test_cancelled_pod_disappears_after_its_grace_period(sim):
    create_build(sim, "c3", "silent")
    sim.wait_for_phase("c3", {"Running"}, 5)
    sim.cancel_build("c3")
    deadline = time.monotonic() + 5
    while sim.get_pod("c3") is not None and time.monotonic() < deadline:
        time.sleep(0.05)      # 30 s grace at time_scale 0.01
    assert sim.get_pod("c3") is None


@pytest.mark.parametrize("path", ["", "/"])
def test_stop_ends_open_streams_and_threads(path):
    before = set(threading.enumerate())
    local = start_sim()
    create_build(local, "s1", "silent")
    local.wait_for_phase("s1", {"Running"}, 5)
    stream = session().get(f"{local.url}{BUILDS}{path}?watch=true", stream=True, timeout=10)
    log_stream = session().get(f"{local.url}{BUILDS}/s1/log?follow=1", stream=True, timeout=10)
    began = time.monotonic()
    local.stop()
    assert time.monotonic() - began < 3
    for reply in (stream, log_stream):
        try:
            reply.raw.read()
        except Exception:   # noqa: BLE001 - an abrupt end is what we expect
            pass
    time.sleep(0.1)
    assert [t.name for t in set(threading.enumerate()) - before] == []
