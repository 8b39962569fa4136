"""Isolated, flatpak, source-container and skip_build tasks, and refusals before any build."""

from __future__ import annotations

import pytest

from koji_containerbuild.sandbox.distgit import create_container_repo, git
from koji_containerbuild.sandbox.koji.hub import DEMO

from .helpers import STATES, fault_of, user_params


def test_isolated_build_is_direct_and_labelled(world):
    task_id = world.submit({"isolated": True, "release": "1.1", "arch_override": "aarch64"})
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    [build] = world.builds()
    assert build["metadata"]["name"].startswith("isolated-")
    labels = build["metadata"]["labels"]
    assert (labels["isolated"], labels["isolated-release"]) == ("true", "1.1")
    params = user_params(build)
    assert params["platforms"] == ["aarch64"] and params["release"] == "1.1"
    assert params["isolated"] is True


def test_flatpak_build_reads_container_yaml(world):
    sha = create_container_repo(
        world.git.base, "flatpak-app", extra_files={"container.yaml": (
            "flatpak:\n  id: org.example.App\n  branch: stable\n"
            "  component: flatpak-app\n  name: flatpak-app\n"
            "  base_image: registry.sandbox.local/flatpak-build-base:f39\n"
            "compose:\n  modules: [flatpak-runtime:f39]\n")})
    task_id = world.submit({"flatpak": True, "scratch": True},
                           src=world.src(sha, "flatpak-app"))
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    [build] = world.builds()
    assert user_params(build)["flatpak"] is True
    # SCM callbacks and the checkout happen for flatpaks too (upstream issue #189)
    assert "checkout-for-labels.log" in world.outputs(task_id)


def test_skip_build_only_updates_the_build_config(world):
    task_id = world.submit({"skip_build": True})
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    assert world.result(task_id) == {"repositories": [], "koji_builds": [], "build": "skipped"}
    assert world.builds() == []


def test_source_container_build(world):
    image = world.hub.add_build({"name": "hello-container", "version": "1.0", "release": "1"},
                                extra={"image": {"index": {"pull": [
                                    "registry.sandbox.local/sandbox/hello:1.0-1"]}}})
    world.hub.add_package(DEMO["dest_tag"], "hello-container-source", owner=DEMO["user"])
    task_id = world.user.buildSourceContainer(DEMO["target"], {"koji_build_id": image})
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    [build] = world.builds()
    assert build["metadata"]["name"].startswith("sources-") or \
        "sources" in build["metadata"]["name"]
    params = user_params(build)
    assert params["sources_for_koji_build_id"] == image
    assert params["component"] == "hello-container-source"
    assert world.outputs(task_id).count("orchestrator.log") == 1
    assert not any(o.endswith("x86_64.log") for o in world.outputs(task_id))


@pytest.mark.parametrize("setup,opts,message", [
    ("not_whitelisted", {}, "package (container) other-container not in list for tag"),
    ("nvr_exists", {}, "Build for hello-container-1.0-1 already exists"),
    ("no_dockerfile", {}, "Dockerfile file missing"),
    ("missing_labels", {}, "Required LABELs haven't been found in Dockerfile"),
    ("disallowed_scm", {}, "is not in the list of allowed SCMs"),
    ("bad_arch_override", {"scratch": True, "arch_override": "s390x"},
     "No matching arches were found"),
])
def test_refusals_happen_before_any_openshift_build(world, setup, opts, message):
    src = world.src()
    if setup == "not_whitelisted":
        sha = create_container_repo(world.git.base, "other")
        src = world.src(sha, "other")
    elif setup == "nvr_exists":
        world.hub.add_build({"name": "hello-container", "version": "1.0", "release": "1"})
    elif setup == "no_dockerfile":
        create_container_repo(world.git.base, "nodockerfile")
        src = world.src(_commit_without(world, "nodockerfile", "Dockerfile"), "nodockerfile")
    elif setup == "missing_labels":
        sha = create_container_repo(world.git.base, "nolabels",
                                    dockerfile="FROM registry.sandbox.local/x:1\n")
        src = world.src(sha, "nolabels")
    elif setup == "disallowed_scm":
        world.manager().options.allowed_scms = "src.example.org:/container/*:no:"
    task_id = world.submit(opts, src=src)
    assert world.run(task_id)["state"] == STATES["FAILED"]
    fault = fault_of(world, task_id)
    assert message in fault
    if setup == "disallowed_scm":  # issue 15 #3: a derived anonymous URL can be set right
        assert "set containerbuild_anon_git_url_template in your koji profile" in fault
    assert world.builds() == []
    assert [r for r in world.sim.requests if r[0] in ("POST", "PUT")] == []
    assert "osbs-client.log" in world.outputs(task_id)  # the plugin's log, for the operator


def _commit_without(world, repo, path):
    bare = world.git.base / "container" / f"{repo}.git"
    work = world.tmp / f"work-{repo}"
    git("clone", "-q", str(bare), str(work))
    git("rm", "-q", path, cwd=work)
    git("commit", "-q", "-m", f"drop {path}", cwd=work)
    git("push", "-q", "origin", "HEAD:f39", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)
