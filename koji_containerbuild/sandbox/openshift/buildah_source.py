"""One source container build done for real by the ``real-image`` scenario.

What atomic-reactor's source container workflow does, in small and with buildah: read the image
build named by ``sources_for_koji_build_id`` from the Koji hub (``fetch_sources``); fetch its
sources, which in this sandbox are the git tree the image was built from (no RPMs, so no
SRPMs), as ``/sources/<image NVR>.tar.gz``; build a ``FROM scratch`` image holding them; push
it as ``<component>:<version>-<release>.N`` (the image's version and release, ``.N`` the first
free source build of it) and its unique tag; for a non-scratch build ``CGImport`` it with
``extra.image.sources_for_nvr``, as ``koji_import`` does, so the builder refuses a source build
of it in turn.
"""

from __future__ import annotations

import time
from typing import Any

from koji_containerbuild.sandbox.openshift.buildah_meta import (
    StepFailed,
    import_metadata,
    store_metadata,
    write_scratch_metadata,
)
from koji_containerbuild.sandbox.openshift.buildah_run import (
    HOST_ARCH,
    RealBuild,
    RealImage,
    enclose,
)
from koji_containerbuild.sandbox.openshift.reactor import METADATA_TAG, reactor_line
from koji_containerbuild.sandbox.openshift.scenario_api import BuildContext, Outcome

FETCH = "atomic_reactor.plugins.fetch_sources"
SOURCE_BUILD = "atomic_reactor.plugins.source_container"


class RealImageAndSource(RealImage):
    """The ``real-image`` scenario for both kinds: layered images and source containers."""

    def run(self, ctx: BuildContext) -> Outcome:
        if ctx.source_build:
            return RealSourceBuild(self.engine, ctx).run()
        return super().run(ctx)


