"""What the real-image engine's modules know of each other, so that none imports the one that
imports it: the engine's services a build uses (``Engine``, implemented by
``buildah.BuildahEngine``) and the state of one build its metadata is made from
(``BuildRecord``, implemented by ``buildah_run.RealBuild``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional, Protocol

from koji_containerbuild.builder.labels import ImageLabels
from koji_containerbuild.sandbox.openshift.registry import LocalRegistry
from koji_containerbuild.sandbox.openshift.scenario_api import BuildContext


class BuildahCommand(Protocol):
    """The engine's buildah (``buildah.Buildah``): argv and environment of one command."""

    def argv(self, *args: str) -> list[str]: ...

    @property
    def env(self) -> dict[str, str]: ...


class Engine(Protocol):
    """What a build uses of the engine that runs it."""

    folder: Path
    buildah: BuildahCommand
    registry: LocalRegistry
    buildah_version: str

    def koji_credentials(self) -> tuple[Optional[str], Optional[str]]: ...
    def terminate(self, proc: subprocess.Popen, grace: float = 5.0) -> None: ...


class BuildRecord(Protocol):
    """What one real build knows once it ran: the metadata, CG import and annotations of
    atomic-reactor are made from this."""

    ctx: BuildContext
    engine: Engine
    params: dict
    started: float
    platforms: list[str]
    worker_errors: dict[str, dict[str, str]]
    repository: str
    tags: dict[str, list[str]]
    digests: list[dict[str, str]]
    labels: Optional[ImageLabels]
    commit: str
    dockerfile: str
    base_name: str
    base_id: str
    base_digest: str
    image_id: str
    build_id: Optional[int]
    timestamps: dict[str, str]
    durations: dict[str, float]

    def pullspec(self, tag: str) -> str: ...
    def orch(self, logger: str, level: str, message: str) -> None: ...
