"""Error messages for the configuration reference, produced by running the real loaders
and the builder's fault translation on broken input (so the docs quote real texts)."""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from typing import Any, Callable

import koji

from koji_containerbuild import config
from koji_containerbuild.builder import source, task_support
from koji_containerbuild.cli import distgit
from koji_containerbuild.openshift.errors import error_from_response
from koji_containerbuild.openshift.request import BuildParams, render_build
from koji_containerbuild.openshift.submit import submit_image_build
from koji_containerbuild.openshift.templates import ORCHESTRATOR, TemplateError, load_template


class DocsDrift(Exception):
    """The code's configuration tables and this module's descriptions no longer match."""


def _fault_text(action: Callable[[], Any]) -> str:
    """What a task shows when ``action`` fails inside the builder's error translation."""
    try:
        with task_support.koji_faults():
            action()
    except koji.GenericError as exc:
        # The client sees the Koji fault class of the fault code, as `koji watch-task` prints.
        seen = koji.convertFault(koji.xmlrpcplus.Fault(exc.faultCode, str(exc)))
        return f"{type(seen).__name__}: {seen}"
    raise DocsDrift("expected an error, the code accepted the input")


class _NoBuilds:
    """Stands in for the OpenShift client where submit only asks for this task's builds."""

    def list_builds(self, **_: Any) -> list:
        return []


def osbs_conf_errors() -> list[tuple[str, str]]:
    """(situation, exact task fault) for broken osbs.conf files, produced by the loader."""
    base = ("[general]\nbuild_json_dir = /usr/share/osbs/\n\n[default]\n"
            "openshift_url = https://osbs.example.org/\ntoken = t\n")
    cases = [
        ("the file is missing", None, False),
        ("not an INI file", "openshift_url = https://osbs.example.org/\n", False),
        ("`[general] build_json_dir` missing", "[default]\nopenshift_url = https://o/\n", False),
        ("no `[default]` section", "[general]\nbuild_json_dir = /usr/share/osbs/\n", False),
        ("scratch build, no `[scratch]` section", base, True),
        ("no `openshift_url`", base.replace("openshift_url = https://osbs.example.org/\n", ""),
         False),
        ("`openshift_url` without scheme", base.replace("https://", ""), False),
        ("an integer key that is not one", base + "arrangement_version = six\n", False),
        ("`arrangement_version` below 6", base + "arrangement_version = 5\n", False),
        ("`client_cert` without `client_key`", base + "client_cert = /etc/osbs/c.pem\n", False),
        ("`use_auth = true` and no token", base.replace("token = t\n", "use_auth = true\n"),
         False),
        ("`token_file` unreadable", base.replace("token = t\n", "token_file = /nonexistent\n"),
         False),
    ]
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "osbs.conf")
        for situation, text, scratch in cases:
            if text is None:
                if os.path.exists(path):
                    os.unlink(path)
            else:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
            message = _fault_text(lambda s=scratch: config.load_osbs_instance(
                scratch=s, path=path, home=tmp, service_account_dir=tmp))
            found.append((situation, message.replace(path, config.OSBS_CONF)))
    return found


def osbs_unknown_key_warning() -> str:
    """The kojid log line for a key osbs-client 1.10 does not read (the file still loads)."""
    records: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = _Keep(logging.WARNING)
    config.log.addHandler(handler)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "osbs.conf")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("[general]\nbuild_json_dir = /usr/share/osbs/\n\n[default]\n"
                             "openshift_url = https://o/\ntoken = t\nregistry_uri = r\n")
            config.load_osbs_instance(path=path, home=tmp, service_account_dir=tmp)
            return records[-1].replace(path, config.OSBS_CONF)
    finally:
        config.log.removeHandler(handler)


def _forbidden() -> None:
    """How an OpenShift refusal reads: the request, the status, OpenShift's own message."""
    body = (b'{"kind": "Status", "reason": "Forbidden", "message": "builds.build.openshift.io '
            b'is forbidden: User \\"system:serviceaccount:osbs:kojid\\" cannot create builds.'
            b'build.openshift.io in the namespace \\"osbs\\""}')
    raise error_from_response(403, body, "POST /apis/build.openshift.io/v1/namespaces/osbs/"
                                         "builds")


