"""One Build done for real by the ``real-image`` scenario: what atomic-reactor 3.6 does in its
pod, with buildah, and logged the way atomic-reactor logs it (contract §5.3).

Steps: clone ``spec.source.git`` at its ref; drop the platforms this machine cannot build
(logged, like ``check_and_set_platforms`` drops a platform without a cluster); pull the parent
image from the loopback registry; ``buildah bud`` per platform, its output relayed as
``platform:<arch>`` worker lines; push the version-release, floating (``latest``, version,
``additional-tags``) and unique tags, recording each push's real digest; for a non-scratch
build, ``CGImport`` into the Koji hub of the reactor config (the ``koji-build-id`` label); then
the annotations ``store_metadata_in_osv3`` writes, naming only images that exist. A failing
step ends the build Failed with atomic-reactor's error shapes; a cancel kills buildah at once.
Source container builds are ``buildah_source``'s (``RealImageAndSource``).
"""

from __future__ import annotations

import contextlib
import json
import platform as host_platform
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Optional

from koji_containerbuild.builder.labels import ImageLabels, LabelsError, parse_dockerfile
from koji_containerbuild.sandbox.openshift.buildah_meta import (
    StepFailed,
    koji_import,
    store_metadata,
    write_scratch_metadata,
)
from koji_containerbuild.sandbox.openshift.buildah_types import Engine
from koji_containerbuild.sandbox.openshift.reactor import (
    METADATA_TAG,
    ORCHESTRATE,
    Script,
    git_source,
    reactor_line,
    worker_build_name,
)
from koji_containerbuild.sandbox.openshift.registry import RegistryError, manifest_digest
from koji_containerbuild.sandbox.openshift.scenario_api import (
    GENERIC_FAILED,
    BuildCancelled,
    BuildContext,
    Outcome,
)
from koji_containerbuild.sandbox.openshift.scenarios import Scenario

SCENARIO = "real-image"
HOST_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(host_platform.machine().lower(),
                                                       host_platform.machine())
POLL_SECONDS = 0.05  # how soon a finished buildah is noticed; a cancel interrupts at once


class RealImage(Scenario):
    """Complete or Failed as the real build goes; registered by ``BuildahEngine.attach``."""

    name = SCENARIO

    def __init__(self, engine: Engine):
        self.engine = engine

    def run(self, ctx: BuildContext) -> Outcome:
        return RealBuild(self.engine, ctx).run()


def enclose(name: str, organization: Optional[str]) -> str:
    """atomic-reactor's ``ImageName.enclose``: put the repository into the organization."""
    namespace, _, repo = name.rpartition("/")
    if not organization or namespace == organization:
        return name
    return f"{organization}/{'-'.join(p for p in (namespace.replace('/', '-'), repo) if p)}"


def _last_line(lines: Any) -> str:
    return next((line.strip() for line in reversed(list(lines)) if line.strip()), "")


