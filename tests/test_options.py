"""The options contract on its own: what the CLI, hub and builder all rely on."""

from __future__ import annotations

import pytest

from koji_containerbuild import options
from koji_containerbuild.options import OptionsError

from .hub.payloads import IMAGE_PAYLOADS, SOURCE_PAYLOADS


@pytest.mark.parametrize("payload", IMAGE_PAYLOADS, ids=[p[0] for p in IMAGE_PAYLOADS])
def test_normalised_image_options_are_a_fixed_point(payload):
    once = options.validate_image_options(payload[2])
    assert options.validate_image_options(once) == once == payload[5]


@pytest.mark.parametrize("payload", SOURCE_PAYLOADS, ids=[p[0] for p in SOURCE_PAYLOADS])
def test_normalised_source_options_are_a_fixed_point(payload):
    once = options.validate_source_options(payload[1])
    assert options.validate_source_options(once) == once == payload[4]


def test_arch_override_whitespace_is_normalised():
    opts = options.validate_image_options(
        {"git_branch": "b", "scratch": True, "arch_override": "  x86_64   aarch64 "})
    assert opts["arch_override"] == "x86_64 aarch64"


def test_empty_optional_strings_mean_unset():
    opts = options.validate_image_options(
        {"git_branch": "b", "signing_intent": "", "koji_parent_build": "", "arch_override": ""})
    assert opts == {"git_branch": "b"}


def test_source_nil_values_are_absent():
    assert options.validate_source_options(
        {"koji_build_id": 5, "koji_build_nvr": None, "signing_intent": None}
    ) == {"koji_build_id": 5}


def test_error_names_the_field():
    with pytest.raises(OptionsError) as info:
        options.validate_image_options({"git_branch": "b", "compose_ids": [1, "2"]})
    assert info.value.field == "compose_ids"
    assert "'2' at compose_ids[1]" in str(info.value)


@pytest.mark.parametrize("src", [
    "git+https://src.fedoraproject.org/container/foo.git#0123456789abcdef0123456789abcdef01234567",
    "git://localhost/container/foo#main",
    "git+ssh://user@pkgs.example.org/container/foo.git?subdir#v1.0",
    "https://src.example.org/container/foo.git#abc",
    "git+http://127.0.0.1:9418/container/hello.git#HEAD",
])
def test_accepted_scm_urls(src):
    assert options.check_scm_url(src) == src


@pytest.mark.parametrize("src", [
    "git+https://host#ref",  # no path
    "git+https://@host/p#r",
    "git+https://host/p#r#s",
    "GIT://host/p#r",
    "cvs://host/p#r",
    "git+https://host/p?q",
])
def test_refused_scm_urls(src):
    with pytest.raises(OptionsError) as info:
        options.check_scm_url(src)
    assert info.value.field == "src"


def test_release_pattern_is_osbs_clients_and_linear():
    """The contract's release rule accepts exactly osbs-client's strings, and a long hostile
    value is refused at once (osbs-client's own pattern backtracks exponentially on it)."""
    import itertools
    import re

    osbs_client = re.compile(r"^\d+([._]?[a-zA-Z0-9]+)*$")
    ours = re.compile(options.RELEASE_PATTERN)
    for length in range(1, 6):
        for chars in itertools.product("1a._-", repeat=length):
            value = "".join(chars)
            assert bool(ours.search(value)) == bool(osbs_client.search(value)), value
    hostile = "1" + "a" * 3000 + "!"
    with pytest.raises(OptionsError):
        options.validate_image_options({"git_branch": "b", "release": hostile})