class RealSourceBuild(RealBuild):
    """A source container image of a Koji image build; ``run()`` as :class:`RealBuild`."""

    def run(self) -> Outcome:
        self.orch("atomic_reactor.inner", "INFO", "building source container image")
        try:
            with self.plugin("reactor_config"):
                pass
            with self.plugin("fetch_sources"):
                image = self.image_build()
                archive = self.fetch_sources(image)
            with self.plugin("source_container"):
                self.build_source_image(image, archive)
            with self.plugin("tag_and_push"):
                self.push_all()
            with self.plugin("koji_import"):
                self.import_build(image)
            with self.plugin("store_metadata_in_osv3"):
                self.ctx.set_metadata(*store_metadata(self, {}))
        except StepFailed as failure:
            return self.failed(failure)
        self.orch("atomic_reactor.inner", "INFO", "build has finished successfully \\o/")
        return Outcome("Complete", container_reason="Completed")

    # -- fetch_sources ----------------------------------------------------------------------
    def session(self) -> Any:
        import koji  # the simulator imports Koji only for builds that talk to the hub

        hub_url = (self.ctx.reactor_config.get("koji") or {}).get("hub_url")
        if not hub_url:
            raise StepFailed("fetch_sources", "no Koji hub in the reactor config (koji.hub_url)")
        return koji.ClientSession(hub_url, {"max_retries": 3, "retry_interval": 0.5})

    def image_build(self) -> dict:
        import koji

        build_id = self.params.get("sources_for_koji_build_id")
        try:
            build = self.session().getBuild(int(build_id)) if build_id else None
        except (koji.GenericError, OSError, ValueError) as exc:
            raise StepFailed("fetch_sources", f"cannot read Koji build {build_id}: {exc}") from None
        if not build or not (build.get("source") or "").partition("#")[2]:
            raise StepFailed("fetch_sources", f"Koji build {build_id} has no source URL#commit "
                                              "to take the sources from")
        self.orch(FETCH, "INFO", f"sources of {build['nvr']}: {build['source']}")
        return build

    def fetch_sources(self, image: dict) -> str:
        uri, _, commit = image["source"].partition("#")
        self.clone(uri, commit)
        self.dockerfile = ""  # a source image has none of its own
        archive = self.folder / f"{image['nvr']}.tar.gz"
        code, lines = self.stream(["git", "-C", str(self.source), "archive", "--format=tar.gz",
                                   f"--prefix={image['nvr']}/", "-o", str(archive), commit],
                                  None, FETCH)
        if code != 0:
            raise StepFailed("fetch_sources", f"git archive failed: {lines[-1:] or code}")
        self.orch(FETCH, "INFO", f"fetched {archive.name} ({archive.stat().st_size} bytes)")
        return str(archive)

    # -- the image ----------------------------------------------------------------------------
    def source_nvr(self, image: dict) -> tuple[str, str, str]:
        """(name, version, release): the image's version, its release + ``.N`` (first free)."""
        name = str(self.params.get("component") or f"{image['name']}-source")
        session = self.session()
        for number in range(1, 1000):
            release = f"{image['release']}.{number}"
            if self.ctx.scratch or not session.getBuild(f"{name}-{image['version']}-{release}"):
                return name, image["version"], release
        raise StepFailed("source_container", f"no free release for {name}")

    def build_source_image(self, image: dict, archive: str) -> None:
        name, version, release = self.source_nvr(image)
        self.nvr = (name, version, release)
        self.repository = enclose(name, self.ctx.reactor_config.get("registries_organization"))
        unique = str(self.params.get("image_tag") or f"x:{self.ctx.name}").rsplit(":", 1)[-1]
        self.tags = {"primary": [] if self.ctx.scratch else [f"{version}-{release}"],
                     "unique": [unique], "floating": []}
        container = self.buildah(None, SOURCE_BUILD, "from", "--quiet", "scratch")[-1].strip()
        try:
            self.buildah(None, SOURCE_BUILD, "copy", "--quiet", container, archive, "/sources/")
            self.buildah(None, SOURCE_BUILD, "config", "--label", f"name={self.repository}",
                         "--label", f"com.redhat.component={name}", "--label",
                         f"version={version}", "--label", f"release={release}", "--label",
                         f"sources-for-nvr={image['nvr']}", container)
            iidfile = self.folder / "image-id.source"
            self.buildah(None, SOURCE_BUILD, "commit", "--quiet", "--format", "docker",
                         "--iidfile", str(iidfile), container, self.pullspec(self.order()[0]))
            self.image_id = iidfile.read_text().strip()
        finally:
            self.buildah(None, SOURCE_BUILD, "rm", container)
        self.orch(SOURCE_BUILD, "INFO", f"source image {name}-{version}-{release} holds "
                                        f"/sources/{image['nvr']}.tar.gz")

    def order(self) -> list[str]:
        return self.tags["primary"] + self.tags["unique"]

    def push_all(self) -> None:
        logger = "atomic_reactor.plugins.tag_and_push"
        for index, tag in enumerate(self.order()):
            pullspec = self.pullspec(tag)
            digest_file = self.folder / f"digest.source.{index}"
            self.orch(logger, "INFO", f"pushing image '{pullspec}'")
            self.buildah(None, logger, "push", "--quiet", "--tls-verify=false", "--format",
                         "v2s2", "--digestfile", str(digest_file), self.pullspec(self.order()[0]),
                         f"docker://{pullspec}")
            digest = digest_file.read_text().strip()
            self.orch(logger, "INFO", f"pushed '{pullspec}', digest {digest}")
            self.digests.append({"registry": self.engine.registry.address,
                                 "repository": self.repository, "tag": tag, "digest": digest,
                                 "version": "v2"})

    # -- koji_import --------------------------------------------------------------------------
    def metadata(self, image: dict) -> dict[str, Any]:
        name, version, release = self.nvr
        pulls = [self.pullspec(t) for t in self.order()]
        if self.digests:
            pulls.insert(0, f"{self.engine.registry.address}/{self.repository}@"
                            f"{self.digests[0]['digest']}")
        return {
            "metadata_version": 0,
            "build": {
                "name": name, "version": version, "release": release,
                "source": image["source"], "start_time": int(self.started),
                "end_time": int(time.time()), "owner": self.params.get("user"),
                "extra": {"image": {"index": {"pull": pulls, "tags": self.order()},
                                    "sources_for_nvr": image["nvr"]},
                          "container_koji_task_id": self.params.get("koji_task_id"),
                          "submitter": self.params.get("user"),
                          "osbs_build": {"kind": "source_container_build", "subtypes": []}},
            },
            "buildroots": [{"id": 1, "host": {"os": "sandbox", "arch": HOST_ARCH},
                            "content_generator": {"name": "atomic-reactor",
                                                  "version": "sandbox-buildah"},
                            "container": {"type": "none", "arch": HOST_ARCH},
                            "tools": [{"name": "buildah",
                                       "version": self.engine.buildah_version}],
                            "components": [], "extra": {"osbs": {"build_id": self.ctx.name}}}],
            "output": [{"buildroot_id": 1, "type": "docker-image", "arch": HOST_ARCH,
                        "extra": {"docker": {"id": self.image_id, "tags": self.order(),
                                             "repositories": pulls[1:]}}}],
        }

    def import_build(self, image: dict) -> None:
        metadata = self.metadata(image)
        if self.ctx.scratch:
            path = write_scratch_metadata(self, metadata)
            self.line(reactor_line(self.ctx.now(), METADATA_TAG,
                                   "atomic_reactor.plugins.exit_koji_import", "INFO", path))
        else:
            self.build_id = import_metadata(self, metadata)

