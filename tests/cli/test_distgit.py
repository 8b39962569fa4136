"""DistGit inference: what a checkout yields, and the states fedpkg refuses to build from."""

from __future__ import annotations

import subprocess

import pytest

from koji_containerbuild.cli import distgit
from koji_containerbuild.cli.distgit import DistGitError

ANON = "git+https://pkgs.example.org/container/foo.git"


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        # ssh push URLs (Fedora's gitbaseurl form) are served anonymously over https
        ("ssh://jdoe@pkgs.example.org/container/foo.git", ANON),
        ("ssh://pkgs.example.org:2222/container/foo", ANON),
        ("git+ssh://jdoe@pkgs.example.org/container/foo.git", ANON),
        ("jdoe@pkgs.example.org:container/foo.git", ANON),
        # http(s) remotes keep host and port but never the credentials
        ("https://jdoe:secret@src.example.org:8443/container/foo.git",
         "git+https://src.example.org:8443/container/foo.git"),
        ("http://src.example.org/container/foo", "git+http://src.example.org/container/foo"),
        ("git://src.example.org/container/foo.git", "git://src.example.org/container/foo.git"),
    ],
)
def test_anonymous_url_is_derived_from_the_remote(remote, expected):
    namespace, name = distgit.repo_path(remote)
    assert (namespace, name) == ("container", "foo")
    assert distgit.anon_clone_url(remote, f"{namespace}/{name}") == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("https://src.example.org/{repo}.git", "git+https://src.example.org/container/foo.git"),
        ("https://src.example.org/%(repo)s.git", "git+https://src.example.org/container/foo.git"),
        ("git://anon.example.org/{namespace}s/{name}", "git://anon.example.org/containers/foo"),
        ("git+https://src.example.org/{repo}", "git+https://src.example.org/container/foo"),
    ],
)
def test_template_wins_over_the_remote(template, expected):
    url = distgit.anon_clone_url("/srv/git/container/foo.git", "container/foo", template)
    assert url == expected


def test_local_remote_without_template_is_refused_with_the_fix():
    fix = r"--anon-git-url-template .* containerbuild_anon_git_url_template in the koji profile"
    with pytest.raises(DistGitError, match=fix):
        distgit.anon_clone_url("/srv/git/container/foo.git", "container/foo")


@pytest.mark.parametrize("template", ["https://src.example.org/foo.git", "https://x/%(nope)s"])
def test_template_without_repository_is_refused(template):
    with pytest.raises(DistGitError, match="template"):
        distgit.anon_clone_url("/srv/git/container/foo.git", "container/foo", template)


def test_remote_without_namespace_is_refused():
    with pytest.raises(DistGitError, match="has no namespace"):
        distgit.repo_path("ssh://pkgs.example.org/foo.git")


@pytest.mark.parametrize(
    ("branch", "target"),
    [("f39", "f39-container-candidate"), ("master", "rawhide-container-candidate"),
     ("main", "rawhide-container-candidate"), ("rawhide", "rawhide-container-candidate")],
)
def test_default_target_is_fedpkgs(branch, target):
    assert distgit.default_target(branch, "container") == target


def git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A clone of a bare ``container/foo.git`` on branch f39 tracking origin/f39, pushed."""
    bare = tmp_path / "srv" / "container" / "foo.git"
    bare.parent.mkdir(parents=True)
    git(tmp_path, "init", "-q", "--bare", str(bare))
    work = tmp_path / "foo"
    git(tmp_path, "init", "-q", "-b", "f39", str(work))
    git(work, "config", "user.email", "p@example.org")
    git(work, "config", "user.name", "Packager")
    (work / "Dockerfile").write_text("FROM fedora:39\n")
    git(work, "add", "Dockerfile")
    git(work, "commit", "-q", "-m", "init")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "-u", "origin", "f39")
    return work


def test_clean_pushed_checkout_yields_branch_namespace_and_head(checkout):
    info = distgit.inspect_checkout(str(checkout))
    assert info.branch == "f39" and info.upstream_branch == "f39" and info.remote == "origin"
    assert (info.namespace, info.name, info.repo) == ("container", "foo", "container/foo")
    assert info.commit == git(checkout, "rev-parse", "HEAD") and len(info.commit) == 40


def test_upstream_branch_name_is_used_not_the_local_one(checkout):
    git(checkout, "checkout", "-q", "-b", "mywork", "--track", "origin/f39")
    info = distgit.inspect_checkout(str(checkout / "."))
    assert (info.branch, info.upstream_branch) == ("mywork", "f39")


def test_untracked_files_do_not_count_as_dirty(checkout):
    (checkout / "notes.txt").write_text("scratch\n")
    assert distgit.inspect_checkout(str(checkout)).branch == "f39"


def test_dirty_tree_is_refused(checkout):
    (checkout / "Dockerfile").write_text("FROM fedora:40\n")
    with pytest.raises(DistGitError) as err:
        distgit.inspect_checkout(str(checkout))
    assert str(err.value) == (f"{checkout} has uncommitted changes.  "
                              "Use git status to see details")


def test_unpushed_head_is_refused(checkout):
    git(checkout, "commit", "-q", "--allow-empty", "-m", "local only")
    with pytest.raises(DistGitError, match=r"^There are unpushed changes in your repo; push"):
        distgit.inspect_checkout(str(checkout))


def test_branch_without_upstream_is_refused(checkout):
    git(checkout, "checkout", "-q", "-b", "local")
    with pytest.raises(DistGitError) as err:
        distgit.inspect_checkout(str(checkout))
    assert str(err.value).splitlines() == [
        "Branch local does not track remote branch.",
        "Use the following command to fix that:",
        "    git branch -u origin/REMOTE_BRANCH_NAME",
    ]


def test_detached_head_is_refused(checkout):
    git(checkout, "checkout", "-q", "--detach")
    with pytest.raises(DistGitError, match="HEAD is detached"):
        distgit.inspect_checkout(str(checkout))


def test_not_a_checkout_is_refused(tmp_path):
    with pytest.raises(DistGitError, match="is not a git checkout"):
        distgit.inspect_checkout(str(tmp_path))
