"""container.yaml is checked against its documented format; every refusal is one line that
names the key, says what is allowed and shows what was found."""

from __future__ import annotations

import pytest
import yaml

from koji_containerbuild.builder.container_yaml import ContainerYamlError, validate

DOCUMENTED_EXAMPLE = """\
---
platforms:
  only:
  - x86_64
  - ppc64le
  not: armhfp
remote_source:
  repo: https://git-forge.example.com/namespace/repo.git
  ref: b55c00f45ec3dfee0c766cea3d395d6e21cc2e5a
  pkg_managers: [npm]
  packages:
    npm:
    - path: client
    - path: proxy
compose:
  packages: [nss_wrapper, httpd]
  pulp_repos: true
  modules: ["module_name1:stream1", "go-toolset:rhel8:8020020200128163444:0ab52eed/default"]
  signing_intent: release
  inherit: true
  multilib_method: [devel, runtime]
  modular_koji_tags: true
  build_only_content_sets:
    x86_64: [rhel-8-for-x86_64-appstream-rpms]
image_build_method: docker_api
autorebuild:
  from_latest: false
  add_timestamp_to_release: false
tags: [latest, "1.0"]
set_release_env: RELEASE
version: 1
operator_manifests:
  manifests_dir: manifests
  repo_replacements:
  - registry: registry.example.com
    package_mappings: {foo-bar: foo/bar}
"""


def error_for(text: str) -> str:
    with pytest.raises(ContainerYamlError) as err:
        validate(yaml.safe_load(text))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_the_documented_example_and_empty_files_are_accepted():
    data = yaml.safe_load(DOCUMENTED_EXAMPLE)
    assert validate(data) == data
    assert validate(None) == {}
    assert validate({"compose": None, "platforms": None, "autorebuild": None})


@pytest.mark.parametrize("text,message", [
    ("- a\n", "container.yaml: a mapping of the documented keys (autorebuild, compose, "),
    ("platform:\n  only: x86_64\n",
     "container.yaml: platform: unknown key (allowed: autorebuild, compose, flatpak, go, "
     "image_build_method, operator_manifests, platforms, remote_source, remote_sources, "
     "set_release_env, tags, version); got a mapping"),
    ("flatpak: org.example.App\n",
     "container.yaml: flatpak: a mapping (id, branch, name, component, base_image, ...); "
     "got 'org.example.App'"),
    ("flatpak:\n  name: [a]\n", "container.yaml: flatpak.name: the name label of the image; "
     "got a list"),
    ("tags: latest\n", "container.yaml: tags: a list of tags; got 'latest'"),
    ("tags: [1.0]\n", "container.yaml: tags[0]: a string; got 1.0"),
    ("autorebuild:\n  from_latest: yes please\n",
     "container.yaml: autorebuild.from_latest: true or false; got 'yes please'"),
    ("image_build_method: podman\n",
     "container.yaml: image_build_method: one of docker_api, imagebuilder, buildah_bud; "
     "got 'podman'"),
    ("compose:\n  multilib_method: [devel, lots]\n",
     "container.yaml: compose.multilib_method[1]: one of none, iso, runtime, devel, all; "
     "got 'lots'"),
    ("compose:\n  modules: ['a:b:c:d:e']\n",
     "container.yaml: compose.modules[0]: a module as NAME:STREAM[:VERSION[:CONTEXT]][/PROFILE]"),
    ("operator_manifests:\n  enable_digest_pinning: true\n",
     "container.yaml: operator_manifests.manifests_dir: required: a path relative to the "
     "repository root; got nothing"),
    ("version: 0\n", "container.yaml: version: an integer of at least 1; got 0"),
    ("remote_source:\n  repo: https://x\n  ref: main\n",
     "container.yaml: remote_source.ref: a full 40-character git commit id; got 'main'"),
    ("go:\n  modules: [{module: m}]\nremote_source:\n  repo: r\n  ref: " + "a" * 40 + "\n",
     "container.yaml: go and remote_source: cannot be used together; got both"),
    ("remote_sources:\n- name: a b\n  remote_source: {repo: r, ref: " + "a" * 40 + "}\n",
     "container.yaml: remote_sources[0].name: letters, digits, _ and -; got 'a b'"),
])
def test_errors_name_the_key_and_what_is_allowed(text, message):
    assert error_for(text).startswith(message)


def test_the_first_wrong_key_in_key_order_is_reported():
    assert error_for("tags: x\nautorebuild: 1\nversion: x\n").startswith(
        "container.yaml: autorebuild:")


def test_odd_keys_and_long_values_stay_on_one_short_line():
    message = error_for('compose:\n  "bad\\nkey": ' + "x" * 500 + "\n")
    assert "compose.'bad\\nkey': unknown key" in message
    assert len(message) < 400


def test_aliases_that_expand_to_a_billion_values_are_refused_at_once():
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(8):
        previous = "a" if level == 0 else f"b{level - 1}"
        text += f"b{level}: &b{level} [" + ", ".join([f"*{previous}"] * 10) + "]\n"
    assert error_for(text) == ("container.yaml: more than 100000 values once YAML aliases are "
                               "expanded; write the values out")
