"""osbs-client 1.10's repository and label rules, enforced by the builder before it asks
OpenShift anything: a packager gets the same refusal as before, as one line."""

from __future__ import annotations

import pytest

from koji_containerbuild.sandbox.distgit import create_container_repo

from .helpers import STATES, fault_of, user_params

FLATPAK_YAML = ("flatpak:\n  id: org.example.App\n  branch: stable\n"
                "  base_image: registry.sandbox.local/flatpak-build-base:f39\n")
LABELS = ('FROM registry.sandbox.local/sandbox/busybox:latest\n'
          'LABEL com.redhat.component="hello-container" name="{name}" version="{version}" '
          'release="{release}"\n')


def _dockerfile(name="sandbox/hello", version="1.0", release="1"):
    return LABELS.format(name=name, version=version, release=release)


@pytest.mark.parametrize("files,opts,message", [
    ({"container.yaml": "compose:\n  pakages: [httpd]\n"}, {},
     "container.yaml: compose.pakages: unknown key (allowed: build_only_content_sets, "),
    ({"container.yaml": "platforms:\n  only: [x86_64, 7]\n"}, {},
     "container.yaml: platforms.only[1]: a platform name; got 7"),
    ({"container.yaml": "flatpak: org.example.App\n"}, {"flatpak": True},
     "container.yaml: flatpak: a mapping (id, branch, name, component, base_image, ...); "
     "got 'org.example.App'"),
    ({"container.yaml": "flatpak: org.example.App\n"}, {},
     "container.yaml: flatpak: a mapping"),
    ({"container.yml": "platforms:\n  only: x86_64\n"}, {},
     "Repo contains wrong filename: container.yml, expected: container.yaml"),
    ({"container.yml": "{}\n", "container.yaml": "{}\n"}, {},
     "This repo contains both container.yaml and container.yml Please remove container.yml"),
    ({"content_sets.yaml": "x86_64: [rhel-8-for-x86_64-baseos-rpms]\n"}, {},
     "Repo contains wrong filename: content_sets.yaml, expected: content_sets.yml"),
    ({"Dockerfile": _dockerfile(release="1-2")}, {},
     "release label doesn't have proper format: '1-2' doesn't match regex"),
    ({"Dockerfile": _dockerfile(version="1.0-beta")}, {},
     "version label '1.0-beta' contains not allowed chars : '['-']'"),
    ({"Dockerfile": _dockerfile(name="registry.example.com/hello")}, {},
     "initial image name component must not contain '.'"),
    ({"container.yaml": FLATPAK_YAML}, {"flatpak": True},
     '"compose" config is missing "modules", required for Flatpak'),
    ({"container.yaml": FLATPAK_YAML + "compose:\n  modules: [hello]\n"}, {"flatpak": True},
     "container.yaml: compose.modules[0]: a module as NAME:STREAM[:VERSION[:CONTEXT]][/PROFILE]; "
     "got 'hello'"),
    ({"container.yaml": FLATPAK_YAML + "compose:\n  modules: ['hello.app:stable']\n"},
     {"flatpak": True}, "initial image name component must not contain '.'"),
])
def test_repository_rules_refuse_before_any_openshift_call(world, files, opts, message):
    sha = create_container_repo(world.git.base, "rules", extra_files=files)
    task_id = world.submit({"scratch": True, **opts}, src=world.src(sha, "rules"))
    assert world.run(task_id)["state"] == STATES["FAILED"]
    fault = fault_of(world, task_id)
    assert message in fault
    assert "\n" not in fault.strip()
    assert "Traceback" not in fault and "AttributeError" not in fault
    assert world.sim.requests == []


def test_flatpak_name_and_component_default_to_the_first_module(world):
    sha = create_container_repo(world.git.base, "flatpak-app", extra_files={
        "container.yaml": FLATPAK_YAML + "compose:\n  modules: [eog:stable, other:f39]\n"})
    task_id = world.submit({"flatpak": True, "scratch": True},
                           src=world.src(sha, "flatpak-app"))
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    [build] = world.builds()
    params = user_params(build)
    # the name label (not the repository's name) names the image stream, as osbs-client did
    assert params["imagestream_name"].endswith("-eog"), params["imagestream_name"]
    assert params["component"] == "flatpak-app"   # OSBS's component stays the repository's


def test_empty_flatpak_section_is_no_flatpak(world):
    """osbs-client's is_flatpak is the section's truth value: `flatpak: {}` builds an image."""
    sha = create_container_repo(world.git.base, "notflatpak",
                                extra_files={"container.yaml": "flatpak: {}\n"})
    task_id = world.submit({"scratch": True}, src=world.src(sha, "notflatpak"))
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
