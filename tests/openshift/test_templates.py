"""Site build templates in build_json_dir: osbs-client 1.10's shipped shapes render exactly like
the built-in defaults, and what a site changes in them reaches the Build/BuildConfig."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from koji_containerbuild.openshift.request import (
    BuildRequestError,
    render_build,
    render_build_config,
    render_source_build,
)
from koji_containerbuild.openshift.templates import (
    BUILT_IN,
    IMAGE_STREAM,
    IMAGE_STREAM_TAG,
    ORCHESTRATOR,
    ORCHESTRATOR_SOURCES,
    TemplateError,
    load_template,
)
from tests.fixtures import OSBS_TEMPLATES

from .test_request_render import (
    BUILDROOT,
    INSTANCE,
    NOW,
    PARAMS,
    RAND,
    REACTOR,
    SCRATCH_INSTANCE,
    user_params,
)
from .test_request_render import SourceBuildParams as _SourceBuildParams

AUTOREBUILD = replace(PARAMS, autorebuild_enabled=True)
SOURCE = _SourceBuildParams(user="jdoe", component="foo-container-source",
                            koji_target="candidate", koji_task_id=9,
                            sources_for_koji_build_id=1234)
FIXED = {"rand": RAND, "now": NOW}


@pytest.fixture
def site(tmp_path):
    """A build_json_dir holding osbs-client 1.10's shipped templates, for a site to edit."""
    target = tmp_path / "osbs"
    shutil.copytree(OSBS_TEMPLATES, target)
    return target


def edit(site, name: str, change) -> None:
    path = site / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_shipped_templates_render_exactly_like_the_built_in_defaults(site):
    for name in BUILT_IN:
        assert load_template(str(site), name) == BUILT_IN[name]
    orchestrator = load_template(str(site), ORCHESTRATOR)
    assert render_build_config(INSTANCE, REACTOR, AUTOREBUILD, template=orchestrator,
                               **FIXED) == render_build_config(INSTANCE, REACTOR, AUTOREBUILD,
                                                               **FIXED)
    scratch = replace(PARAMS, scratch=True)
    assert render_build(SCRATCH_INSTANCE, REACTOR, scratch, BUILDROOT, template=orchestrator,
                        **FIXED) == render_build(SCRATCH_INSTANCE, REACTOR, scratch, BUILDROOT,
                                                 **FIXED)
    sources = load_template(str(site), ORCHESTRATOR_SOURCES)
    assert render_source_build(INSTANCE, REACTOR, SOURCE, BUILDROOT, template=sources,
                               **FIXED) == render_source_build(INSTANCE, REACTOR, SOURCE,
                                                               BUILDROOT, **FIXED)


def test_absent_files_mean_the_built_in_defaults(tmp_path):
    assert load_template(str(tmp_path / "nothing-here"), ORCHESTRATOR) == BUILT_IN[ORCHESTRATOR]
    copy = load_template(str(tmp_path), IMAGE_STREAM)
    copy["metadata"]["name"] = "changed"
    assert BUILT_IN[IMAGE_STREAM]["metadata"]["name"] == "{{NAME}}"    # callers get a copy


def test_what_a_site_adds_to_orchestrator_json_reaches_the_build_config(site):
    def customise(template):
        template["metadata"]["labels"]["site"] = "example"
        template["metadata"]["annotations"] = {"owner": "releng"}
        template["spec"]["nodeSelector"] = {"osbs": "orchestrator"}
        template["spec"]["runPolicy"] = "SerialLatestOnly"
        custom = template["spec"]["strategy"]["customStrategy"]
        custom["env"].append({"name": "SITE_PROXY", "value": "http://proxy.example.com"})
        custom["secrets"].append({"secretSource": {"name": "kojisecret"},
                                  "mountPath": "/var/run/secrets/atomic-reactor/kojisecret"})
        template["spec"]["resources"] = {"limits": {"cpu": "1"}}
    edit(site, ORCHESTRATOR, customise)
    instance = replace(INSTANCE, build_json_dir=str(site), memory_limit="4Gi")
    config = render_build_config(instance, REACTOR, AUTOREBUILD,
                                 template=load_template(str(site), ORCHESTRATOR), **FIXED)
    meta, spec = config["metadata"], config["spec"]
    assert meta["labels"]["site"] == "example" and meta["labels"]["git-repo-name"] == "foo"
    assert meta["annotations"] == {"owner": "releng"}
    assert spec["nodeSelector"] == {"osbs": "orchestrator"}
    assert spec["runPolicy"] == "SerialLatestOnly"
    assert spec["resources"] == {"limits": {"cpu": "1", "memory": "4Gi"}}
    custom = spec["strategy"]["customStrategy"]
    assert [e["name"] for e in custom["env"]] == \
        ["SITE_PROXY", "REACTOR_CONFIG", "USER_PARAMS", "HTTP_PROXY"]
    mounted = [s["secretSource"]["name"] for s in custom["secrets"]]
    assert mounted.count("kojisecret") == 1 and "v2-registry-dockercfg" in mounted
    # the fields osbs-client owns are still ours
    assert meta["name"] == "foo-rhel-840-75fff"
    assert spec["source"]["git"]["uri"] == PARAMS.git_uri
    assert spec["triggers"][0]["imageChange"]["from"]["name"] == \
        "registry.example.com-rh-osbs-ubi8:8.4"
    assert user_params(config)["build_json_dir"] == str(site)   # atomic-reactor reads inner


