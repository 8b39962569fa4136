"""A DistGit repository with a long, heavy history for the pre-submit benchmark, generated once
with ``git fast-import`` and cached (``bench/.cache``): N commits that each rewrite one of 100
data files with incompressible bytes, the Dockerfile of the sandbox's sample image on top."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from koji_containerbuild.sandbox.distgit import HELLO_DOCKERFILE

BRANCH = "f39"


def _stream(commits: int, total_bytes: int):
    per_commit = max(1, total_bytes // max(1, commits))
    dockerfile = HELLO_DOCKERFILE.format(
        base_image="registry.sandbox.local/sandbox/busybox:latest",
        component="history-container", name="sandbox/history", version="1.0",
        release="1").encode()
    when = 1_700_000_000
    for i in range(commits):
        files = [(f"data/part-{i % 100:02d}.bin", os.urandom(per_commit))]
        if i == 0:
            files += [("Dockerfile", dockerfile), ("additional-tags", b"latest\n")]
        message = f"change {i}\n".encode()
        out = [f"commit refs/heads/{BRANCH}\n".encode(),
               f"committer Bench <bench@example.com> {when + i} +0000\n".encode(),
               b"data %d\n" % len(message), message]
        for path, data in files:
            out += [f"M 644 inline {path}\n".encode(), b"data %d\n" % len(data), data, b"\n"]
        yield b"".join(out)


def history_repo(cache: Path, dest: Path, commits: int, total_bytes: int) -> str:
    """Clone the cached repository (made on first use) to ``dest``; return its tip commit."""
    cached = Path(cache) / f"history-{commits}-{total_bytes}.git"
    if not (cached / "done").exists():
        Path(cache).mkdir(parents=True, exist_ok=True)
        (Path(cache) / ".gitignore").write_text("*\n")
        subprocess.run(["rm", "-rf", str(cached)], check=True)
        subprocess.run(["git", "init", "-q", "--bare", f"--initial-branch={BRANCH}",
                        str(cached)], check=True)
        proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=cached,
                                stdin=subprocess.PIPE)
        for block in _stream(commits, total_bytes):
            proc.stdin.write(block)
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("git fast-import failed")
        (cached / "done").write_text("ok\n")
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(cached), str(dest)], check=True)
    return subprocess.run(["git", "rev-parse", BRANCH], cwd=dest, check=True,
                          capture_output=True, text=True).stdout.strip()