def _broken_template() -> None:
    """A site's orchestrator.json that is not JSON, as the task reports it."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, ORCHESTRATOR), "w") as handle:
            handle.write('{"kind": "BuildConfig",\n')
        try:
            load_template(tmp, ORCHESTRATOR)
        except TemplateError as exc:
            raise TemplateError(str(exc).replace(tmp, "/usr/share/osbs")) from None


def submit_errors() -> list[tuple[str, str]]:
    """(situation, exact task fault) for osbs.conf values only checked when submitting."""
    good = config.OsbsInstance(
        conf_file=config.OSBS_CONF, section="default", build_json_dir="/usr/share/osbs/",
        openshift_url="https://osbs.example.org/", build_from="imagestream:buildroot:latest",
        reactor_config_map="reactor-config-map", can_orchestrate=True)
    params = BuildParams(
        user="jdoe", component="foo", git_uri="https://src.example.org/container/foo.git",
        git_ref="0" * 40, git_branch="f39", koji_target="f39-container-candidate",
        koji_task_id=1, name_label="foo", base_image="fedora:39", scratch=True)
    reactor = {"source_registry": {"url": "registry.example.org"}}
    replace = dataclasses.replace
    return [
        ("`reactor_config_map` not set",
         _fault_text(lambda: submit_image_build(
             _NoBuilds(), replace(good, reactor_config_map=None), params))),
        ("`can_orchestrate` not true",
         _fault_text(lambda: render_build(replace(good, can_orchestrate=False), reactor,
                                          params, "registry.example.org/buildroot:1"))),
        ("`build_from` not set",
         _fault_text(lambda: render_build(replace(good, build_from=None), reactor, params,
                                          None))),
        ("`build_from` of another form",
         _fault_text(lambda: render_build(replace(good, build_from="docker:buildroot"),
                                          reactor, params, None))),
        ("the token's identity may not create builds (HTTP 403)",
         _fault_text(_forbidden)),
        ("the ConfigMap has no `source_registry`",
         _fault_text(lambda: render_build(good, {}, params, "registry.example.org/b:1"))),
        ("a template in `build_json_dir` is not valid JSON",
         _fault_text(_broken_template)),
    ]


def plugin_file_errors() -> list[tuple[str, str]]:
    """(situation, exact fault) for broken plugin files, produced by the loaders."""
    cases = (
        ("builder file: a misspelt key", config.load_builder_settings,
         config.BUILDER_PLUGIN_CONF, "[tasks]\npending_timout = 60\n"),
        ("builder file: a value of the wrong type", config.load_builder_settings,
         config.BUILDER_PLUGIN_CONF, "[tasks]\npending_timeout = soon\n"),
        ("hub file: a key in the wrong section", config.load_hub_settings,
         config.HUB_PLUGIN_CONF, "[permission]\nbuild_permission = packager\n"),
    )
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "plugin.conf")
        for situation, loader, real_path, text in cases:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            message = _fault_text(lambda ld=loader: ld(path))
            found.append((situation, message.replace(path, real_path)))
    return found


def scm_errors() -> list[tuple[str, str]]:
    """(situation, exact task fault) for the kojid.conf SCM options."""
    url = "git+https://src.example.org/container/foo.git#" + "0" * 40

    def not_allowed() -> None:
        scm = source.make_scm(url)
        source.assert_allowed(scm, source.ScmRules(allowed_scms="src.example.org:/rpms/*:no:"))

    return [
        ("the repository is not in `allowed_scms`", _fault_text(not_allowed)),
        ("a password in the URL, `allow_password_in_scm_url` off",
         _fault_text(lambda: source.make_scm(url.replace("https://", "https://jdoe:s3cret@")))),
    ]


def cli_errors() -> list[tuple[str, str]]:
    template = "https://src.example.org/container.git"
    try:
        distgit.fill_template(template, "container/foo")
    except distgit.DistGitError as exc:
        return [(f"a template naming no repository (`{template}`)", f"koji: error: {exc}")]
    raise DocsDrift("fill_template accepted a template without {repo}")
