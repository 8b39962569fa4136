"""Autorebuilds end to end through kojid and the simulator, the release-label rule with
add_timestamp_to_release, and no orphan when the task fails between submit and monitor."""

from __future__ import annotations

import json
import shutil

import pytest

from koji_containerbuild.builder import monitor
from koji_containerbuild.sandbox.distgit import create_container_repo
from tests.fixtures import OSBS_TEMPLATES

from .helpers import STATES, fault_of, user_params

PARENT = "registry.sandbox.local/sandbox/busybox:latest"
AUTOREBUILD = {".osbs-repo-config": "[autorebuild]\nenabled = true\n"}


def autorebuild_repo(world, name: str, release=None, container_yaml: str = None) -> str:
    files = dict(AUTOREBUILD)
    if container_yaml is not None:
        files["container.yaml"] = container_yaml
    sha = create_container_repo(world.git.base, name, release=release, extra_files=files,
                                component="hello-container")   # the package the tag lists
    return world.src(sha, name)


def test_build_then_parent_change_rebuilds(world):
    task_id = world.submit(src=autorebuild_repo(world, "auto"))
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    [first] = world.builds()
    config = first["metadata"]["labels"]["buildconfig"]
    assert first["metadata"]["labels"]["is_autorebuild"] == "false"

    world.sim.push_image(PARENT)       # the parent image changes in the registry
    rebuild = world.sim.wait_for_phase(f"{config}-2", {"Complete"}, 30)
    assert rebuild["metadata"]["labels"]["is_autorebuild"] == "true"
    assert rebuild["spec"]["triggeredBy"] == [{"message": "Image change"}]
    assert len(world.builds()) == 2


def test_missing_parent_refuses_the_build(world):
    world.sim.remove_image(PARENT)
    task_id = world.submit(src=autorebuild_repo(world, "orphanparent"))
    assert world.run(task_id)["state"] == STATES["FAILED"]
    assert f"Provided base image does not exist: {PARENT}" in fault_of(world, task_id)
    assert world.builds() == []


@pytest.mark.parametrize("container_yaml, closed", [
    (None, False),
    ("autorebuild:\n  add_timestamp_to_release: true\n", True),
    ("autorebuild:\n  add_timestamp_to_release: false\n", False),
])
def test_release_label_with_autorebuild_needs_add_timestamp(world, container_yaml, closed):
    repo = f"released{len(container_yaml or '')}"
    task_id = world.submit(src=autorebuild_repo(world, repo, release="1",
                                                container_yaml=container_yaml))
    info = world.run(task_id)
    if closed:
        assert info["state"] == STATES["CLOSED"], fault_of(world, task_id)
    else:
        assert info["state"] == STATES["FAILED"]
        assert '"release" label must not be set in Dockerfile' in fault_of(world, task_id)
        assert world.builds() == []


def test_failure_between_submit_and_monitor_cancels_the_build(world, monkeypatch):
    def no_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(monitor, "LogDemux", no_disk)
    world.sim.default_scenario = "silent"          # would run until cancelled
    task_id = world.submit({"scratch": True})
    assert world.run(task_id)["state"] == STATES["FAILED"]
    with pytest.raises(Exception, match="No space left on device"):
        world.result(task_id)
    [build] = world.builds()
    assert build["status"]["phase"] == "Cancelled"


def test_site_templates_and_customize_rules_take_effect(world, tmp_path):
    """orchestrator.json is rendered on the builder; the inner template and the customize file
    (worker_customize.json, osbs-client 1.10's name) are read by atomic-reactor in the pod."""
    site = tmp_path / "site-osbs"
    shutil.copytree(OSBS_TEMPLATES, site)
    outer = json.loads((site / "orchestrator.json").read_text())
    outer["metadata"]["labels"]["site"] = "example"
    (site / "orchestrator.json").write_text(json.dumps(outer))
    (site / "worker_customize.json").write_text(json.dumps({
        "disable_plugins": [{"plugin_type": "prebuild_plugins", "plugin_name": "koji_parent"}],
        "enable_plugins": [{"plugin_type": "exit_plugins", "plugin_name": "site_notify",
                            "plugin_args": {"to": "releng@example.org"}}]}))
    world.osbs_conf.write_text(world.osbs_conf_text().replace("/usr/share/osbs/", str(site)))
    task_id = world.submit({"scratch": True})
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    [build] = world.builds()
    assert build["metadata"]["labels"]["site"] == "example"
    params = user_params(build)
    assert params["build_json_dir"] == str(site)
    assert params["customize_conf"] == "worker_customize.json"
    log = world.output(task_id, "orchestrator.log")
    assert b"running plugin 'site_notify'" in log
    assert b'plugin \'site_notify\' args: {"to": "releng@example.org"}' in log
    assert b"running plugin 'koji_parent'" not in log
    assert b"running plugin 'koji_delegate'" in log      # from the shipped inner template
