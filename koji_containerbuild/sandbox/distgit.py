"""A DistGit stand-in: bare ``container/<name>.git`` repositories served by ``git daemon`` on
loopback, over the ``git://`` transport Koji's SCM accepts (pushes too). Used by tests and the
demo."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

HELLO_DOCKERFILE = """\
FROM {base_image}
LABEL com.redhat.component="{component}" \\
      name="{name}" \\
      version="{version}" \\
      release="{release}"
RUN echo "hello from the koji-containerbuild sandbox" > /hello.txt
CMD ["cat", "/hello.txt"]
"""


def git(*args: str, cwd: Optional[os.PathLike] = None, env: Optional[dict] = None) -> str:
    """Run git quietly with an isolated config; return its stdout."""
    run_env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
                   GIT_AUTHOR_NAME="Sandbox", GIT_AUTHOR_EMAIL="sandbox@example.com",
                   GIT_COMMITTER_NAME="Sandbox", GIT_COMMITTER_EMAIL="sandbox@example.com")
    run_env.update(env or {})
    return subprocess.run(["git", *args], cwd=cwd, env=run_env, check=True,
                          capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def daemon_argv(base: os.PathLike, port: int) -> list[str]:
    """``git daemon`` serving ``base`` on 127.0.0.1:``port``; pushes are accepted (anonymous,
    loopback only), so a packager's fix → commit → push → rebuild works as on a DistGit."""
    return ["git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
            "--enable=receive-pack", f"--base-path={base}", "--listen=127.0.0.1",
            f"--port={port}", str(base)]


class GitDaemon:
    """``git daemon`` exporting ``base`` on 127.0.0.1; ``url(path, ref)`` gives a Koji SCM URL."""

    def __init__(self, base: os.PathLike, port: int = 0):
        self.base = Path(base)
        self.port = port or free_port()
        self._proc: Optional[subprocess.Popen] = None

    def start(self) -> GitDaemon:
        self.base.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(daemon_argv(self.base, self.port),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    def __enter__(self) -> GitDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str, ref: str) -> str:
        return f"git://127.0.0.1:{self.port}/{path}#{ref}"

    @property
    def allowed_scms(self) -> str:
        """The kojid ``allowed_scms`` entry for this host (no common/, no source command)."""
        return "127.0.0.1*:/container/*:no:"


def create_container_repo(
    base: os.PathLike,
    name: str = "hello",
    *,
    branch: str = "f39",
    base_image: str = "registry.sandbox.local/sandbox/busybox:latest",
    version: str = "1.0",
    release: Optional[str] = "1",
    component: Optional[str] = None,
    additional_tags: tuple[str, ...] = ("latest", "f39"),
    extra_files: Optional[dict[str, str]] = None,
    dockerfile: Optional[str] = None,
) -> str:
    """Create ``<base>/container/<name>.git`` with one commit on ``branch``; return its sha."""
    bare = Path(base) / "container" / f"{name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    if not bare.exists():
        git("init", "-q", "--bare", f"--initial-branch={branch}", str(bare))
    component = component or f"{name}-container"
    if dockerfile is None:
        dockerfile = HELLO_DOCKERFILE.format(base_image=base_image, component=component,
                                             name=f"sandbox/{name}", version=version,
                                             release=release or "")
        if release is None:
            dockerfile = dockerfile.replace(' \\\n      release=""', "")
    files = {"Dockerfile": dockerfile,
             "additional-tags": "".join(f"{tag}\n" for tag in additional_tags)}
    files.update(extra_files or {})
    with tempfile.TemporaryDirectory() as work:
        git("clone", "-q", str(bare), work)
        git("checkout", "-q", "-B", branch, cwd=work)
        for rel, content in files.items():
            target = Path(work) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"{name}: {version}-{release}", cwd=work)
        git("push", "-q", "origin", f"HEAD:{branch}", cwd=work)
        return git("rev-parse", "HEAD", cwd=work)
