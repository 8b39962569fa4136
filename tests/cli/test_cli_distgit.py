"""``koji container-build`` inside a DistGit checkout: what it infers, and what it refuses."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import PROFILE

PUSH_URL = "ssh://packager@pkgs.example.org/container/foo.git"
ANON_URL = "git+https://pkgs.example.org/container/foo.git"


def git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def distgit(tmp_path):
    """A packager's clone of ``container/foo.git``: branches f39 and master pushed, on f39.

    The remote URL is the DistGit ssh push URL; git's ``insteadOf`` sends it to a bare
    repository in tmp_path, so pushing is real and nothing leaves the machine.
    """
    srv = tmp_path / "srv"
    bare = srv / "container" / "foo.git"
    bare.parent.mkdir(parents=True)
    git(tmp_path, "init", "-q", "--bare", str(bare))
    work = tmp_path / "foo"
    git(tmp_path, "init", "-q", "-b", "f39", str(work))
    for key, value in (("user.email", "p@example.org"), ("user.name", "Packager"),
                       (f"url.{srv.as_uri()}/.insteadOf", "ssh://packager@pkgs.example.org/")):
        git(work, "config", key, value)
    (work / "Dockerfile").write_text("FROM fedora:39\nLABEL name=foo version=1.0\n")
    git(work, "add", "Dockerfile")
    git(work, "commit", "-q", "-m", "init")
    git(work, "remote", "add", "origin", PUSH_URL)
    git(work, "push", "-q", "-u", "origin", "f39")
    git(work, "push", "-q", "origin", "f39:master")
    return work


def build_call(hub):
    calls = [c for c in hub.calls if c["method"] == "buildContainer"]
    assert len(calls) == 1, hub.calls
    return calls[0]["args"]


def test_everything_inferred_from_the_checkout(hub, koji, distgit):
    sha = git(distgit, "rev-parse", "HEAD")
    run = koji("container-build", "--nowait", cwd=distgit)
    assert run.rc == 0, run.err
    src = f"{ANON_URL}#{sha}"
    assert build_call(hub) == [src, "f39-container-candidate", {"git_branch": "f39"}]
    assert run.out.splitlines() == [
        f"Inferred: SCM URL {src} (HEAD of f39 in {distgit})",
        "Inferred: --git-branch f39 (upstream of branch f39: origin/f39)",
        "Inferred: target f39-container-candidate (from origin/f39 in namespace container)",
        "Created task: 1",
        f"Task info: {hub.weburl}/taskinfo?taskID=1",
    ]


@pytest.mark.parametrize(
    ("checkout", "argv", "target", "branch", "inferred"),
    [
        # a local branch tracking master builds for rawhide, as fedpkg does
        (["-b", "work", "--track", "origin/master"], [], "rawhide-container-candidate",
         "master", ["SCM URL", "--git-branch", "target"]),
        # given a target, only the source and branch are inferred
        ([], ["rawhide-container-candidate"], "rawhide-container-candidate", "f39",
         ["SCM URL", "--git-branch"]),
        # an explicit --git-branch wins over the upstream branch
        ([], ["--git-branch", "f39-hotfix"], "f39-container-candidate", "f39-hotfix",
         ["SCM URL", "target"]),
    ],
    ids=["master-is-rawhide", "explicit-target", "explicit-branch"],
)
def test_partly_inferred(hub, koji, distgit, checkout, argv, target, branch, inferred):
    if checkout:
        git(distgit, "checkout", "-q", *checkout)
    run = koji("container-build", "--nowait", *argv, cwd=distgit)
    assert run.rc == 0, run.err
    sha = git(distgit, "rev-parse", "HEAD")
    assert build_call(hub) == [f"{ANON_URL}#{sha}", target, {"git_branch": branch}]
    said = [line.split()[1] for line in run.out.splitlines() if line.startswith("Inferred: ")]
    assert said == [word.split()[0] for word in inferred]


def test_flatpak_build_infers_source_and_branch(hub, koji, distgit):
    run = koji("flatpak-build", "f39-container-candidate", "--nowait", cwd=distgit)
    assert run.rc == 0, run.err
    sha = git(distgit, "rev-parse", "HEAD")
    assert build_call(hub) == [f"{ANON_URL}#{sha}", "f39-container-candidate",
                               {"git_branch": "f39", "flatpak": True}]


def test_anonymous_url_template_from_profile_and_option(hub, koji, koji_conf, distgit):
    git(distgit, "remote", "set-url", "origin", str(distgit.parent / "srv/container/foo.git"))
    sha = git(distgit, "rev-parse", "HEAD")
    bare = koji("container-build", "--nowait", cwd=distgit)
    assert bare.rc == 2
    assert "koji: error: Cannot derive an anonymous clone URL from remote URL" in bare.err

    conf = koji_conf.parent / "with-template.conf"
    conf.write_text(koji_conf.read_text().replace(
        f"[{PROFILE}]\n",
        f"[{PROFILE}]\ncontainerbuild_anon_git_url_template = https://src.example.org/{{repo}}.git\n"))
    run = koji("container-build", "--nowait", cwd=distgit, conf=conf)
    assert run.rc == 0, run.err
    assert build_call(hub)[0] == f"git+https://src.example.org/container/foo.git#{sha}"

    before = len(hub.calls)
    run = koji("container-build", "--nowait", "--anon-git-url-template",
               "git://anon.example.org/%(repo)s", cwd=distgit, conf=conf)
    assert run.rc == 0, run.err
    last = [c for c in hub.calls[before:] if c["method"] == "buildContainer"]
    assert last[0]["args"][0] == f"git://anon.example.org/container/foo#{sha}"


def _dirty(work):
    (work / "Dockerfile").write_text("FROM fedora:40\n")


def _unpushed(work):
    git(work, "commit", "-q", "--allow-empty", "-m", "not pushed")


def _no_upstream(work):
    git(work, "checkout", "-q", "-b", "topic")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_dirty, "{work} has uncommitted changes.  Use git status to see details"),
        (_unpushed, "There are unpushed changes in your repo; push them "
                    "(git push origin f39:f39) so the builder can fetch the commit"),
        (_no_upstream, "Branch topic does not track remote branch.\n"
                       "Use the following command to fix that:\n"
                       "    git branch -u origin/REMOTE_BRANCH_NAME"),
    ],
    ids=["dirty", "unpushed", "no-upstream"],
)
def test_checkout_fedpkg_would_refuse_is_refused_before_the_hub(hub, koji, distgit, spoil,
                                                                 message):
    spoil(distgit)
    run = koji("container-build", cwd=distgit)
    assert run.rc == 2
    assert run.err.endswith("koji: error: " + message.format(work=distgit) + "\n")
    assert run.out == ""
    assert hub.calls == []
