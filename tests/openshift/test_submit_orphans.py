"""No orphan on any error: a failure injected at every OpenShift call of a submit (before the
call, or after it with the answer lost) and after the submit returned, for every kind of
build, leaves no build New, Pending or Running in the simulator."""

from __future__ import annotations

import functools
from dataclasses import replace

import pytest

from koji_containerbuild.config import OsbsInstance
from koji_containerbuild.openshift.client import OpenShiftClient
from koji_containerbuild.openshift.errors import ServerError
from koji_containerbuild.openshift.orphans import BuildGuard
from koji_containerbuild.openshift.request import BuildParams, SourceBuildParams
from koji_containerbuild.openshift.submit import submit_image_build, submit_source_build
from koji_containerbuild.sandbox.openshift.simulator import OpenShiftSimulator

TOKEN = "sim-secret-token"
TASK = 41
CALLS = ("list_builds", "get_config_map", "get_image_stream_tag", "resolve_image_stream_tag",
         "list_build_configs", "get_build_config", "get_image_stream", "create_image_stream",
         "create_build_config", "update_build_config", "put_image_stream_tag",
         "set_build_config_triggers", "instantiate_build_config", "create_build")
ACTIVE = ("New", "Pending", "Running")

IMAGE = BuildParams(
    user="jdoe", component="hello-container",
    git_uri="git://distgit.sandbox.local/container/hello.git", git_ref="a" * 40,
    git_branch="f39", koji_target="f39-container-candidate", koji_task_id=TASK,
    name_label="sandbox/hello", base_image="busybox:latest", platforms=("x86_64",),
    autorebuild_enabled=True)
FLOWS = {
    "regular": lambda client, instance, guard: submit_image_build(
        client, instance, IMAGE, guard=guard),
    "regular again": lambda client, instance, guard: submit_image_build(
        client, instance, replace(IMAGE, koji_task_id=TASK + 1), guard=guard),
    "scratch": lambda client, instance, guard: submit_image_build(
        client, instance, replace(IMAGE, scratch=True), guard=guard),
    "isolated": lambda client, instance, guard: submit_image_build(
        client, instance, replace(IMAGE, isolated=True, release="1.1"), guard=guard),
    "source": lambda client, instance, guard: submit_source_build(
        client, instance, SourceBuildParams(
            user="jdoe", component="hello-container-source", koji_target="f39-candidate",
            koji_task_id=TASK, sources_for_koji_build_id=7), guard=guard),
}


class Injected(Exception):
    pass


def run(flow: str, fail_at: int = -1, after: bool = False, failure=ServerError):
    """Run ``flow`` in a fresh simulator with the ``fail_at``-th client call failing; return
    (calls made, builds ever created, builds still active)."""
    sim = OpenShiftSimulator(token=TOKEN, time_scale=0.02, default_scenario="silent").start()
    try:
        with OpenShiftClient(sim.url, "default", token=TOKEN, backoff_factor=0.001,
                             retries=0) as client:
            client.sleep = lambda seconds: None
            instance = OsbsInstance(
                conf_file="/etc/osbs.conf", section="default", build_json_dir="/nonexistent",
                openshift_url=sim.url + "/", namespace="default",
                build_from="imagestream:buildroot:latest",
                reactor_config_map="reactor-config-map", can_orchestrate=True)
            if flow == "regular again":      # an existing BuildConfig: the update path
                FLOWS["regular"](client, instance, None)
                for build in sim.list_builds():
                    sim.cancel_build(build["metadata"]["name"])
            calls = _instrument(client, fail_at, after, failure)
            with pytest.raises((Injected, ServerError, KeyboardInterrupt)) \
                    if fail_at >= 0 else _nothing():
                with BuildGuard(client, TASK + (flow == "regular again")) as guard:
                    FLOWS[flow](client, instance, guard)
                    if fail_at == len(calls):         # "after submit, before the monitor"
                        calls.append("(after submit)")
                        raise failure("signal or failure before the monitor's try")
            builds = sim.list_builds()
            return calls, builds, [b["metadata"]["name"] for b in builds
                                   if b["status"]["phase"] in ACTIVE]
    finally:
        sim.stop()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _instrument(client, fail_at: int, after: bool, failure) -> list:
    calls: list[str] = []
    for name in CALLS:
        real = getattr(client, name)

        def wrapped(*args, _real=real, _name=name, **kwargs):
            index = len(calls)
            calls.append(_name)
            if index == fail_at and not after:
                raise failure(f"injected before {_name}")
            try:
                return _real(*args, **kwargs)
            finally:
                if index == fail_at and after:    # whatever the answer was, it is lost
                    raise failure(f"injected after {_name} (answer lost)")
        setattr(client, name, functools.wraps(real)(wrapped))
    return calls


@pytest.mark.parametrize("failure", [ServerError, KeyboardInterrupt])
@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_no_build_left_running_whatever_step_fails(flow, failure):
    calls, builds, active = run(flow)
    assert active and len(builds) == len(active) + (flow == "regular again")
    assert {"instantiate_build_config", "create_build"} & set(calls)
    cancelled = 0
    for fail_at in range(len(calls) + 1):        # the last one: after the submit returned
        for after in (False, True):
            _, builds, active = run(flow, fail_at, after, failure)
            assert active == [], (flow, fail_at, calls[fail_at:fail_at + 1], after)
            cancelled += sum(b["status"]["phase"] == "Cancelled" for b in builds)
    assert cancelled >= 3      # the create/instantiate call (after), and after the submit


def test_a_signal_while_kojid_stops_leaves_the_build_for_the_rerun():
    """kojid's stop is not a cancel: the re-run re-attaches (policy says the task goes on)."""
    sim = OpenShiftSimulator(token=TOKEN, time_scale=0.02, default_scenario="silent").start()
    try:
        with OpenShiftClient(sim.url, "default", token=TOKEN) as client:
            instance = OsbsInstance(
                conf_file="/etc/osbs.conf", section="default", build_json_dir="/nonexistent",
                openshift_url=sim.url + "/", namespace="default",
                build_from="imagestream:buildroot:latest",
                reactor_config_map="reactor-config-map", can_orchestrate=True)
            with pytest.raises(KeyboardInterrupt):
                with BuildGuard(client, TASK, should_cancel=lambda exc: False) as guard:
                    submission = FLOWS["scratch"](client, instance, guard)
                    raise KeyboardInterrupt
            assert sim.get_build(submission.name)["status"]["phase"] in ACTIVE
    finally:
        sim.stop()
