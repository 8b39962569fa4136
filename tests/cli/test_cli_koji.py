"""The real ``koji`` script with the plugin, against the sandbox hub: payloads, watching, exits."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import TARGET

SHA = "0123456789abcdef0123456789abcdef01234567"
URL = f"git+https://src.example.org/container/foo.git#{SHA}"


def submitted(hub, method):
    calls = [c for c in hub.calls if c["method"] == method]
    assert len(calls) == 1, calls
    return calls[0]


def test_koji_help_lists_the_three_commands(koji):
    run = koji("help", "build")
    assert run.rc == 0, run.err
    listed = {line.split()[0]: line.split(None, 1)[1] for line in run.out.splitlines()
              if line.startswith("        ")}
    assert listed["container-build"] == "Build a container image (in a DistGit checkout: from HEAD)"
    assert listed["flatpak-build"] == "Build a flatpak"
    assert listed["source-container-build"] == "Build a source container image of an image build"
    usage = koji("container-build", "--help")
    assert usage.rc == 0
    assert usage.out.startswith("Usage: koji container-build [options] [TARGET [SCM_URL]]\n")
    for flag in ("--scratch", "--isolated", "--arch-override", "--wait", "--nowait", "--quiet",
                 "--background", "--replace-dependency", "--repo-url", "--git-branch",
                 "--channel-override", "--signing-intent", "--compose-id", "--skip-build",
                 "--userdata", "--release", "--koji-parent-build",
                 "--operator-csv-modifications-url"):
        assert f"  {flag}" in usage.out, flag


IMAGE_CASES = [
    pytest.param(
        ["container-build", TARGET, URL, "--git-branch", "f39"],
        [URL, TARGET, {"git_branch": "f39"}], {"priority": None}, id="minimal"),
    pytest.param(
        ["container-build", TARGET, URL, "--git-branch", "f39", "--scratch",
         "--arch-override", "x86_64,aarch64", "--background", "--channel-override",
         "container-beta"],
        [URL, TARGET, {"git_branch": "f39", "scratch": True, "arch_override": "x86_64 aarch64"}],
        {"priority": 5, "channel": "container-beta"}, id="scratch-arches-background-channel"),
    pytest.param(
        ["container-build", TARGET, URL, "--git-branch", "f39", "--isolated", "--release", "1.1",
         "--arch-override", "x86_64 ppc64le", "--repo-url", "https://repos.example.org/a.repo",
         "--repo-url", "https://repos.example.org/b.repo", "--replace-dependency",
         "gomod:example.org/x:v1.2", "--replace-dependency", "npm:left-pad:1.0:pad",
         "--koji-parent-build", "base-image-39-7", "--operator-csv-modifications-url",
         "https://odcs.example.org/mods.json", "--signing-intent", "release",
         "--userdata", '{"ticket": "ABC-1", "nested": {"n": [1, 2]}}'],
        [URL, TARGET, {
            "git_branch": "f39", "isolated": True, "release": "1.1",
            "arch_override": "x86_64 ppc64le",
            "yum_repourls": ["https://repos.example.org/a.repo", "https://repos.example.org/b.repo"],
            "dependency_replacements": ["gomod:example.org/x:v1.2", "npm:left-pad:1.0:pad"],
            "koji_parent_build": "base-image-39-7",
            "operator_csv_modifications_url": "https://odcs.example.org/mods.json",
            "signing_intent": "release",
            "userdata": {"ticket": "ABC-1", "nested": {"n": [1, 2]}}}],
        {"priority": None}, id="isolated-everything"),
    pytest.param(
        ["container-build", TARGET, URL, "--git-branch", "f39", "--compose-id", "7",
         "--compose-id", "22", "--skip-build"],
        [URL, TARGET, {"git_branch": "f39", "compose_ids": [7, 22], "skip_build": True}],
        {"priority": None}, id="compose-ids-skip-build"),
    pytest.param(
        ["flatpak-build", TARGET, URL, "--git-branch", "f39", "--release", "2",
         "--compose-id", "3", "--koji-parent-build", "runtime-39-1"],
        [URL, TARGET, {"git_branch": "f39", "flatpak": True, "release": "2", "compose_ids": [3],
                       "koji_parent_build": "runtime-39-1"}],
        {"priority": None}, id="flatpak"),
]


@pytest.mark.parametrize(("argv", "args", "kwargs"), IMAGE_CASES)
def test_build_container_payload(hub, koji, argv, args, kwargs):
    run = koji(*argv, "--nowait")
    assert run.rc == 0, run.err
    call = submitted(hub, "buildContainer")
    assert (call["args"], call["kwargs"], call["user"]) == (args, kwargs, "packager")
    opts = call["args"][2]
    assert all(type(i) is int for i in opts.get("compose_ids", []))
    # the hub took it: the task carries exactly these parameters
    task = hub.tasks(int(re.search(r"Created task: (\d+)", run.out).group(1)))
    assert task["request"] == args


def test_source_container_payload(hub, koji):
    hub.add_tag("f39-container-source")
    run = koji("source-container-build", TARGET, "--koji-build-id", "17", "--koji-build-nvr",
               "foo-1.0-1", "--scratch", "--signing-intent", "beta", "--userdata",
               '{"why": "test"}', "--background", "--channel-override", "container-beta",
               "--nowait")
    assert run.rc == 0, run.err
    call = submitted(hub, "buildSourceContainer")
    assert call["args"] == [TARGET, {"koji_build_id": 17, "koji_build_nvr": "foo-1.0-1",
                                     "scratch": True, "signing_intent": "beta",
                                     "userdata": {"why": "test"}}]
    assert type(call["args"][1]["koji_build_id"]) is int
    assert call["kwargs"] == {"priority": 5, "channel": "container-beta"}


@pytest.mark.parametrize("flags", [["--nowait"], []], ids=["nowait", "in-background"])
def test_without_waiting_prints_task_and_link_and_exits_0(hub, koji, flags):
    """``--nowait``, or (like ``koji build``) a CLI not in the foreground: no watching."""
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", *flags)
    assert (run.rc, run.err) == (0, "")
    assert run.out == f"Created task: 1\nTask info: {hub.weburl}/taskinfo?taskID=1\n"
    assert not [c for c in hub.calls if c["method"] == "getTaskInfo"]


RESULT = {
    "repositories": ["registry.example.org/foo:1.0-1", "registry.example.org/foo:latest"],
    "koji_builds": ["5"],
    "user_warnings": ["base image fedora:39 is 90 days old"],
    "osbs_build_id": "foo-f39-20261128",
    "build_node": "node-2.example.org",
}


def test_watch_success_prints_progress_then_sorted_result(hub, koji, play):
    play({"state": "OPEN", "host_id": hub.host_id}, {"state": "CLOSED", "result": RESULT})
    started = time.monotonic()
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", "--wait")
    elapsed = time.monotonic() - started
    assert (run.rc, run.err) == (0, "")
    label = "1 buildContainer (noarch)"
    assert run.out == "\n".join([
        "Created task: 1",
        f"Task info: {hub.weburl}/taskinfo?taskID=1",
        "Watching tasks (this may be safely interrupted)...",
        f"{label}: free",
        f"{label}: free -> open (builder-1)",
        f"{label}: open (builder-1) -> closed",
        "  0 free  0 open  1 done  0 failed",
        "",
        f"{label} completed successfully",
        "Task Result (1):",
        "  build_node: node-2.example.org",
        "  koji_builds:",
        f"    {hub.weburl}/buildinfo?buildID=5",
        "  osbs_build_id: foo-f39-20261128",
        "  repositories:",
        "    registry.example.org/foo:1.0-1",
        "    registry.example.org/foo:latest",
        "  user_warnings:",
        "    base image fedora:39 is 90 days old",
        "",
    ])
    # the profile's poll_interval (0 here) is used, not koji_cli's 60 s default (§1.18)
    assert elapsed < 20
    # like koji build: logged out before watching, the watch is anonymous
    watch_users = {c["user"] for c in hub.calls if c["method"] in ("getTaskInfo",
                                                                   "getTaskResult")}
    assert watch_users == {None}


def test_watch_quiet_prints_only_the_result(hub, koji, play):
    play({"state": "CLOSED", "result": {"repositories": ["r/foo:1"], "koji_builds": []}})
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", "--wait", "--quiet")
    assert (run.rc, run.err) == (0, "")
    assert run.out == "Task Result (1):\n  koji_builds: (none)\n  repositories:\n    r/foo:1\n"


def test_watch_failure_shows_fault_and_logs_and_exits_1(hub, koji, play):
    play({"state": "OPEN", "host_id": hub.host_id},
         {"state": "FAILED", "fault": (1000, "Dockerfile has no release label"),
          "files": {"orchestrator.log": "boom\n"}})
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", "--wait")
    assert run.rc == 1
    lines = run.out.splitlines()
    assert ("1 buildContainer (noarch): open (builder-1) -> FAILED: GenericError: "
            "Dockerfile has no release label") in lines
    assert f"  {hub.topurl}/work/tasks/1/1/orchestrator.log" in lines
    assert lines[-1] == "1 buildContainer (noarch) failed"
    assert "Task Result" not in run.out


def test_watch_cancel_exits_1(hub, koji, play):
    play({"state": "OPEN", "host_id": hub.host_id}, {"state": "CANCELED"})
    run = koji("source-container-build", TARGET, "--koji-build-id", "3", "--wait")
    assert run.rc == 1
    assert run.out.splitlines()[-1] == "1 buildSourceContainer (noarch) was canceled"
    assert "Task Result" not in run.out


def test_unknown_target_is_refused_before_submitting(hub, koji):
    run = koji("container-build", "f40-container-candidate", URL, "--git-branch", "f40")
    assert run.rc == 2
    assert run.err.splitlines()[-1] == "koji: error: Unknown build target: f40-container-candidate"
    assert not [c for c in hub.calls if c["method"] == "buildContainer"]


def test_locked_destination_tag_is_refused_unless_scratch(hub, koji):
    run = koji("container-build", "frozen-candidate", URL, "--git-branch", "f39")
    assert run.rc == 2
    assert run.err.splitlines()[-1] == "koji: error: Destination tag frozen is locked"
    assert not [c for c in hub.calls if c["method"] == "buildContainer"]
    scratch = koji("container-build", "frozen-candidate", URL, "--git-branch", "f39",
                   "--scratch", "--nowait")
    assert scratch.rc == 0, scratch.err
    assert submitted(hub, "buildContainer")["args"][1] == "frozen-candidate"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scratch", "--isolated", "--release", "1.1"],
         "--scratch and --isolated cannot be used together: a build is either scratch or "
         "isolated"),
        (["--userdata", "{not json"],
         "--userdata is not valid JSON: Expecting property name enclosed in double quotes: "
         "line 1 column 2 (char 1)"),
    ],
)
def test_local_refusal_is_one_line_and_never_reaches_the_hub(hub, koji, argv, message):
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", *argv)
    assert run.rc == 2
    assert run.err.splitlines()[-1] == f"koji: error: {message}"
    assert "Traceback" not in run.err
    assert hub.calls == []


def test_hub_fault_at_submission_is_one_line_exit_1(hub, koji):
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", "--channel-override",
               "nosuch")
    assert run.rc == 1
    assert run.err.strip().endswith("[ERROR] koji: GenericError: No such channel: nosuch")
    assert "Traceback" not in run.err
