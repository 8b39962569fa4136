"""Hub-facing checks of the builder, against a session double with Koji's answer shapes."""

from __future__ import annotations

import koji
import pytest

from koji_containerbuild.builder import checks

STATES = koji.BUILD_STATES


class Session:
    def __init__(self):
        self.targets = {"t": {"name": "t", "build_tag": 5, "build_tag_name": "b",
                              "dest_tag": 6, "dest_tag_name": "d"}}
        self.configs = {5: {"id": 5, "name": "b", "arches": "x86_64 aarch64 i686"}}
        self.packages = {("d", "foo-container"): {"blocked": False},
                         ("d", "bar-container"): {"blocked": True}}
        self.builds = {}
        self.events = []

    def getBuildTarget(self, name, event=None):  # noqa: N802
        self.events.append(event)
        return self.targets.get(name)

    def getBuildConfig(self, tag, event=None):  # noqa: N802
        return self.configs[tag]

    def getPackageConfig(self, tag, pkg):  # noqa: N802
        return self.packages.get((tag, pkg))

    def getBuild(self, info):  # noqa: N802
        if isinstance(info, str) and info == "boom-1-1":
            raise koji.GenericError("hub unavailable")
        return self.builds.get(info)


@pytest.fixture
def session():
    return Session()


def test_unknown_target_is_a_clear_error_at_the_task_event(session):
    with pytest.raises(koji.BuildError, match="Target `nope` not found"):
        checks.get_target(session, "nope", 42)
    assert checks.get_target(session, "t", 42)["dest_tag_name"] == "d"
    assert session.events == [42, 42]


def test_arches_come_from_the_build_tag(session):
    assert checks.get_arches(session, 5, None) == ["x86_64", "aarch64", "i686"]


def test_tag_without_arches(session):
    session.configs[5]["arches"] = ""
    with pytest.raises(koji.BuildError, match=r"No arches for tag b \[5\]"):
        checks.get_arches(session, 5, None)


@pytest.mark.parametrize("scratch,isolated,allowed", [
    (True, False, True), (False, True, True), (False, False, False)])
def test_arch_override_matrix(session, scratch, isolated, allowed):
    """Regression §2.1 #12: only scratch and isolated builds may override arches."""
    call = lambda: checks.get_arches(session, 5, None, arch_override="aarch64",  # noqa: E731
                                     scratch=scratch, isolated=isolated)
    if allowed:
        assert call() == ["aarch64"]
    else:
        with pytest.raises(koji.BuildError,
                           match="arch-override is only allowed for isolated or scratch builds"):
            call()


def test_arch_override_matches_by_canonical_arch(session):
    """i586 and the tag's i686 share the canonical arch i386."""
    assert checks.get_arches(session, 5, None, arch_override="i586 aarch64 aarch64",
                             scratch=True) == ["i586", "aarch64"]


def test_arch_override_naming_an_arch_the_tag_lacks_is_refused_listing_the_tags(session):
    """Issue 15 #6: x86_64 s390x on a tag without s390x built x86_64 only, silently."""
    with pytest.raises(koji.BuildError) as info:
        checks.get_arches(session, 5, None, arch_override="x86_64 s390x", scratch=True)
    assert str(info.value) == ("arch_override s390x not in the arches of build tag b "
                               "(x86_64 aarch64 i686); override with those only")


def test_arch_override_with_nothing_left(session):
    with pytest.raises(koji.BuildError, match="No matching arches were found: arch_override "
                                              "s390x ppc64le not in the arches of build tag b"):
        checks.get_arches(session, 5, None, arch_override="s390x ppc64le", isolated=True)


def test_whitelist(session):
    checks.check_whitelist(session, "foo-container", "d")
    with pytest.raises(koji.BuildError, match="package \\(container\\) baz not in list for tag d"):
        checks.check_whitelist(session, "baz", "d")
    with pytest.raises(koji.BuildError, match="bar-container is blocked for tag d"):
        checks.check_whitelist(session, "bar-container", "d")