class RealBuild(Script):
    """The state of one real build; ``run()`` returns its Outcome or raises BuildCancelled."""

    def __init__(self, engine: Engine, ctx: BuildContext):
        super().__init__(ctx)
        self.engine = engine
        self.params = ctx.user_params
        self.folder = engine.folder / "builds" / ctx.name
        self.source = self.folder / "source"
        self.started = time.time()
        self.platforms = [p for p in ctx.platforms if p == HOST_ARCH]
        self.worker_errors: dict[str, dict[str, str]] = {}
        self.repository = ""
        self.tags: dict[str, list[str]] = {"primary": [], "unique": [], "floating": []}
        self.digests: list[dict[str, str]] = []
        self.labels: Optional[ImageLabels] = None
        self.commit = self.dockerfile = self.base_name = self.base_id = self.base_digest = ""
        self.image_id = ""
        self.build_id: Optional[int] = None

    # -- log lines -------------------------------------------------------------------------
    def say(self, platform: Optional[str], logger: str, level: str, message: str) -> None:
        if platform is None:
            self.orch(logger, level, message)
        else:
            self.worker(platform, logger, level, message)

    @contextlib.contextmanager
    def plugin(self, key: str, platform: Optional[str] = None) -> Iterator[None]:
        """A plugin run: its start line, timestamp and real duration (plugins-metadata)."""
        self.timestamps.setdefault(key, datetime.now().isoformat())
        self.say(platform, "atomic_reactor.plugin", "INFO", f"running plugin '{key}'")
        begun = time.monotonic()
        try:
            yield
        finally:
            self.durations[key] = round(time.monotonic() - begun, 6)

    # -- processes ---------------------------------------------------------------------------
    def stream(self, argv: list[str], platform: Optional[str], logger: str,
               env: Optional[dict] = None) -> tuple[int, list[str]]:
        """Run ``argv`` relaying each output line; a cancel kills it and raises BuildCancelled."""
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        lines: deque[str] = deque(maxlen=20)

        def relay() -> None:
            for raw in proc.stdout:  # type: ignore[union-attr]
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if text.strip():
                    lines.append(text)
                    self.say(platform, logger, "INFO", text)

        reader = threading.Thread(target=relay, name=f"relay-{self.ctx.name}", daemon=True)
        reader.start()
        try:
            while proc.poll() is None:
                self.ctx.sleep(POLL_SECONDS, scaled=False)
        except BuildCancelled:
            self.engine.terminate(proc)
            reader.join(5)
            raise
        reader.join()
        proc.stdout.close()  # type: ignore[union-attr]
        return proc.returncode, list(lines)

    def buildah(self, platform: Optional[str], logger: str, *args: str) -> list[str]:
        code, lines = self.stream(self.engine.buildah.argv(*args), platform, logger,
                                  self.engine.buildah.env)
        if code != 0:
            raise StepFailed(logger.rsplit(".", 1)[-1], _last_line(lines)
                             or f"buildah {args[0]} exited with status {code}")
        return lines

    # -- the build -----------------------------------------------------------------------------
    def run(self) -> Outcome:
        ctx = self.ctx
        git = git_source(ctx.build)
        uri, ref = str(git.get("uri") or ""), str(git.get("ref") or "master")
        self.orch("atomic_reactor.inner", "INFO", f"building image from '{uri}'")
        try:
            self.clone(uri, ref)
        except StepFailed as failure:
            return self.pod_failure(failure.message)
        try:
            self.prebuild()
            self.orchestrate()
            self.exit_plugins()
        except StepFailed as failure:
            return self.failed(failure)
        self.orch("atomic_reactor.inner", "INFO", "build has finished successfully \\o/")
        return Outcome("Complete", container_reason="Completed")

    def clone(self, uri: str, ref: str) -> None:
        """The source, as atomic-reactor fetches it before any plugin runs."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.orch("atomic_reactor.source", "INFO", f"cloning {uri} at {ref}")
        for argv in (["git", "clone", "--quiet", "--no-checkout", uri, str(self.source)],
                     ["git", "-C", str(self.source), "checkout", "--quiet", ref]):
            code, lines = self.stream(argv, None, "atomic_reactor.source")
            if code != 0:
                step = "clone" if "clone" in argv else "checkout"
                raise StepFailed("source", f"git {step} failed: "
                                           f"{_last_line(lines) or f'exit status {code}'}")
        self.commit = subprocess.run(["git", "-C", str(self.source), "rev-parse", "HEAD"],
                                     capture_output=True, text=True, check=True).stdout.strip()
        dockerfile = self.source / "Dockerfile"
        if not dockerfile.is_file():
            raise StepFailed("source", f"no Dockerfile in {uri} at {ref}")
        self.dockerfile = dockerfile.read_text(encoding="utf-8", errors="replace")

    def prebuild(self) -> None:
        ctx = self.ctx
        with self.plugin("reactor_config"):
            pass
        if not ctx.scratch:
            with self.plugin("check_and_set_rebuild"):
                self.orch("atomic_reactor.plugins.check_and_set_rebuild", "INFO",
                          f"This is a rebuild? {ctx.check_and_set_rebuild()}")
        with self.plugin("check_and_set_platforms"):
            for platform in ctx.platforms:
                if platform not in self.platforms:
                    self.orch("atomic_reactor.plugins.check_and_set_platforms", "WARNING",
                              f"skipping platform {platform}: this sandbox builds on its own "
                              f"machine only, whose arch is {HOST_ARCH}")
            self.orch("atomic_reactor.plugins.check_and_set_platforms", "INFO",
                      f"platforms in limits : {self.platforms}")
            if not self.platforms:
                raise StepFailed("check_and_set_platforms",
                                 f"no platform left to build: {ctx.platforms} requested, this "
                                 f"machine builds {HOST_ARCH}")
        with self.plugin("pull_base_image"):
            self.pull_base_image()
        with self.plugin("tag_from_config"):
            self.choose_tags()

    def pull_base_image(self) -> None:
        try:
            self.base_name = parse_dockerfile(self.dockerfile).base_image
        except LabelsError as exc:
            raise StepFailed("pull_base_image", str(exc)) from None
        if self.base_name == "scratch":
            return
        logger = "atomic_reactor.plugins.pull_base_image"
        self.orch(logger, "INFO", f"pulling image '{self.base_name}'")
        lines = self.buildah(None, logger, "pull", "--tls-verify=false", self.base_name)
        self.base_id = "sha256:" + _last_line(lines)
        if self.base_name.startswith(self.engine.registry.address + "/"):
            with contextlib.suppress(RegistryError, OSError, ValueError):
                self.base_digest = manifest_digest(self.base_name) or ""

    def choose_tags(self) -> None:
        """Repository from the ``name`` label; primary, floating and unique tags (contract §5.1)."""
        release = self.params.get("release")
        try:
            self.labels = ImageLabels.from_dockerfile(
                self.dockerfile, {"release": str(release)} if release else None)
        except LabelsError as exc:
            raise StepFailed("tag_from_config", str(exc)) from None
        name, version = self.labels.image_name(), self.labels.version
        if not name or not version:
            raise StepFailed("tag_from_config",
                             "the Dockerfile needs the name and version labels")
        organization = self.ctx.reactor_config.get("registries_organization")
        self.repository = enclose(name, organization)
        unique = str(self.params.get("image_tag") or f"x:{self.ctx.name}").rsplit(":", 1)[-1]
        self.tags["unique"] = [unique]
        if self.ctx.scratch:
            return
        release = self.labels.release
        if release:
            self.tags["primary"] = [f"{version}-{release}"]
        if not self.ctx.isolated:
            floating = ["latest", version] + self.additional_tags()
            self.tags["floating"] = [t for i, t in enumerate(floating) if t not in floating[:i]
                                     and t not in self.tags["primary"]]

    def additional_tags(self) -> list[str]:
        path = self.source / "additional-tags"
        if not path.is_file():
            return []
        return [word for line in path.read_text(errors="replace").splitlines()
                for word in line.split() if not word.startswith("#")]

    def pullspec(self, tag: str) -> str:
        return f"{self.engine.registry.address}/{self.repository}:{tag}"

    def orchestrate(self) -> None:
        with self.plugin("orchestrate_build"):
            for platform in self.platforms:
                self.orch(ORCHESTRATE, "INFO", f"worker build for {platform} created: "
                                               f"{worker_build_name(self.ctx, platform)}")
                try:
                    self.build_platform(platform)
                except StepFailed as failure:
                    self.worker_errors[platform] = {failure.plugin: failure.message}
                    self.worker(platform, f"atomic_reactor.plugins.{failure.plugin}", "ERROR",
                                failure.message)
                    reason = json.dumps({platform: {failure.plugin: failure.message}})
                    self.orch("atomic_reactor.plugin", "ERROR", "buildstep plugin "
                              f"'orchestrate_build' raised an exception: {reason}")
                    raise StepFailed("orchestrate_build", reason) from None
                self.orch(ORCHESTRATE, "INFO", f"worker build for {platform} finished: Complete")

    def build_platform(self, platform: str) -> None:
        iidfile = self.folder / f"image-id.{platform}"
        order = self.tags["primary"] + self.tags["floating"] + self.tags["unique"]
        with self.plugin("buildah_bud", platform):
            self.buildah(platform, "atomic_reactor.plugins.buildah_bud", "bud",
                         "--isolation", "chroot", "--format", "docker", "--pull=false",
                         "--tls-verify=false", "--iidfile", str(iidfile),
                         "--label", f"architecture={platform}",
                         "--label", f"vcs-ref={self.commit}", "-t", self.pullspec(order[0]),
                         str(self.source))
            self.image_id = iidfile.read_text().strip()
        with self.plugin("tag_and_push", platform):
            for index, tag in enumerate(order):
                pullspec = self.pullspec(tag)
                digest_file = self.folder / f"digest.{platform}.{index}"
                logger = "atomic_reactor.plugins.tag_and_push"
                self.worker(platform, logger, "INFO", f"pushing image '{pullspec}'")
                quiet = ["--quiet"] if index else []  # buildah's progress once is enough
                self.buildah(platform, logger, "push", *quiet, "--tls-verify=false",
                             "--format", "v2s2", "--digestfile", str(digest_file),
                             self.image_id, f"docker://{pullspec}")
                digest = digest_file.read_text().strip()
                self.worker(platform, logger, "INFO", f"pushed '{pullspec}', digest {digest}")
                self.digests.append({"registry": self.engine.registry.address,
                                     "repository": self.repository, "tag": tag,
                                     "digest": digest, "version": "v2"})

    def exit_plugins(self) -> None:
        with self.plugin("koji_import"):
            if self.ctx.scratch:
                path = write_scratch_metadata(self)
                self.line(reactor_line(self.ctx.now(), METADATA_TAG,
                                       "atomic_reactor.plugins.exit_koji_import", "INFO", path))
            else:
                self.build_id = koji_import(self)
        with self.plugin("store_metadata_in_osv3"):
            self.ctx.set_metadata(*store_metadata(self, {}))

    def failed(self, failure: StepFailed) -> Outcome:
        with self.plugin("store_metadata_in_osv3"):
            self.ctx.set_metadata(*store_metadata(self, {failure.plugin: failure.message}))
        self.orch("atomic_reactor.inner", "ERROR", f"build failed: {failure.message}")
        tail = "\n".join(self.tail)
        return Outcome("Failed", *GENERIC_FAILED, exit_code=1, container_reason="Error",
                       container_message=tail, log_snippet=tail)

    def pod_failure(self, message: str) -> Outcome:
        """atomic-reactor dies before its plugins: a traceback, no annotations."""
        self.line("Traceback (most recent call last):")
        self.line('  File "/usr/bin/atomic-reactor", line 11, in <module>')
        self.line(f"RuntimeError: {message}")
        tail = "\n".join(self.tail)
        return Outcome("Failed", *GENERIC_FAILED, exit_code=1, container_reason="Error",
                       container_message=tail, log_snippet=tail)
