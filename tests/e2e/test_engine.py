"""The real-image engine inside one simulator: honest platforms and annotations, its helpers."""

from __future__ import annotations

import json
import sys

import pytest

from koji_containerbuild.sandbox.distgit import GitDaemon, create_container_repo
from koji_containerbuild.sandbox.openshift.buildah import (
    HOST_ARCH,
    BuildahEngine,
    is_static_executable,
    unavailable_reason,
)
from koji_containerbuild.sandbox.openshift.buildah_run import enclose
from koji_containerbuild.sandbox.openshift.registry import manifest_digest
from tests.sandbox.openshift.test_simulator_helpers import create_build, follow_log, start_sim

REASON = unavailable_reason()
OTHER_ARCH = "s390x" if HOST_ARCH != "s390x" else "x86_64"


def test_enclose_puts_the_repository_in_the_organization():
    assert enclose("sandbox/hello", "sandbox") == "sandbox/hello"
    assert enclose("rhel8/hello", "sandbox") == "sandbox/rhel8-hello"
    assert enclose("hello", "sandbox") == "sandbox/hello"
    assert enclose("rhel8/hello", None) == "rhel8/hello"


def test_static_busybox_is_told_from_a_dynamic_executable(tmp_path):
    assert not is_static_executable(sys.executable)  # CPython links libc dynamically
    assert not is_static_executable(__file__)
    assert not is_static_executable(str(tmp_path / "missing"))


@pytest.fixture
def engine(tmp_path):
    if REASON is not None:
        pytest.skip(f"real-image engine unavailable: {REASON}")
    with BuildahEngine(tmp_path / "engine") as running:
        yield running


@pytest.fixture
def sim(engine):
    simulator = start_sim(time_scale=0.05)
    engine.attach(simulator)
    yield simulator
    simulator.stop()


@pytest.fixture
def distgit(tmp_path):
    with GitDaemon(tmp_path / "git") as daemon:
        yield daemon


@pytest.mark.e2e
@pytest.mark.buildah
def test_only_the_host_arch_is_built_and_the_annotations_name_only_real_images(
        engine, sim, distgit):
    sha = create_container_repo(distgit.base, "hello", base_image=engine.base_image)
    uri = distgit.url("container/hello.git", sha).split("#")[0]
    create_build(sim, "two-arches", uri=uri, ref=sha, platforms=(HOST_ARCH, OTHER_ARCH),
                 scratch=True, image_tag="user/hello-container:f39-unique-1")
    build = sim.wait_for_phase("two-arches", {"Complete", "Failed"}, 120)
    log = follow_log(sim, "two-arches").decode()
    assert build["status"]["phase"] == "Complete", log
    annotations = build["metadata"]["annotations"]
    assert f"skipping platform {OTHER_ARCH}: this sandbox builds" in log
    assert f"platform:{HOST_ARCH} - atomic_reactor.plugins.orchestrate_build" in log
    assert f"platform:{OTHER_ARCH} -" not in log
    assert set(json.loads(annotations["worker-builds"])) == {HOST_ARCH}
    repositories = json.loads(annotations["repositories"])
    assert repositories == {"primary": [], "floating": [],  # scratch: the unique tag only
                            "unique": [f"{engine.registry.address}/sandbox/hello:f39-unique-1"]}
    [digest] = json.loads(annotations["digests"])
    assert digest["version"] == "v2" and digest["tag"] == "f39-unique-1"
    assert manifest_digest(repositories["unique"][0]) == digest["digest"]  # as annotated
    assert "koji-build-id" not in build["metadata"].get("labels", {})  # scratch: no import
