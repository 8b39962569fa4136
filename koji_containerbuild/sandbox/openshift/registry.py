"""A container registry on loopback for the real-image engine: Debian's ``docker-registry``
(distribution 2.8) with its configuration and storage in one folder, and the two questions the
sandbox asks any registry (which tags a repository has, which manifest digest a tag names).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

import requests

from koji_containerbuild.sandbox.distgit import free_port

BINARY = "docker-registry"
MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))
CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
"""


class RegistryError(RuntimeError):
    """The registry did not start, or answered what a registry does not."""


class LocalRegistry:
    """``docker-registry serve`` on 127.0.0.1:``port``; ``folder`` holds config.yml, data/, the
    log and registry.pid (so a stop command run later can find it)."""

    def __init__(self, folder: os.PathLike, port: int = 0, binary: str = BINARY):
        self.folder = Path(folder).resolve()
        self._auto_port = not port
        self.port = port or free_port()
        self.binary = binary
        self.config_path = self.folder / "config.yml"
        self.log_path = self.folder / "registry.log"
        self.pid_path = self.folder / "registry.pid"
        self._proc: Optional[subprocess.Popen] = None

    def __repr__(self) -> str:
        return f"LocalRegistry({self.address!r})"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the registry part of a pull spec."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, timeout: float = 20.0) -> LocalRegistry:
        """Serve; with an automatic port, try another one if the chosen one got taken."""
        for attempt in range(3 if self._auto_port else 1):
            if attempt:
                self.port = free_port()
            if self._serve(timeout):
                return self
        raise RegistryError(f"{self.binary} exited at start; see {self.log_path}:\n"
                            + self.log_path.read_text(errors="replace")[-2000:])

    def _serve(self, timeout: float) -> bool:
        """Start the process; True once it answers, False if it exited at start."""
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(CONFIG.format(storage=self.folder / "data", port=self.port,
                                                  secret=secrets.token_hex(16)))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen([self.binary, "serve", str(self.config_path)],
                                          stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        self.pid_path.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                self._proc = None
                self.pid_path.unlink(missing_ok=True)
                return False
            try:
                if requests.get(self.url + "/v2/", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RegistryError(f"{self.binary} did not answer on {self.url} within "
                                    f"{timeout:g}s; see {self.log_path}")
            time.sleep(0.05)  # startup only

    def stop(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.pid_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def split_pullspec(pullspec: str) -> tuple[str, str, str]:
    """``registry/repo/path:tag`` -> (registry, repo/path, tag)."""
    registry, _, rest = pullspec.partition("/")
    repository, _, tag = rest.rpartition(":")
    if not registry or not repository or not tag or "@" in rest:
        raise ValueError(f"not a registry/repository:tag pull spec: {pullspec!r}")
    return registry, repository, tag


def manifest_digest(pullspec: str, timeout: float = 10.0) -> Optional[str]:
    """The digest a plain-HTTP registry serves for ``registry/repo:tag``; None when absent."""
    registry, repository, tag = split_pullspec(pullspec)
    answer = requests.head(f"http://{registry}/v2/{repository}/manifests/{tag}",
                           headers={"Accept": MANIFEST_TYPES}, timeout=timeout)
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise RegistryError(f"{registry} answered {answer.status_code} for {pullspec}")
    return answer.headers.get("Docker-Content-Digest")


def repository_tags(registry: str, repository: str, timeout: float = 10.0) -> list[str]:
    """The tags of ``repository`` in a plain-HTTP registry (empty when it does not exist)."""
    answer = requests.get(f"http://{registry}/v2/{repository}/tags/list", timeout=timeout)
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    return sorted(answer.json().get("tags") or [])
