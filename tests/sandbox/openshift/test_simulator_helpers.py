"""Shared helpers for the OpenShift simulator tests (raw HTTP with ``requests``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Optional

import pytest
import requests

from koji_containerbuild.sandbox.openshift.faults import Faults
from koji_containerbuild.sandbox.openshift.simulator import OpenShiftSimulator
from tests.fixtures import OPENSHIFT_FIXTURES

NS = "default"
BUILDS = f"/apis/build.openshift.io/v1/namespaces/{NS}/builds"
CONFIGS = f"/apis/build.openshift.io/v1/namespaces/{NS}/buildconfigs"
PODS = f"/api/v1/namespaces/{NS}/pods"
TOKEN = "s3cret-token"
TERMINAL = {"Complete", "Failed", "Error", "Cancelled"}
FIXTURE_DIRS = [OPENSHIFT_FIXTURES]


def start_sim(**kwargs: Any) -> OpenShiftSimulator:
    kwargs.setdefault("time_scale", 0.01)
    kwargs.setdefault("token", TOKEN)
    kwargs.setdefault("faults", Faults())
    return OpenShiftSimulator(**kwargs).start()


def running_sim() -> Iterator[OpenShiftSimulator]:
    """Body of each test module's ``sim`` fixture: a started simulator, stopped afterwards."""
    simulator = start_sim()
    yield simulator
    simulator.stop()


def session(token: Optional[str] = TOKEN) -> requests.Session:
    http = requests.Session()
    if token:
        http.headers["Authorization"] = f"Bearer {token}"
    return http


def user_params(platforms=("x86_64",), **extra: Any) -> str:
    params = {"platforms": list(platforms), "component": "foo", "image_tag": "joe/foo:f33-1-2",
              "kind": "build_user_params", **extra}
    return json.dumps(params, sort_keys=True)


def build_spec(scenario: Optional[str] = None, platforms=("x86_64",), ref: str = "HEAD",
               uri: str = "https://git.example.com/containers/foo.git", **params: Any) -> dict:
    if scenario:
        ref = f"scenario-{scenario}"
    return {
        "source": {"type": "Git", "git": {"uri": uri, "ref": ref}},
        "strategy": {"type": "Custom", "customStrategy": {
            "from": {"kind": "DockerImage", "name": "registry.example.com/buildroot:latest"},
            "exposeDockerSocket": True,
            "env": [{"name": "REACTOR_CONFIG", "valueFrom": {"configMapKeyRef": {
                         "name": "reactor-config-map", "key": "config.yaml"}}},
                    {"name": "USER_PARAMS", "value": user_params(platforms, **params)}]}},
        "output": {"to": {"kind": "DockerImage", "name": "joe/foo:f33-1-2"}},
        "completionDeadlineSeconds": 14400,
    }


def build_body(name: str, scenario: Optional[str] = None, labels: Optional[dict] = None,
               **kwargs: Any) -> dict:
    return {"kind": "Build", "apiVersion": "build.openshift.io/v1",
            "metadata": {"name": name, "labels": labels or {"scratch": "true"}},
            "spec": build_spec(scenario, **kwargs)}


def config_body(name: str, scenario: Optional[str] = None, labels: Optional[dict] = None,
                **kwargs: Any) -> dict:
    return {"kind": "BuildConfig", "apiVersion": "build.openshift.io/v1",
            "metadata": {"name": name, "labels": labels or {
                "git-repo-name": "foo", "git-branch": "f33", "koji-task-id": "123"}},
            "spec": build_spec(scenario, **kwargs)}


def create_build(sim: OpenShiftSimulator, name: str, scenario: Optional[str] = None,
                 **kwargs: Any) -> dict:
    reply = session().post(sim.url + BUILDS, json=build_body(name, scenario, **kwargs))
    assert reply.status_code == 201, reply.text
    return reply.json()


def instantiate(sim: OpenShiftSimulator, config: str, scenario: Optional[str] = None,
                **kwargs: Any) -> dict:
    http = session()
    if http.get(f"{sim.url}{CONFIGS}/{config}").status_code == 404:
        created = http.post(sim.url + CONFIGS, json=config_body(config, scenario, **kwargs))
        assert created.status_code == 201, created.text
    reply = http.post(f"{sim.url}{CONFIGS}/{config}/instantiate",
                      json={"kind": "BuildRequest", "apiVersion": "build.openshift.io/v1",
                            "metadata": {"name": config}})
    assert reply.status_code == 201, reply.text
    return reply.json()


def watch_events(response: requests.Response) -> list[dict]:
    return [json.loads(line) for line in response.iter_lines() if line]


def follow_log(sim: OpenShiftSimulator, name: str) -> bytes:
    reply = session().get(f"{sim.url}{BUILDS}/{name}/log?follow=true", stream=True, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.raw.read()


def fixture(name: str) -> Any:
    for folder in FIXTURE_DIRS:
        if (folder / name).exists():
            return json.loads((folder / name).read_text())
    pytest.skip(f"fixture {name} not found in {FIXTURE_DIRS}")


# contract §5.3, parse rule of osbs-client's _parse_build_log_entry
def demux(line: str) -> tuple[Optional[str], str]:
    items = line.split()
    if len(items) < 4 or not items[2].startswith("platform:"):
        return None, line
    platform = items[2].split(":", 1)[1]
    if platform == "-":
        return None, line
    rest = line
    for _ in range(8):
        rest = rest.split(" ", 1)[1] if " " in rest else ""
    fields = rest.split(" ")
    if len(fields) > 2 and fields[2] == "platform:-":
        rest = " ".join(fields[:2] + fields[3:])
    return platform, rest


USER_WARNING = re.compile(r"^.+ - USER_WARNING - (\{.*\})$")
