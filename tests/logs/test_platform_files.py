"""The platform-file policy: a `platform:` field gets ``<platform>.log`` only when that is a
plain, unreserved name and one of the first MAX_PLATFORM_FILES platforms."""

from __future__ import annotations

import pytest

from koji_containerbuild.builder import task_support, tasks
from koji_containerbuild.logs.platform_files import (
    MAX_PLATFORM_FILES,
    METADATA_TAG,
    RESERVED_NAMES,
    PlatformFiles,
)


def policy(main_log: str = "orchestrator.log") -> tuple[PlatformFiles, list[str]]:
    problems: list[str] = []
    return PlatformFiles(main_log, problems.append), problems


def test_every_file_the_task_writes_is_reserved():
    assert tasks.CHECKOUT_LOG in RESERVED_NAMES
    assert task_support.PLUGIN_LOG in RESERVED_NAMES
    assert {"metadata.json", "build_annotations.json", "orchestrator.log",
            "user_warnings.log", "openshift-incremental.log"} <= RESERVED_NAMES


def test_a_plain_platform_gets_its_own_file_and_is_remembered():
    files, problems = policy()
    assert files.file_for(b"x86_64") == "x86_64.log"
    assert files.file_for(b"s390x.z15-2") == "s390x.z15-2.log"
    assert files.names == {b"x86_64": "x86_64.log", b"s390x.z15-2": "s390x.z15-2.log"}
    assert problems == []


def test_the_metadata_tag_is_answered_as_itself():
    files, _problems = policy()
    assert files.file_for(METADATA_TAG.encode()) == METADATA_TAG


@pytest.mark.parametrize("raw", [b"../../etc", b"a/b", b".hidden", b"", b"-x", b"x" * 65,
                                 b"gr\xc3\xbc\xc3\x9fe", b"\xff", b"orchestrator",
                                 b"user_warnings", b"osbs-client", b"checkout-for-labels",
                                 b"openshift-incremental"])
def test_unsafe_or_reserved_names_get_no_file(raw):
    files, problems = policy()
    assert files.file_for(raw) == ""
    assert files.names == {raw: ""} and problems == []


def test_the_main_log_is_reserved_too():
    files, _problems = policy("openshift-incremental.log")
    assert files.file_for(b"openshift-incremental") == ""
    files, _problems = policy("x86_64.log")
    assert files.file_for(b"x86_64") == ""


@pytest.mark.parametrize("main_log", ["../x.log", "orchestrator.txt", ".x.log", "a/b.log"])
def test_the_main_log_must_be_a_plain_log_name(main_log):
    with pytest.raises(ValueError, match="plain"):
        policy(main_log)


def test_past_the_cap_platforms_are_refused_and_reported_once():
    files, problems = policy("main.log")
    granted = [files.file_for(f"p{i}".encode()) for i in range(MAX_PLATFORM_FILES)]
    assert granted == [f"p{i}.log" for i in range(MAX_PLATFORM_FILES)]
    assert files.file_for(b"late1") == "" and files.file_for(b"late2") == ""
    assert problems == [f"the build log names more than {MAX_PLATFORM_FILES} platforms; "
                        "lines of further platforms (first: 'late1') stay whole in main.log"]
    # the platforms already granted keep their files, asked again or not
    assert files.file_for(b"p0") == "p0.log"
    assert files.file_for(METADATA_TAG.encode()) == METADATA_TAG


def test_the_cache_is_bounded_and_answers_stay_the_same_beyond_it():
    files, problems = policy()
    fields = [f"f{i}".encode() for i in range(1000)]
    first = [files.file_for(raw) for raw in fields]
    assert len(files.names) == 256
    assert [files.file_for(raw) for raw in fields] == first
    assert first[:MAX_PLATFORM_FILES] == [f"f{i}.log" for i in range(MAX_PLATFORM_FILES)]
    assert set(first[MAX_PLATFORM_FILES:]) == {""} and len(problems) == 1
