"""Regression cases of upstream-features.md §2.1 not covered by the other builder tests."""

from __future__ import annotations

import pytest

from .helpers import STATES, fault_of, user_params


@pytest.mark.parametrize("opts", [{"skip_build": True}, {"triggered_after_koji_task": 0}])
def test_no_nvr_check_for_autorebuilds_and_skip_build(world, opts):
    """#20, #23: autorebuilds bump the release later; 0 is a task id, not 'unset'."""
    world.hub.add_build({"name": "hello-container", "version": "1.0", "release": "1"})
    task_id = world.submit(opts)
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)


def test_cheap_checks_come_before_the_checkout(world):
    """#26: a bad arch override is reported before any git or OpenShift work."""
    world.manager().options.allowed_scms = "nowhere.example.org:/*:no:"
    task_id = world.submit({"scratch": True, "arch_override": "s390x"})
    assert world.run(task_id)["state"] == STATES["FAILED"]
    assert "No matching arches were found" in fault_of(world, task_id)
    assert "checkout-for-labels.log" not in world.outputs(task_id)


def test_bad_reactor_config_is_a_clear_error_not_a_traceback(world):
    """#27: what osbs-client raised as a validation exception is one line."""
    world.sim.set_configmap("reactor-config-map", {"config.yaml": "version: 1\nkoji: {}\n"})
    task_id = world.submit({"scratch": True})
    assert world.run(task_id)["state"] == STATES["FAILED"]
    message = fault_of(world, task_id)
    assert "source_registry" in message and "\n" not in message.strip()
    assert world.builds() == []


def test_every_option_reaches_the_openshift_build(world):
    """#28, #29: operator_csv_modifications_url and userdata were once dropped silently."""
    world.hub.add_build({"name": "base-image", "version": "39", "release": "1"},
                        extra={"image": {"index": {"pull": ["registry.sandbox.local/base:39"]}}})
    opts = {"isolated": True, "release": "2.1", "arch_override": "x86_64",
            "yum_repourls": ["https://repos.sandbox.local/extra.repo"], "compose_ids": [42],
            "dependency_replacements": ["gomod:example.com/lib:v1.2.3"],
            "koji_parent_build": "base-image-39-1", "userdata": {"ticket": "OSBS-1"},
            "operator_csv_modifications_url": "https://csv.sandbox.local/mods.json"}
    task_id = world.submit(opts)
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    params = user_params(world.builds()[0])
    assert params["yum_repourls"] == opts["yum_repourls"]
    assert params["compose_ids"] == [42]
    assert params["dependency_replacements"] == opts["dependency_replacements"]
    assert params["koji_parent_build"] == "base-image-39-1"
    assert params["userdata"] == {"ticket": "OSBS-1"}
    assert params["operator_csv_modifications_url"] == opts["operator_csv_modifications_url"]
    assert params["release"] == "2.1" and params["isolated"] is True


def test_repo_and_registry_allow_lists(world):
    world.builder_conf.write_text(
        f"[osbs]\nosbs_conf = {world.osbs_conf}\n"
        "[allowlists]\nyum_repo_hosts = .sandbox.local\nparent_registries = quay.io\n")
    task_id = world.submit({"scratch": True,
                            "yum_repourls": ["https://repos.sandbox.local/a.repo"]})
    assert world.run(task_id)["state"] == STATES["FAILED"]
    assert "FROM: registry.sandbox.local/sandbox/busybox:latest is not from an allowed" \
        in fault_of(world, task_id)
    task_id = world.submit({"scratch": True, "yum_repourls": ["https://evil.example.com/a.repo"]})
    assert world.run(task_id)["state"] == STATES["FAILED"]
    assert "yum_repourls: https://evil.example.com/a.repo is not on an allowed host" \
        in fault_of(world, task_id)
    assert world.builds() == []


def test_a_log_that_cannot_be_followed_fails_the_task(world):
    """Never a silently truncated log (#30 and §2.2 'child exit status never inspected')."""
    world.sim.forbidden.add(("get", "builds/log"))
    task_id = world.submit({"scratch": True})
    assert world.run(task_id)["state"] == STATES["FAILED"]
    message = fault_of(world, task_id)
    assert "succeeded but its log could not be followed" in message


def test_scm_callbacks_get_what_the_scmpolicy_plugin_reads(world, monkeypatch):
    """#35 and upstream #189: pre/postSCMCheckout with scminfo, build_tag, scratch, srcdir,
    taskinfo and session — for flatpaks too — and a checkout where `git branch -r --contains
    HEAD` names the branch, as koji's scmpolicy plugin runs it."""
    import subprocess

    import koji.plugin

    seen = []

    def callback(cbtype, *args, **kwargs):
        record = {"cbtype": cbtype, **{k: kwargs.get(k) for k in
                                       ("scminfo", "build_tag", "scratch", "srcdir")}}
        record["has_taskinfo"] = "taskinfo" in kwargs and "session" in kwargs
        if cbtype == "postSCMCheckout":
            record["branches"] = subprocess.run(
                ["git", "branch", "-r", "--contains", "HEAD"], cwd=kwargs["srcdir"],
                capture_output=True, text=True, check=True).stdout.split()
        seen.append(record)

    monkeypatch.setitem(koji.plugin.callbacks, "preSCMCheckout", [callback])
    monkeypatch.setitem(koji.plugin.callbacks, "postSCMCheckout", [callback])
    task_id = world.submit({"scratch": True})
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    pre, post = seen
    assert (pre["cbtype"], post["cbtype"]) == ("preSCMCheckout", "postSCMCheckout")
    assert pre["scratch"] is True and pre["build_tag"] and pre["has_taskinfo"]
    assert pre["scminfo"]["repository"] == "/container/hello.git"
    assert post["srcdir"] and post["branches"] == ["origin/f39"]
