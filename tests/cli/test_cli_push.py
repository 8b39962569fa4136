"""Issue 15 #10: the DistGit stand-in takes pushes, so fix → commit → push → rebuild works."""

from __future__ import annotations

from koji_containerbuild.sandbox.distgit import GitDaemon, create_container_repo, git

from .conftest import TARGET


def test_fix_commit_push_then_rebuild_from_the_checkout(tmp_path, hub, koji):
    with GitDaemon(tmp_path / "distgit") as daemon:
        first = create_container_repo(daemon.base, "hello")
        checkout = tmp_path / "hello"
        git("clone", "-q", "-b", "f39", f"git://127.0.0.1:{daemon.port}/container/hello.git",
            str(checkout))
        dockerfile = checkout / "Dockerfile"
        dockerfile.write_text(dockerfile.read_text().replace('release="1"', 'release="2"'))
        git("commit", "-q", "-am", "Bump release", cwd=checkout)
        git("push", "-q", cwd=checkout)  # refused with 'service not enabled' before
        fixed = git("rev-parse", "HEAD", cwd=checkout)
        assert fixed != first
        bare = daemon.base / "container" / "hello.git"
        assert git("rev-parse", "f39", cwd=bare) == fixed

        run = koji("container-build", TARGET, "--nowait", cwd=checkout)
    assert run.rc == 0, run.err
    [call] = [c for c in hub.calls if c["method"] == "buildContainer"]
    assert call["args"][0] == f"git://127.0.0.1:{daemon.port}/container/hello.git#{fixed}"
