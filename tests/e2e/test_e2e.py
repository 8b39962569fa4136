"""What ``make demo`` does, asserted: the koji CLI with our plugin → hub plugin → kojid with the
builder plugin → OpenShift simulator (a real buildah build and a loopback registry when the
machine has them) → task result; plus a failing build and a build cancelled with ``koji cancel``.
"""

from __future__ import annotations

import json
import re

import pytest
from koji import BUILD_STATES, TASK_STATES

from koji_containerbuild.sandbox.openshift.registry import manifest_digest, repository_tags

from .conftest import BUILDS, REAL_REASON, own_processes, wait_for

pytestmark = pytest.mark.e2e
REAL = REAL_REASON is None
TARGET = "f39-container-candidate"


def task_id_of(output: str) -> int:
    found = re.search(r"^Created task: (\d+)$", output, re.MULTILINE)
    assert found, output
    return int(found.group(1))


def builds_of(openshift, task_id: int) -> list[dict]:
    return openshift(BUILDS, labelSelector=f"koji-task-id={task_id}")["items"]


def scratch_build(sandbox, koji_cli, repo: str, *extra: str, **repo_options):
    """``koji container-build --scratch`` of a new ``container/<repo>`` (TARGET SCM_URL form)."""
    src = sandbox.git_url(repo, sandbox.add_repo(repo, **repo_options))
    return koji_cli("container-build", TARGET, src, "--git-branch", "f39", "--scratch", *extra)


def dockerfile(sandbox, name: str, run: str) -> str:
    return (f"FROM {sandbox.base_image}\n"
            f'LABEL com.redhat.component="{name}-container" name="sandbox/{name}" '
            f'version="1.0"\nRUN {run}\n')


def test_real_image_mode_is_available():
    if not REAL:
        pytest.skip(f"real-image mode not available ({REAL_REASON}): the build test below "
                    "runs the simulated success scenario instead")


def test_container_build_from_a_distgit_checkout(sandbox, koji_cli):
    sandbox.add_repo("hello")
    checkout = sandbox.clone("hello")
    run = koji_cli("container-build", "--wait", cwd=checkout)
    assert run.rc == 0, str(run)
    task_id = task_id_of(run.out)
    assert "Inferred: target f39-container-candidate" in run.out
    assert f"{task_id} buildContainer (noarch) completed successfully" in run.out
    session = sandbox.session()
    result = session.getTaskResult(task_id)
    repositories = result["repositories"]
    for pullspec in repositories:  # the CLI printed the result the hub holds
        assert f"    {pullspec}\n" in run.out
    outputs = session.listTaskOutput(task_id)
    assert {"orchestrator.log", "x86_64.log", "osbs-client.log"} <= set(outputs), outputs
    worker_log = session.downloadTaskOutput(task_id, "x86_64.log").decode()
    [build_id] = result["koji_builds"]
    if not REAL:
        assert all(r.startswith("registry.sandbox.local/sandbox/hello:") for r in repositories)
        assert "STEP 1: FROM fedora:latest" in worker_log
        return

    # real-image mode: buildah's own output reached the task, per platform
    assert re.search(r"STEP 3/\d+: RUN echo \"hello from the koji-containerbuild sandbox\"",
                     worker_log), worker_log
    assert "Successfully tagged" in worker_log
    # every repository is served by the loopback registry, all as the one pushed manifest
    registry = sandbox.registry
    digests = {pullspec: manifest_digest(pullspec) for pullspec in repositories}
    assert None not in digests.values(), digests
    assert len(set(digests.values())) == 1, digests
    tags = {pullspec.rsplit(":", 1)[1] for pullspec in repositories}
    assert {"1.0-1", "1.0", "latest", "f39"} <= tags and len(tags) == 5, tags
    assert set(repository_tags(registry, "sandbox/hello")) == tags
    # the Koji build atomic-reactor's import would have created
    build = session.getBuild(int(build_id))
    assert build["nvr"] == "hello-container-1.0-1"
    assert build["state"] == BUILD_STATES["COMPLETE"]
    assert build["owner_name"] == "user"
    assert build["extra"]["container_koji_task_id"] == task_id
    digest = next(iter(digests.values()))
    assert f"{registry}/sandbox/hello@{digest}" in build["extra"]["image"]["index"]["pull"]


def image_layer_names(pullspec: str) -> list[str]:
    """The file names in the (single) layer of an image in the loopback registry."""
    import io
    import tarfile

    import requests

    registry, _, rest = pullspec.partition("/")
    repository, _, tag = rest.rpartition(":")
    manifest = requests.get(f"http://{registry}/v2/{repository}/manifests/{tag}", timeout=10,
                            headers={"Accept": "application/vnd.docker.distribution.manifest"
                                               ".v2+json"}).json()
    [layer] = manifest["layers"]
    blob = requests.get(f"http://{registry}/v2/{repository}/blobs/{layer['digest']}",
                        timeout=10).content
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return tar.getnames()


