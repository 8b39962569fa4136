"""Issue 15 #8: the everyday read-only koji commands work against the sandbox hub, with Koji's
shapes, and anything it lacks fails with Koji's own words. Through the real ``koji`` script."""

from __future__ import annotations

import re

import pytest

from koji_containerbuild.sandbox.koji.hub_queries import tag_build

from .conftest import TARGET, USER

SRC = "git+https://src.example.org/container/foo.git#0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def built(hub):
    """foo-container 1.0-1 and 1.0-2, built by a task and tagged into f39-container."""
    hub.add_package("f39-container", "foo-container", owner=USER)
    with hub.store.write():
        task_id = hub.store.make_task("buildContainer", [SRC, TARGET, {"git_branch": "f39"}],
                                      hub.store.find("user", USER)["id"], channel="container")
    hub.set_task_state(task_id, "CLOSED", result={"koji_builds": ["1"]})
    first = hub.add_build("foo-container-1.0-1", task_id=None, owner=USER,
                          extra={"image": {"index": {"pull": ["r/foo:1.0-1"]}},
                                 "container_koji_task_id": task_id})
    second = hub.add_build("foo-container-1.0-2", owner=USER)
    tag_build(hub.store, "f39-container", first)
    tag_build(hub.store, "f39-container", second)
    return {"task": task_id, "first": first, "second": second}


def test_buildinfo(koji, built):
    run = koji("buildinfo", "1")
    assert run.rc == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "BUILD: foo-container-1.0-1 [1]"
    assert "State: COMPLETE" in lines and f"Built by: {USER}" in lines
    assert f"Task: {built['task']} buildContainer (noarch)" in lines  # via extra's task id
    assert "Tags: f39-container" in lines
    missing = koji("buildinfo", "99")
    assert missing.rc == 1 and "No such build: 99" in missing.err


def test_list_tagged_and_latest_build(koji, built):
    run = koji("list-tagged", "f39-container")
    assert run.rc == 0, run.err
    assert run.out.splitlines()[2:] == [
        f"{'foo-container-1.0-1':<40}  {'f39-container':<20}  {USER}",
        f"{'foo-container-1.0-2':<40}  {'f39-container':<20}  {USER}"]
    latest = koji("latest-build", "f39-container", "foo-container", "--quiet")
    assert latest.rc == 0, latest.err
    assert latest.out.split() == ["foo-container-1.0-2", "f39-container", USER]
    nosuch = koji("list-tagged", "nosuch")
    assert nosuch.rc == 2 and "koji: error: No such tag: nosuch" in nosuch.err


def test_taginfo(koji, built):
    run = koji("taginfo", "f39-container-build")
    assert run.rc == 0, run.err
    assert run.out.splitlines()[:2] == ["Tag: f39-container-build [1]",
                                        "Arches: x86_64 aarch64 ppc64le"]
    assert "Targets that build from this tag:" in run.out
    assert f"  {TARGET}" in run.out.splitlines()
    dest = koji("taginfo", "f39-container")
    assert f"  {TARGET} (f39-container-build, no active repo)" in dest.out.splitlines()


def test_list_builds_by_package(koji, built):
    run = koji("list-builds", "--package", "foo-container", "--quiet")
    assert run.rc == 0, run.err
    assert [line.split() for line in run.out.splitlines()] == [
        ["foo-container-1.0-1", USER, "COMPLETE"], ["foo-container-1.0-2", USER, "COMPLETE"]]
    none = koji("list-builds", "--package", "nosuch")
    assert none.rc == 2 and "No such package: nosuch" in none.err


def test_list_api_lists_what_the_stand_in_answers(koji):
    run = koji("list-api")
    assert run.rc == 0, run.err
    names = {line.split("(", 1)[0] for line in run.out.splitlines() if not line.startswith(" ")}
    assert {"listTagged", "getBuild", "buildContainer", "buildSourceContainer",
            "host.getHost", "_listapi", "resubmitTask"} <= names
    assert "getBuild(buildInfo, strict=False)" in run.out.splitlines()
    assert "repoInfo" not in names  # not answered, so not listed


def test_anything_else_fails_in_kojis_words(koji):
    run = koji("call", "repoInfo", "1")
    assert run.rc == 1
    assert run.err.strip().splitlines()[-1].endswith("GenericError: Invalid method: repoInfo")


def test_resubmit_a_failed_task(hub, koji, built):
    with hub.store.write():
        failed = hub.store.make_task("buildContainer", [SRC, TARGET, {"git_branch": "f39"}],
                                     hub.store.find("user", USER)["id"], channel="container")
    hub.set_task_state(failed, "FAILED", fault=(1000, "boom"))
    run = koji("resubmit", "--nowait", str(failed))
    assert run.rc == 0, run.err
    new_id = int(re.search(rf"Resubmitted task {failed} as new task (\d+)", run.out).group(1))
    assert hub.tasks(new_id)["request"] == hub.tasks(failed)["request"]
    closed = koji("resubmit", "--nowait", str(built["task"]))
    assert closed.rc == 1
    assert "only canceled or failed tasks may be resubmitted" in closed.err
