"""``python -m koji_containerbuild.sandbox.openshift``: starts, answers, stops on SIGTERM; the
``/_sandbox/`` admin surface for tests in another process."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.sandbox.openshift.test_simulator_helpers import BUILDS, TERMINAL, build_body, session


@pytest.fixture
def server(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("cli-token\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "koji_containerbuild.sandbox.openshift", "--listen",
         "127.0.0.1:0", "--token-file", str(token_file), "--time-scale", "0.01",
         "--scenario", "silent", "--state-dir", str(tmp_path / "state"), "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
    yield proc, url, tmp_path / "state"
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def wait_phase(url: str, name: str, phases: set[str]) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        build = session("cli-token").get(f"{url}{BUILDS}/{name}").json()
        if build["status"]["phase"] in phases:
            return build
        time.sleep(0.02)
    raise AssertionError(f"{name} never reached {phases}")


def test_entry_point_serves_admin_and_stops_on_sigterm(server):
    proc, url, state = server
    http = session("cli-token")
    assert requests.get(url + BUILDS).status_code == 401
    assert http.get(url + BUILDS).json()["items"] == []
    assert (state / "url").read_text().strip() == url

    assert http.post(url + BUILDS, json=build_body("quiet")).status_code == 201
    info = requests.get(f"{url}/_sandbox/builds/quiet").json()
    assert info["scenario"] == "silent"

    chosen = requests.put(f"{url}/_sandbox/scenario", json={"default": "success"})
    assert chosen.status_code == 200 and chosen.json()["default"] == "success"
    assert requests.put(f"{url}/_sandbox/scenario", json={"default": "nope"}).status_code == 400
    assert http.post(url + BUILDS, json=build_body("loud")).status_code == 201
    wait_phase(url, "loud", TERMINAL)
    emitted = requests.get(f"{url}/_sandbox/builds/loud/emitted-log").content
    followed = http.get(f"{url}{BUILDS}/loud/log?follow=1").content
    assert emitted == followed and emitted
    digest = requests.get(f"{url}/_sandbox/builds/loud/emitted-log-digest").json()
    assert digest == {"size": len(emitted), "sha256": hashlib.sha256(emitted).hexdigest()}
    assert requests.get(f"{url}/_sandbox/faults").json()["seed"] == 5
    deadline = time.monotonic() + 5
    while not (state / "builds" / "loud.emitted.log").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (state / "builds" / "loud.emitted.log").read_bytes() == emitted

    assert requests.post(f"{url}/_sandbox/builds/quiet/cancel").json()["status"]["phase"] == \
        "Cancelled"
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - began < 5
    assert "cli-token" not in proc.stderr.read()


def test_non_loopback_listen_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "koji_containerbuild.sandbox.openshift", "--listen",
         "0.0.0.0:0"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "loopback" in result.stderr
