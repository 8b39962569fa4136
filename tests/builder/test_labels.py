"""Dockerfile labels → NVR as packagers rely on (upstream-features.md §1.6, §2.1 #7, #21)."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

import pytest

from koji_containerbuild.builder.labels import (
    ImageLabels,
    LabelId,
    LabelsError,
    format_label,
    parse_dockerfile,
)

FULL = """\
FROM registry.example.com/base:1
LABEL com.redhat.component=foo-container name=ns/foo version=1.0 release=3
"""


def labels_of(text: str, **overrides) -> ImageLabels:
    return ImageLabels.from_dockerfile(text, overrides or None)


def test_full_labels_give_the_nvr_and_image_name():
    labels = labels_of(FULL)
    labels.check_required()
    assert labels.expected_nvr() == 'foo-container-1.0-3'
    assert labels.image_name() == 'ns/foo'
    assert labels.version_release_tag() == '1.0-3'


def test_regression_21_version_from_env_without_release():
    # kcb@88217a9: version from ENV, no release label, explicit component/name → accepted, no NVR.
    labels = labels_of("""\
FROM base
ENV APP_VERSION=2.4
LABEL com.redhat.component=foo-container name=ns/foo version=$APP_VERSION
""")
    labels.check_required()
    assert labels.version == '2.4'
    assert labels.release is None
    assert labels.expected_nvr() is None
    assert labels.version_release_tag() is None


def test_version_from_unset_env_is_defined_but_empty_and_accepted():
    labels = labels_of("""\
FROM base
LABEL com.redhat.component=foo name=foo version=$FROM_PARENT_IMAGE release=1
""")
    labels.check_required()
    assert labels.version == ''
    assert labels.expected_nvr() is None   # empty version: OSBS decides, no duplicate check


def test_component_and_name_must_be_explicit_not_empty():
    labels = labels_of("""\
FROM base
LABEL com.redhat.component=$UNSET name="" version=1
""")
    with pytest.raises(LabelsError) as err:
        labels.check_required()
    assert str(err.value) == ("Required LABELs haven't been found in Dockerfile: "
                              "com.redhat.component (or BZComponent), name (or Name).")


def test_all_required_missing_message_lists_them_in_upstream_order():
    with pytest.raises(LabelsError) as err:
        labels_of('FROM base\nLABEL release=1\n').check_required()
    assert str(err.value) == ("Required LABELs haven't been found in Dockerfile: "
                              "com.redhat.component (or BZComponent), version (or Version), "
                              "name (or Name).")


def test_release_override_wins_over_label_and_over_missing_label():
    assert labels_of(FULL, release='7').expected_nvr() == 'foo-container-1.0-7'
    no_release = FULL.replace(' release=3', '')
    assert labels_of(no_release, release='9.el8').expected_nvr() == 'foo-container-1.0-9.el8'
    assert labels_of(no_release, release=None).expected_nvr() is None


def test_deprecated_names_are_accepted_and_reported():
    labels = labels_of("""\
FROM base
LABEL BZComponent=old-container Name=old Version=5 Release=2
""")
    labels.check_required()
    assert labels.expected_nvr() == 'old-container-5-2'
    assert sorted(labels.deprecated_names_used()) == [
        ('BZComponent', 'com.redhat.component'), ('Name', 'name'),
        ('Release', 'release'), ('Version', 'version')]


def test_preferred_name_wins_when_both_spellings_exist():
    labels = labels_of("""\
FROM base
LABEL BZComponent=old com.redhat.component=new name=n version=1 release=1
""")
    assert labels.component == 'new'
    assert labels.deprecated_names_used() == []


def test_labels_come_from_the_final_stage_only():
    info = parse_dockerfile("""\
FROM golang:1.20 AS builder
LABEL com.redhat.component=builder-thing name=builder version=0 release=0
RUN make
FROM registry.example.com/ubi8:latest
ENV V=3.1
LABEL com.redhat.component=app-container name=ns/app version=${V} release=1
COPY --from=builder /out /app
""")
    assert info.is_multistage
    assert info.base_image == 'registry.example.com/ubi8:latest'
    assert info.parent_images == ('golang:1.20', 'registry.example.com/ubi8:latest')
    labels = ImageLabels(info.labels)
    assert labels.expected_nvr() == 'app-container-3.1-1'


def test_earlier_stage_labels_do_not_leak_into_final_stage():
    labels = labels_of("""\