def test_source_container_build_of_the_image_build(sandbox, koji_cli):
    """Issue 15 #9: the sources of the image build, as an image in the registry and a build."""
    if not REAL:
        pytest.skip(f"real-image mode not available ({REAL_REASON}); the simulated engine makes "
                    "no Koji build to take the sources of")
    session = sandbox.session()
    images = [b for b in session.listBuilds(type="image")
              if b["name"] == "hello-container" and b["state"] == BUILD_STATES["COMPLETE"]]
    assert images, "test_container_build_from_a_distgit_checkout makes the image build"
    image = images[0]
    run = koji_cli("source-container-build", TARGET, "--koji-build-id", str(image["id"]),
                   "--wait")
    assert run.rc == 0, str(run)
    task_id = task_id_of(run.out)
    result = session.getTaskResult(task_id)
    primary = f"{sandbox.registry}/sandbox/hello-container-source:1.0-1.1"
    assert primary in result["repositories"]
    assert manifest_digest(primary)
    assert "sources/hello-container-1.0-1.tar.gz" in image_layer_names(primary)
    [build_id] = result["koji_builds"]
    build = session.getBuild(int(build_id))
    assert build["nvr"] == "hello-container-source-1.0-1.1"
    assert build["extra"]["image"]["sources_for_nvr"] == image["nvr"]
    assert [t["name"] for t in session.listTags(int(build_id))] == ["f39-container"]
    # a source build of a source build is refused, as upstream refuses it
    again = koji_cli("source-container-build", TARGET, "--koji-build-id", build_id, "--wait")
    assert again.rc == 1
    assert "is source container build, source container can not use source container build" \
        in again.out


def test_failing_build_tells_the_packager_why(sandbox, koji_cli, openshift):
    if REAL:  # buildah really fails
        run = scratch_build(sandbox, koji_cli, "broken", "--wait", dockerfile=dockerfile(
            sandbox, "broken", "echo about to fail && exit 3"))
    else:  # the scenario is named by the repository (scenario_from_source)
        run = scratch_build(sandbox, koji_cli, "scenario-plugin-failure", "--wait")
    assert run.rc == 1, str(run)
    task_id = task_id_of(run.out)
    assert f"{task_id} buildContainer (noarch) failed" in run.out
    assert "Image build failed. Error in plugin orchestrate_build:" in run.out
    if REAL:  # buildah's own words about the failing RUN
        assert "exit status 3" in run.out, run
    else:
        assert "rhpkg-env" in run.out, run
    [build] = builds_of(openshift, task_id)
    assert build["status"]["phase"] == "Failed"
    assert f"OSBS build id: {build['metadata']['name']}" in run.out
    assert json.loads(build["metadata"]["annotations"]["repositories"]) == {
        "primary": [], "unique": [], "floating": []}
    if REAL:
        assert repository_tags(sandbox.registry, "sandbox/broken") == []  # nothing pushed


def test_koji_cancel_cancels_the_openshift_build(sandbox, koji_cli, openshift):
    if REAL:  # buildah really runs until it is killed
        run = scratch_build(sandbox, koji_cli, "slow", "--nowait",
                            dockerfile=dockerfile(sandbox, "slow", "sleep 120"))
    else:  # a scenario that runs until cancelled
        run = scratch_build(sandbox, koji_cli, "scenario-silent", "--nowait")
    assert run.rc == 0, str(run)
    task_id = task_id_of(run.out)

    def running():
        builds = builds_of(openshift, task_id)
        return builds and builds[0]["status"]["phase"] == "Running" and builds[0]
    build = wait_for("the OpenShift build to run", running, 60)
    name = build["metadata"]["name"]
    buildah_bud = ["bud", str(sandbox.layout.engine)]
    if REAL:  # buildah is really at work on `RUN sleep 120`
        wait_for("buildah bud", lambda: [c for c in own_processes(sandbox.layout.root)
                                         if all(w in c for w in buildah_bud)], 30)

    cancel = koji_cli("cancel", str(task_id))
    assert cancel.rc == 0, str(cancel)
    phase = wait_for("the build to be cancelled", lambda: openshift(
        f"{BUILDS}/{name}")["status"]["phase"] in ("Cancelled",), 5)
    assert phase
    session = sandbox.session()
    wait_for("task CANCELED", lambda: session.getTaskInfo(task_id)["state"]
             == TASK_STATES["CANCELED"], 5)
    # issue 15 #7: the build is named in the log uploaded before the cancel, and the hub's
    # refusal of uploads after it is an INFO line in kojid's log, not an error
    assert f"OpenShift build: {name}" in session.downloadTaskOutput(
        task_id, "osbs-client.log").decode()
    kojid_log = sandbox.layout.logs / "kojid.log"
    refusal = f"does not own task {task_id}"
    wait_for("the refused upload in kojid's log", lambda: refusal in kojid_log.read_text(), 10)
    around = [line for line in kojid_log.read_text().splitlines() if refusal in line]
    assert around and all("[INFO]" in line for line in around), around
    if REAL:  # the engine killed buildah with the build
        wait_for("buildah to be gone", lambda: not [
            c for c in own_processes(sandbox.layout.root) if all(w in c for w in buildah_bud)],
            10)