@pytest.mark.parametrize("state,refused", [
    ("COMPLETE", True), ("BUILDING", True), ("DELETED", True),
    ("FAILED", False), ("CANCELED", False)])
def test_existing_nvr(session, state, refused):
    """Regressions §2.1 #6 and #22."""
    session.builds["foo-1-1"] = {"id": 9, "nvr": "foo-1-1", "state": STATES[state]}
    if refused:
        with pytest.raises(koji.BuildError, match="Build for foo-1-1 already exists, id 9"):
            checks.check_nvr_unused(session, "foo-1-1")
    else:
        checks.check_nvr_unused(session, "foo-1-1")


def test_nvr_lookup_failure_is_an_error_not_no_build(session):
    with pytest.raises(koji.GenericError, match="hub unavailable"):
        checks.check_nvr_unused(session, "boom-1-1")


def test_repo_host_allow_list():
    checks.check_repo_hosts(["https://x.example.org/a.repo"], [])
    checks.check_repo_hosts(["https://repos.fedoraproject.org/a.repo",
                             "http://dl.fedoraproject.org/b.repo"], [".fedoraproject.org"])
    with pytest.raises(koji.BuildError, match="yum_repourls: https://evil.example.com/a.repo is "
                                              "not on an allowed host"):
        checks.check_repo_hosts(["https://evil.example.com/a.repo"], ["repos.example.org"])
    with pytest.raises(koji.BuildError):
        checks.check_repo_hosts(["https://fedoraproject.org.evil.com/a.repo"],
                                [".fedoraproject.org"])


@pytest.mark.parametrize("image,ok", [
    ("registry.fedoraproject.org/fedora:39", True),
    ("candidate-registry.fedoraproject.org/f39/base", True),
    ("fedora:39", True),  # resolved against the site's source registry by OSBS
    ("scratch", True),
    ("quay.io/evil/image:1", False),
    ("localhost:5000/x", False),
])
def test_parent_registry_allow_list(image, ok):
    allowed = [".fedoraproject.org"]
    if ok:
        checks.check_parent_registry(image, allowed, "FROM")
    else:
        with pytest.raises(koji.BuildError, match=f"FROM: {image} is not from an allowed"):
            checks.check_parent_registry(image, allowed, "FROM")


def _image_build(bid, nvr, image=True, sources=False):
    extra = {"image": {"sources_for_nvr": "x-1-1"} if sources else {}} if image else {}
    return {"id": bid, "nvr": nvr, "name": nvr.rsplit("-", 2)[0], "extra": extra}


def test_source_build_input_checks(session):
    """Regression §2.1 #19: non-image input, source-image input, old builds without typeinfo."""
    good = _image_build(7, "foo-container-1-1")
    session.builds.update({7: good, "foo-container-1-1": good})
    assert checks.get_source_build_info(session, 7, None) is good
    assert checks.get_source_build_info(session, 7, "foo-container-1-1") is good
    with pytest.raises(koji.BuildError, match="specified source build '8' doesn't exist"):
        checks.get_source_build_info(session, 8, None)
    with pytest.raises(koji.BuildError, match="koji_build_id 8 does not match koji_build_nvr"):
        checks.get_source_build_info(session, 8, "foo-container-1-1")
    rpm = _image_build(3, "bash-5-1", image=False)
    session.builds["bash-5-1"] = rpm
    with pytest.raises(koji.BuildError, match="bash-5-1 is not image build"):
        checks.get_source_build_info(session, None, "bash-5-1")
    src = _image_build(4, "foo-container-source-1-1", sources=True)
    session.builds["foo-container-source-1-1"] = src
    with pytest.raises(koji.BuildError, match="is source container build"):
        checks.get_source_build_info(session, None, "foo-container-source-1-1")
