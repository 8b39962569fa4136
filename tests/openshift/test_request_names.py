"""Names and label values must equal osbs-client 1.10's, or existing BuildConfigs are not found."""

from datetime import datetime

import pytest

from koji_containerbuild.openshift import names


@pytest.mark.parametrize(("git_uri", "branch", "expected"), [
    # reference/osbs1-contract.md §4.2 example
    ("https://src.example.com/containers/foo.git", "rhel-8.4.0", "foo-rhel-840-75fff"),
    # osbs-client's own test vector (tests/constants.py TEST_GIT_URI, test_build_id)
    ("git://hostname/path", "master", "path-master-cd1e4"),
    # the name in the captured orchestrator build's USER_PARAMS (fixtures/openshift-3.9.41)
    ("https://github.com/TomasTomecek/docker-hello-world.git", "master",
     "docker-hello-world-master-bd212"),
])
def test_make_name_from_git_matches_osbs_client(git_uri, branch, expected):
    assert names.make_name_from_git(git_uri, branch) == expected


def test_make_name_from_git_interleaves_long_repo_and_branch_within_53_chars():
    name = names.make_name_from_git("https://src.example.com/rpms/" + "a" * 60 + ".git",
                                    "b" * 60)
    # 46 readable characters taken alternately, '-', then the 5-character hash
    readable, _, hash_part = name.rpartition("-")
    assert len(name) == 53
    assert readable == "a" * 23 + "-" + "b" * 23
    assert len(hash_part) == 5


def test_make_name_from_git_drops_characters_openshift_refuses():
    name = names.make_name_from_git("https://example.com/Containers/My_Repo.GIT/", "Feature/X.1")
    assert name.startswith("yepo-eature1-")
    assert names.make_name_from_git("https://example.com/a/foo.git", None).startswith(
        "foo-unknown-")


def test_repo_short_name_strips_git_suffixes():
    assert names.git_repo_humanish_part("https://h/ns/foo.git") == "foo"
    assert names.git_repo_humanish_part("https://h/ns/foo/.git") == "foo"
    assert names.git_repo_humanish_part("https://h/ns/foo/") == "foo"


@pytest.mark.parametrize(("value", "expected"), [
    ("https://src.example.com/containers/foo.git", "httpssrc.example.comcontainersfoo.git"),
    # uppercase is dropped, not lowered (as in the captured builds' git-full-repo label)
    ("https://github.com/TomasTomecek/docker-hello-world.git",
     "httpsgithub.comomasomecekdocker-hello-world.git"),
    ("rhel-8.4.0", "rhel-8.4.0"),
    ("-leading-and-trailing-", "leading-and-trailing"),
    (None, ""),
])
def test_sanitize_label_value(value, expected):
    assert names.sanitize_label_value(value) == expected


def test_sanitize_label_value_keeps_at_most_62_characters():
    # osbs-client's budget starts at the separator's length, so one string gets 62 characters.
    assert names.sanitize_label_value("x" * 100) == "x" * 62


def test_limit_build_name_cuts_to_63_and_checks_the_pattern():
    assert names.limit_build_name("a" * 70) == "a" * 63
    with pytest.raises(names.InvalidNameError, match="not a valid OpenShift build name"):
        names.limit_build_name("-starts-with-dash")


def test_image_tag_and_direct_names_share_random_part_and_utc_timestamp():
    now = datetime(2021, 6, 9, 10, 10, 10)
    assert names.image_tag("jdoe", "foo", "f34-candidate", 78723, now) == \
        "jdoe/foo:f34-candidate-78723-20210609101010"
    assert names.image_tag("jdoe", "foo", None, 78723, now) == "jdoe/foo:none-78723-20210609101010"
    assert names.direct_build_name("scratch", 78723, now) == "scratch-78723-20210609101010"


@pytest.mark.parametrize(("url", "host"), [
    ("registry.example.com", "registry.example.com"),
    ("https://registry.example.com/v2", "registry.example.com"),
    ("http://localhost:5000/", "localhost:5000"),
])
def test_registry_host(url, host):
    assert names.registry_host(url) == host


def test_registry_host_refuses_paths():
    with pytest.raises(names.InvalidNameError):
        names.registry_host("https://registry.example.com/some/path")


@pytest.mark.parametrize(("base_image", "registry", "organization", "expected"), [
    ("fedora:latest", "source_registry", None, "source_registry-fedora:latest"),  # osbs-client test
    ("fedora:33", "registry.example.com", "org", "registry.example.com-org-fedora:33"),  # §4.2
    ("fedora", "registry.example.com", None, "registry.example.com-fedora:latest"),
    ("rhel7/rhel:7.9", "localhost:5000", "org", "localhost-5000-org-rhel7-rhel:7.9"),
    ("org/fedora:33", "registry.example.com", "org", "registry.example.com-org-fedora:33"),
    ("quay.io/org/img:1", "quay.io", None, "quay.io-org-img:1"),
])
def test_trigger_imagestreamtag(base_image, registry, organization, expected):
    assert names.trigger_imagestreamtag(base_image, registry, organization) == expected


def test_imagestream_name_has_no_tag():
    assert names.imagestream_name("rhel8/foo", "registry.example.com", "org") == \
        "registry.example.com-org-rhel8-foo"
    assert names.imagestream_name("foo", "localhost:5000", None) == "localhost-5000-foo"