def test_a_site_without_triggers_has_no_autorebuilds(site):
    edit(site, ORCHESTRATOR, lambda template: template["spec"].pop("triggers"))
    config = render_build_config(INSTANCE, REACTOR, AUTOREBUILD,
                                 template=load_template(str(site), ORCHESTRATOR), **FIXED)
    assert "triggers" not in config["spec"]


def test_site_env_repeated_by_build_env_vars_is_refused(site):
    edit(site, ORCHESTRATOR, lambda t: t["spec"]["strategy"]["customStrategy"]["env"].append(
        {"name": "HTTP_PROXY", "value": "http://other"}))
    with pytest.raises(BuildRequestError, match=r"already exists\): HTTP_PROXY"):
        render_build_config(INSTANCE, REACTOR, PARAMS,
                            template=load_template(str(site), ORCHESTRATOR))


def test_site_source_template_changes_reach_the_source_build(site):
    edit(site, ORCHESTRATOR_SOURCES,
         lambda t: t["metadata"]["labels"].update({"site": "example"}))
    build = render_source_build(INSTANCE, REACTOR, SOURCE, BUILDROOT,
                                template=load_template(str(site), ORCHESTRATOR_SOURCES))
    assert build["metadata"]["labels"]["site"] == "example"
    assert build["kind"] == "Build" and build["metadata"]["labels"]["koji-task-id"] == "9"


@pytest.mark.parametrize("text, message", [
    ("{not json", r"orchestrator.json: not valid JSON"),
    ("[]", r"orchestrator.json: must be a JSON object"),
    ('{"metadata": {}, "spec": {"output": {"to": {}}}}',
     r"orchestrator.json: spec.strategy must be a JSON object"),
    ('{"metadata": {}, "spec": {"output": {"to": {}}, "strategy": {"customStrategy": '
     '{"from": {}, "env": {}}}}}', r"spec.strategy.customStrategy.env must be a JSON list"),
])
def test_a_broken_site_template_is_one_line_naming_it(site, text, message):
    (site / ORCHESTRATOR).write_text(text)
    with pytest.raises(TemplateError, match=message) as info:
        load_template(str(site), ORCHESTRATOR)
    assert str(site / ORCHESTRATOR) in str(info.value) and "\n" not in str(info.value)


def test_image_stream_templates_are_the_sites_too(site):
    edit(site, IMAGE_STREAM, lambda t: t["metadata"].update({"labels": {"site": "x"}}))
    edit(site, IMAGE_STREAM_TAG, lambda t: t["tag"].update(
        {"referencePolicy": {"type": "Local"}}))
    assert load_template(str(site), IMAGE_STREAM)["metadata"]["labels"] == {"site": "x"}
    assert load_template(str(site), IMAGE_STREAM_TAG)["tag"]["referencePolicy"] == \
        {"type": "Local"}


def test_no_directory_never_reads_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / ORCHESTRATOR).write_text("{broken")
    monkeypatch.chdir(tmp_path)
    assert load_template(None, ORCHESTRATOR) == BUILT_IN[ORCHESTRATOR]
    assert load_template("", ORCHESTRATOR) == BUILT_IN[ORCHESTRATOR]
    assert "triggers" in render_build_config(INSTANCE, REACTOR, AUTOREBUILD)["spec"]