FROM base AS first
LABEL com.redhat.component=leaked name=leaked version=1
FROM base
LABEL release=1
""")
    assert labels.missing_required() == [LabelId.COMPONENT, LabelId.VERSION, LabelId.NAME]


def test_from_scratch_and_arg_in_from_are_resolved():
    info = parse_dockerfile('ARG BASE=registry.example.com/base:2\nFROM $BASE\nLABEL a=b\n')
    assert info.base_image == 'registry.example.com/base:2'
    assert not info.from_scratch
    assert parse_dockerfile('FROM scratch\nLABEL a=b\n').from_scratch


def test_dockerfile_without_from_is_refused():
    with pytest.raises(LabelsError, match='no FROM'):
        parse_dockerfile('LABEL name=x\n')


def test_parsing_never_writes_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parse_dockerfile(FULL)
    labels_of(FULL).check_required()
    assert list(tmp_path.iterdir()) == []


def test_format_label():
    assert format_label(LabelId.COMPONENT) == 'com.redhat.component (or BZComponent)'
    assert format_label(LabelId.VERSION) == 'version (or Version)'


# --- tag length (regression #7: additional-tags read, tag built from values not label names)

def _labels_with(version: str, release: str | None) -> ImageLabels:
    data = {'com.redhat.component': 'c', 'name': 'n', 'version': version}
    if release is not None:
        data['release'] = release
    return ImageLabels(data)


def test_long_additional_tag_is_refused_with_upstream_message():
    with pytest.raises(LabelsError) as err:
        _labels_with('1', '1').check_tag_lengths(['ok', 'x' * 129])
    assert str(err.value) == ('Docker cannot create image with a tag longer than 128, '
                              'current version-release tag length is 129')


def test_long_additional_tag_is_refused_also_without_release():
    with pytest.raises(LabelsError, match='length is 130'):
        _labels_with('1', None).check_tag_lengths(['y' * 130])


def test_version_release_tag_length_counts_values_not_label_names():
    # version (120) + '-' + release (8) = 129
    with pytest.raises(LabelsError, match='length is 129'):
        _labels_with('v' * 120, 'r' * 8).check_tag_lengths([])
    _labels_with('v' * 119, 'r' * 8).check_tag_lengths(['t' * 128])   # exactly 128 passes


def test_without_release_the_long_version_alone_is_not_a_tag():
    _labels_with('v' * 200, None).check_tag_lengths(['latest'])


def test_release_override_counts_for_the_tag():
    labels = ImageLabels({'com.redhat.component': 'c', 'name': 'n', 'version': 'v' * 120},
                         {'release': 'r' * 10})
    with pytest.raises(LabelsError, match='length is 131'):
        labels.check_tag_lengths()


# --- checks osbs-client 1.10 made before creating a build

@pytest.mark.parametrize('release', ['1', '12.el8', '3_1a', '2.0.rc1'])
def test_osbs_accepts_release_formats(release):
    _labels_with('1', release).check_osbs_rules()


@pytest.mark.parametrize('release', ['a1', '1-2', '1..2', '1.'])
def test_osbs_rejects_release_formats(release):
    with pytest.raises(LabelsError) as err:
        _labels_with('1', release).check_osbs_rules()
    assert str(err.value).startswith("release label doesn't have proper format: ")
    assert repr(release) in str(err.value)


def test_release_rule_accepts_exactly_what_osbs_client_accepted():
    osbs_client = re.compile(r'^\d+([._]?[a-zA-Z0-9]+)*$')   # osbs/constants.py, 1.10.0
    for length in range(1, 7):
        for chars in itertools.product('1a._-', repeat=length):
            release = ''.join(chars)
            labels = _labels_with('1', release)
            if osbs_client.match(release):
                labels.check_osbs_rules()
            else:
                with pytest.raises(LabelsError):
                    labels.check_osbs_rules()


def test_a_release_label_built_to_backtrack_is_refused_not_hung():
    """osbs-client's own pattern would not finish on this label in our lifetime (and holds
    the GIL meanwhile, hence a child process)."""
    code = ("from koji_containerbuild.builder.labels import ImageLabels, LabelsError\n"
            "labels = ImageLabels({'com.redhat.component': 'c', 'name': 'n', 'version': '1',\n"
            "                      'release': '1' + 'a' * 200 + '-'})\n"
            "try:\n    labels.check_osbs_rules()\nexcept LabelsError as exc:\n    print(exc)\n")
    try:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("the release check did not finish")
    assert "doesn't have proper format" in run.stdout


def test_osbs_rejects_dash_in_version_and_dot_in_first_name_component():
    with pytest.raises(LabelsError) as err:
        _labels_with('1-2', '1').check_osbs_rules()
    assert str(err.value) == "version label '1-2' contains not allowed chars : '['-']'"
    labels = ImageLabels({'com.redhat.component': 'c', 'name': 'registry.io/foo', 'version': '1'})
    with pytest.raises(LabelsError, match="initial image name component must not contain '.'"):
        labels.check_osbs_rules()
    ImageLabels({'com.redhat.component': 'c', 'name': 'ns/foo.bar', 'version': '1'}
                ).check_osbs_rules()
