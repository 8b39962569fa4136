"""Each fault knob is observable, deterministic for a seed, and changeable at run time."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from koji_containerbuild.sandbox.openshift.faults import Faults
from tests.sandbox.openshift.test_simulator_helpers import (
    BUILDS,
    TERMINAL,
    build_body,
    create_build,
    follow_log,
    running_sim,
    session,
    start_sim,
)


@pytest.fixture
def sim():
    yield from running_sim()


def test_faults_are_off_by_default():
    assert Faults() == Faults(seed=0, error_rate=0.0, reset_rate=0.0, watch_drop_seconds=None,
                              log_cut_bytes=None, slow_seconds=0.0)
    with pytest.raises(ValueError):
        Faults(error_rate=2)
    with pytest.raises(TypeError):
        Faults().replaced(nope=1)


def test_error_rate_answers_5xx_status_objects(sim):
    sim.faults = Faults(error_rate=1.0)
    reply = session().get(sim.url + BUILDS)
    assert reply.status_code in (500, 503)
    body = reply.json()
    assert body["kind"] == "Status" and body["code"] == reply.status_code
    assert body["reason"] in ("InternalError", "ServiceUnavailable")
    sim.faults = Faults()
    assert session().get(sim.url + BUILDS).status_code == 200


def test_error_rate_spares_watch_and_log_streams(sim):
    create_build(sim, "spared")
    sim.wait_for_phase("spared", TERMINAL, 10)
    sim.faults = Faults(error_rate=1.0)
    assert follow_log(sim, "spared") == sim.emitted_log("spared")
    watch = session().get(f"{sim.url}{BUILDS}?watch=1&timeoutSeconds=0.1", stream=True)
    assert watch.status_code == 200


def test_error_rate_is_a_fraction_and_deterministic_for_a_seed():
    def statuses(seed: int) -> list[int]:
        local = start_sim(faults=Faults(seed=seed, error_rate=0.3))
        try:
            return [session().get(local.url + BUILDS).status_code for _ in range(60)]
        finally:
            local.stop()
    first, again, other = statuses(7), statuses(7), statuses(8)
    assert first == again and first != other
    failures = sum(code != 200 for code in first)
    assert 6 <= failures <= 30


def test_post_error_before_or_after_commit(sim):
    sim.faults = Faults(error_rate=1.0, error_after_commit=1.0)
    reply = session().post(sim.url + BUILDS, json=build_body("committed", "silent"))
    assert reply.status_code in (500, 503)
    sim.faults = Faults()
    assert sim.get_build("committed")                     # it exists despite the 5xx
    retry = session().post(sim.url + BUILDS, json=build_body("committed", "silent"))
    assert retry.status_code == 409 and retry.json()["reason"] == "AlreadyExists"
    sim.faults = Faults(error_rate=1.0, error_after_commit=0.0)
    assert session().post(sim.url + BUILDS, json=build_body("lost")).status_code >= 500
    sim.faults = Faults()
    with pytest.raises(KeyError):
        sim.get_build("lost")


def test_reset_rate_resets_connections_mid_response(sim):
    sim.set_faults(reset_rate=1.0)
    broken = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
    with pytest.raises(broken):     # headers (and half the body) arrive, then a TCP reset
        session().get(sim.url + BUILDS).json()
    with pytest.raises(broken):
        session().post(sim.url + BUILDS, json=build_body("after-reset", "silent"))
    sim.set_faults(reset_rate=0.0)
    assert sim.get_build("after-reset")         # the reset came after the commit
    assert session().get(sim.url + BUILDS).status_code == 200


def test_watch_drop_closes_every_watch_abruptly(sim):
    create_build(sim, "dropped", "silent")
    sim.wait_for_phase("dropped", {"Running"}, 5)
    sim.set_faults(watch_drop_seconds=0.2)
    began = time.monotonic()
    reply = session().get(f"{sim.url}{BUILDS}?watch=true&fieldSelector=metadata.name%3Ddropped",
                          stream=True, timeout=10)
    lines = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in reply.iter_lines():
            lines.append(line)
    assert 0.15 < time.monotonic() - began < 2 and len(lines) == 1


def _read_until_cut(sim, name: str) -> tuple[bytes, bool]:
    reply = session().get(f"{sim.url}{BUILDS}/{name}/log?follow=true", stream=True)
    piece = bytearray()
    try:
        for chunk in reply.iter_content(4096):
            piece += chunk
    except requests.exceptions.ChunkedEncodingError:
        return bytes(piece), True
    return bytes(piece), False


def test_log_cut_gives_each_reconnect_n_new_bytes(sim):
    create_build(sim, "cut", platforms=("x86_64", "ppc64le"))
    sim.wait_for_phase("cut", TERMINAL, 10)
    emitted = sim.emitted_log("cut")
    assert len(emitted) > 3000
    sim.set_faults(log_cut_bytes=1000)
    received, cut, connections = b"", True, 0
    while cut:
        received, cut = _read_until_cut(sim, "cut")
        connections += 1
        assert emitted.startswith(received)           # every connection starts at byte 0
        if cut:
            assert len(received) == 1000 * connections   # cut mid-line, N bytes further
    assert received == emitted and connections == len(emitted) // 1000 + 1


def test_log_cut_counting_resent_bytes_cuts_every_connection_at_n(sim):
    create_build(sim, "cut2")
    sim.wait_for_phase("cut2", TERMINAL, 10)
    sim.set_faults(log_cut_bytes=1000, log_cut_counts_resent=True)
    for _ in range(3):
        assert _read_until_cut(sim, "cut2") == (sim.emitted_log("cut2")[:1000], True)
    sim.set_faults(log_cut_bytes=None)
    assert follow_log(sim, "cut2") == sim.emitted_log("cut2")


def test_slow_seconds_delays_answers(sim):
    sim.set_faults(slow_seconds=0.2)
    began = time.monotonic()
    assert session().get(sim.url + BUILDS).status_code == 200
    assert time.monotonic() - began >= 0.2


def test_faults_can_be_set_over_the_admin_api(sim):
    reply = requests.put(sim.url + "/_sandbox/faults", json={"error_rate": 1.0, "seed": 3})
    assert reply.status_code == 200 and reply.json()["error_rate"] == 1.0
    assert sim.faults.seed == 3
    assert session().get(sim.url + BUILDS).status_code >= 500
    assert requests.put(sim.url + "/_sandbox/faults", json={"bogus": 1}).status_code == 400


EXPECTED = {"success": "Complete", "plugin-failure": "Failed", "pod-failure": "Failed",
            "evicted": "Failed", "deadline-exceeded": "Failed",
            "cancelled-by-cluster": "Cancelled"}


def _tolerant(call):
    """Retry a request on 5xx and broken connections (what any client must do here)."""
    for _ in range(200):
        try:
            reply = call()
            if reply.status_code < 500:
                return reply
        except requests.RequestException:
            pass
        time.sleep(0.005)
    raise AssertionError("no answer in 200 attempts")


def _follow_build(sim, name: str) -> tuple[str, bytes]:
    http = session()
    url = f"{sim.url}{BUILDS}/{name}"
    phase = None
    while phase not in TERMINAL:                     # watch, reconnecting after every drop
        try:
            with http.get(f"{url.rsplit('/', 1)[0]}?watch=true&fieldSelector=metadata.name%3D"
                          f"{name}", stream=True, timeout=5) as watch:
                for line in watch.iter_lines():
                    phase = json.loads(line)["object"]["status"]["phase"]
                    if phase in TERMINAL:
                        break
        except requests.RequestException:
            pass
        phase = _tolerant(lambda: http.get(url)).json()["status"]["phase"]
    while True:                                      # each connection starts again at byte 0
        try:
            reply = http.get(f"{url}/log?follow=1", stream=True, timeout=5)
            if reply.status_code >= 500:
                continue
            if reply.status_code == 400:             # cancelled: OpenShift has no log
                return phase, b""
            return phase, reply.content
        except requests.RequestException:
            continue


def test_a_tolerant_client_gets_every_build_right_under_all_faults():
    chaos = start_sim(time_scale=0.05, faults=Faults(
        seed=11, error_rate=0.1, reset_rate=0.05, watch_drop_seconds=0.3,
        log_cut_bytes=64 * 1024))
    try:
        names = {f"chaos-{i}": list(EXPECTED)[i % len(EXPECTED)] for i in range(20)}
        for name, scenario in names.items():
            reply = _tolerant(lambda n=name, s=scenario: session().post(
                chaos.url + BUILDS, json=build_body(n, s, platforms=("x86_64", "ppc64le"))))
            assert reply.status_code in (201, 409)   # 409: an earlier try committed
        results: dict = {}
        threads = [threading.Thread(target=lambda n=n: results.__setitem__(
            n, _follow_build(chaos, n))) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for name, scenario in names.items():
            phase, log = results[name]
            assert phase == EXPECTED[scenario], (name, scenario, phase)
            if phase != "Cancelled":
                assert log == chaos.emitted_log(name), name
        assert len(chaos.list_builds()) == 20
    finally:
        chaos.stop()
