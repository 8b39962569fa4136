"""Render the configuration reference (docs/configuration.md) and the sample files in conf/.

Keys, defaults and help texts come from ``config``'s own tables; every error message quoted is
produced by running the real loaders on broken input. tests/test_docs.py compares the committed
files with this output, so a key added to the code without documentation (or documented without
existing) fails the tests. Regenerate with::

    python -m koji_containerbuild.docs_config > docs/configuration.md
    python -m koji_containerbuild.docs_config --sample hub > conf/hub_containerbuild.conf
    python -m koji_containerbuild.docs_config --sample builder > conf/builder_containerbuild.conf
    python -m koji_containerbuild.docs_config --sample osbs > conf/osbs.conf.example
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

import koji

from . import cli, config, distgit, source, task_support
from .openshift.errors import error_from_response
from .openshift.request import BuildParams, render_build
from .openshift.submit import submit_image_build


class DocsDrift(Exception):
    """The code's configuration tables and this module's descriptions no longer match."""


# Meaning (and, where the dataclass default would mislead, the default) of every instance key.
OSBS_KEY_DOCS: dict[str, tuple[Optional[str], str]] = {
    "openshift_url": ("mandatory", "Base URL of the OpenShift API, e.g. "
                      "`https://osbs.example.org:8443/`; must start with `https://` or `http://`."),
    "openshift_uri": ("", "Deprecated spelling of `openshift_url`, read as that key."),
    "namespace": (None, "Project of the builds, BuildConfigs, the reactor ConfigMap and pods."),
    "token": ("see below", "Bearer token of the identity that submits builds; wins over "
              "`token_file`. Never logged."),
    "token_file": ("", "File holding the token (whitespace stripped, `~` expanded)."),
    "use_auth": ("auto", "Send a token. Unset: on when a token was found (see the precedence "
                 "below); `true` with no token is an error."),
    "verify_ssl": (None, "Verify the API's TLS certificate. Keep it on."),
    "ca_bundle": ("", "**Extension, not in osbs-client:** CA file to verify the API with instead "
                  "of the system bundle. With the pod's service-account token, its `ca.crt` is "
                  "used unless this is set."),
    "client_cert": ("", "TLS client certificate; needs `client_key`."),
    "client_key": ("", "Key of `client_cert`; needs `client_cert`."),
    "build_from": ("needed to submit", "Buildroot (atomic-reactor) image: `image:<pullspec>` or "
                   "`imagestream:<name:tag>`."),
    "reactor_config_map": ("needed to submit", "ConfigMap with atomic-reactor's configuration "
                           "(key `config.yaml`); read at every submit for `source_registry` "
                           "(mandatory), `pull_registries`, `registries_organization`, "
                           "`required_secrets`, `worker_token_secrets`, `build_env_vars`, "
                           "`flatpak.base_image` and `source_container`."),
    "can_orchestrate": (None, "Must be `true`: image builds are orchestrator builds."),
    "arrangement_version": (None, "atomic-reactor inner template version; only 6 works."),
    "cpu_limit": ("", "`spec.resources.limits.cpu` of every build (needed when a ResourceQuota "
                  "covers cpu)."),
    "memory_limit": ("", "`spec.resources.limits.memory` of every build."),
    "storage_limit": ("", "`spec.resources.limits.storage` of every build."),
    "orchestrator_max_run_hours": (None, "Deadline of image builds: `completionDeadlineSeconds` "
                                   "= hours × 3600; 0 or less: no deadline."),
    "worker_max_run_hours": (None, "Deadline of source container builds (osbs-client gives them "
                             "the worker deadline); also passed to atomic-reactor."),
    "scratch": ("", "When set, overrides the task's scratch flag while rendering the build, as "
                "osbs-client did: `true` in `[default]` makes every build a direct scratch "
                "Build. Leave it unset."),
}

# Why the accepted-but-unused keys do nothing; together they must be OSBS_IGNORED_KEYS.
OSBS_IGNORED_GROUPS: tuple[tuple[str, frozenset[str]], ...] = (
    ("OAuth login with a password or Kerberos, which this plugin does not do: use a token.",
     frozenset({"username", "password", "use_kerberos", "kerberos_keytab",
                "kerberos_principal", "kerberos_ccache"})),
    ("Node selectors: osbs-client applies them to worker builds only, which the orchestrator "
     "creates with its own client configuration. `node_selector.<platform>` keys too.",
     frozenset({"scratch_build_node_selector", "explicit_build_node_selector",
                "auto_build_node_selector", "isolated_build_node_selector"})),
    ("Defaults of the `osbs` command line tool.",
     frozenset({"git_url", "git_commit", "git_branch", "user", "tag", "yum_repourls",
                "dependency_replacements", "flatpak", "target"})),
    ("`[general]` keys; in an instance section they mean nothing.",
     frozenset({"verbose", "openshift_required_version", "build_json_dir"})),
)

# kojid.conf options the builder plugin reads: (option, kojid's default, what we do with it).
KOJID_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("allowed_scms", "(empty)", "Which SCM URLs may be built (`host:repository[:use_common"
     "[:source_cmd]]`, `!` to block, first match wins). The DistGit container namespace must "
     "be listed; `use_common` and `source_cmd` are ignored (forced off) for container builds."),
    ("allowed_scms_use_config", "true", "Check `allowed_scms`."),
    ("allowed_scms_use_policy", "false", "Also ask the hub's `build_from_scm` policy (with "
     "`user_id`, `channel`, `scratch`, `build_tag`)."),
    ("allow_password_in_scm_url", "false", "Accept `user:password@` in the source URL; the "
     "password is never written to logs."),
    ("topdir", "/mnt/koji", "Scratch builds: atomic-reactor leaves `metadata.json` under "
     "`<topdir>/work`; when that directory is visible on the builder the plugin copies it into "
     "the task output. `topurl` is not used for this."),
    ("workdir", "/var/tmp/koji",  # noqa: S108 - kojid's default, quoted
     "koji's task directory `<workdir>/tasks/<id%10000>/<id>`: the source checkout and the "
     "log files live there while the task runs; koji removes it when the task ends."),
)

# Keys of a koji CLI profile the CLI plugin uses: (key, owner, what for).
CLI_PROFILE_KEYS: tuple[tuple[str, str, str], ...] = (
    (cli.PROFILE_TEMPLATE_KEY, "this plugin", "Anonymous clone URL of DistGit repositories "
     "for the DistGit-aware form, `{repo}` standing for `<namespace>/<name>` (also `{name}`, "
     "`{namespace}`, and rpkg's `%(repo)s`, written `%%(repo)s` in a profile), e.g. "
     "`https://src.example.org/{repo}.git`. "
     "`--anon-git-url-template` wins over it; without either the URL is derived from the "
     "remote (ssh remotes become https on the same host)."),
    ("plugin_paths", "koji", "Directories with CLI plugins; needed when the plugin is not in "
     "`<sys.prefix>/lib/python3.X/site-packages/koji_cli_plugins` of the koji CLI's Python."),
    ("weburl", "koji", "`Task info:` link and the `koji_builds` links of the result."),
    ("topurl", "koji", "Lets `--wait` list the log URLs of a failed task."),
    ("poll_interval", "koji", "How often `--wait` polls the task."),
)

EXAMPLE_OSBS_CONF = """\
[general]
build_json_dir = /usr/share/osbs/

[default]
openshift_url = https://osbs.example.org:8443/
namespace = osbs
token_file = /etc/osbs/kojid.token
build_from = imagestream:buildroot:latest
reactor_config_map = reactor-config-map
can_orchestrate = true
cpu_limit = 2
memory_limit = 4Gi
orchestrator_max_run_hours = 4

[scratch]
openshift_url = https://osbs.example.org:8443/
namespace = osbs
token_file = /etc/osbs/kojid.token
build_from = imagestream:buildroot:latest
reactor_config_map = reactor-config-map-scratch
can_orchestrate = true
"""


# --------------------------------------------------------------------------- formatting


def _code(value: str) -> str:
    return f"`{value}`"


def _default_text(value: Any) -> str:
    if value is None or value == "" or value == ():
        return "(empty)"
    if isinstance(value, bool):
        return _code(str(value).lower())
    if isinstance(value, float) and value.is_integer():
        return _code(str(int(value)))
    if isinstance(value, tuple):
        return _code(" ".join(value))
    return _code(str(value))


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def _type_of(convert: Callable[[str], Any]) -> str:
    if convert is config.parse_bool:
        return "boolean"
    if convert is str:
        return "string"
    return "integer"


# --------------------------------------------------------------------------- tables


def _instance_defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(config.OsbsInstance)
            if f.default is not dataclasses.MISSING}


def osbs_instance_table() -> str:
    """Every instance key osbs.conf may hold, with type, default and meaning."""
    documented, known = set(OSBS_KEY_DOCS), set(config.OSBS_INSTANCE_KEYS)
    if documented != known:
        raise DocsDrift(f"osbs.conf keys without docs: {sorted(known - documented)}; "
                        f"documented but not read: {sorted(documented - known)}")
    defaults = _instance_defaults()
    rows = []
    for key, spec in config.OSBS_INSTANCE_KEYS.items():
        override, meaning = OSBS_KEY_DOCS[key]
        attr = spec.attr if spec.attr is not None else key
        if override is not None:
            default = override or "(empty)"
        else:
            default = _default_text(defaults.get(attr))
        kind = "path" if spec.attr == "" else _type_of(spec.convert)
        rows.append([_code(key), kind, default, meaning])
    return _table(["key", "type", "default", "meaning"], rows)


def osbs_ignored_table() -> str:
    """Keys accepted for compatibility that change nothing, grouped by why."""
    grouped = frozenset().union(*(keys for _, keys in OSBS_IGNORED_GROUPS))
    if grouped != config.OSBS_IGNORED_KEYS:
        raise DocsDrift(
            f"ignored osbs.conf keys without docs: {sorted(config.OSBS_IGNORED_KEYS - grouped)}"
            f"; documented but not ignored: {sorted(grouped - config.OSBS_IGNORED_KEYS)}")
    rows = [[", ".join(_code(key) for key in sorted(keys)), why]
            for why, keys in OSBS_IGNORED_GROUPS]
    return _table(["keys", "why they are accepted and ignored"], rows)


def settings_table(settings: Iterable[config.Setting]) -> str:
    rows = [[_code(f"[{s.section}]"), _code(s.key), _default_text(s.default), s.help]
            for s in settings]
    return _table(["section", "key", "default", "meaning"], rows)


def sample_plugin_file(settings: Iterable[config.Setting], title: str) -> str:
    """A plugin file listing every key at its default, with its help as a comment."""
    lines = [f"# {title}", "# Every key with its default value; see docs/configuration.md."]
    section = None
    for setting in settings:
        if setting.section != section:
            section = setting.section
            lines += ["", f"[{section}]"]
        for chunk in _wrap(setting.help, 96):
            lines.append(f"# {chunk}")
        default = setting.default
        if isinstance(default, tuple):
            default = " ".join(default)
        elif isinstance(default, float) and default.is_integer():
            default = int(default)
        lines.append(f"{setting.key} = {default}".rstrip())
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int) -> Iterator[str]:
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            yield line
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        yield line


# --------------------------------------------------------------------------- real errors


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


def _error_table(rows: Iterable[tuple[str, str]]) -> str:
    return _table(["when", "what the task (or command) reports"],
                  ([situation, _code(message)] for situation, message in rows))


# --------------------------------------------------------------------------- the document

_INTRO = """\
# Configuration reference

<!-- Generated by `python -m koji_containerbuild.docs_config > docs/configuration.md` from the
tables in koji_containerbuild/config.py; edit those or docs_config.py, not this file.
tests/test_docs.py fails when this file and the code differ. -->

Every file the three plugins read, every key, its default, and what happens when it is wrong.
The messages quoted below are produced by running the plugin's own loaders.

| file | read by | when | if absent |
|---|---|---|---|
| `{osbs_conf}` | builder plugin (kojid) | every task | the task fails |
| `{builder_conf}` | builder plugin | every task | defaults |
| `{hub_conf}` | hub plugin | first call in each httpd process | defaults |
| `/etc/kojid/kojid.conf` | kojid, passed to the task | kojid start | kojid's defaults |
| koji CLI profile (`/etc/koji.conf`, `~/.koji/config`) | CLI plugin | every command | — |

Builder files are read per task, so a change applies to the next task without restarting
kojid. The hub file is read once per httpd process: after a change, `apachectl graceful`.
"""

_OSBS = """\
## `{osbs_conf}`

The same file, sections and keys as osbs-client 1.10, so an existing file works unchanged.
The path can be changed with `osbs_conf` in the builder plugin file.

**Which section.** Scratch builds (image and source) read `[scratch]`; every other build,
isolated and flatpak builds included, reads `[default]`. The whole section is used, nothing is
merged between sections. `[general]` holds `build_json_dir`, mandatory: the directory of
osbs-client's templates as seen *inside the buildroot image* (the builder only passes it on to
atomic-reactor), typically `/usr/share/osbs/`. Other `[general]` keys are accepted and ignored.

**Booleans** follow osbs-client: a number is true when it is not 0; otherwise only `true` (any
case) is true. `yes` and `on` are **false**. An empty value counts as not set.

**Token precedence** (the first one found is used): `token`, then the file named by
`token_file`, then `~/.osbs/<section>.token` of the kojid user, then — only when `use_auth` is
not set — the pod service-account token in `{sa_dir}`
(with its `ca.crt`). OAuth login with a user name and password or Kerberos is not supported.
The identity needs the `edit` role in the namespace and `system:build-strategy-custom`
(custom-strategy builds); without them OpenShift answers 403 (see the errors below).

### Keys of `[default]` and `[scratch]`

{instance_table}

### Keys accepted for compatibility and ignored

{ignored_table}

Any other key in an instance section (for example `registry_uri`, removed in osbs-client 1.10)
is ignored with a warning in the kojid log:
`{unknown_warning}`.

### Example

```ini
{example}```

### When it is wrong

Loading the file (before anything reaches OpenShift):

{load_errors}

When the build is submitted:

{submit_errors}
"""

_BUILDER = """\
## `{builder_conf}`

Optional; unknown sections or keys are errors, as in Koji's own configuration files, so a typo
cannot be silently ignored. Lists are space or comma separated; an allow-list entry is a host
name, or `.example.org` for that domain and its subdomains.

{builder_table}

Example (all defaults, as shipped in `conf/builder_containerbuild.conf`):

```ini
{builder_sample}```
"""

_HUB = """\
## `{hub_conf}`

Optional; unknown sections or keys are errors. The channel set here is only requested: the
hub's `channel` policy has the last word (Koji's default policy grants the requested channel).
`build_permission` names a Koji permission, created and granted with
`koji grant-permission --new <permission> <user>`.

{hub_table}

Example (all defaults, as shipped in `conf/hub_containerbuild.conf`):

```ini
{hub_sample}```

### When a plugin file is wrong

{plugin_errors}

On the hub every `buildContainer`/`buildSourceContainer` call fails with that message and the
hub log says `containerbuild hub plugin misconfigured: ...`. For `task_weight` alone the
builder logs the error and uses 0.2, because kojid asks for the weight before the task runs.
"""

_KOJID = """\
## `/etc/kojid/kojid.conf` options the builder plugin reads

kojid refuses unknown keys in its own file, which is why the plugin's settings live in a file of
their own. Loading the plugin is kojid's business: `plugins = builder_containerbuild` and
`pluginpath` (default `/usr/lib/koji-builder-plugins`).

{kojid_table}

Example for Fedora's DistGit (`:no:` turns `use_common` off; this plugin forces it off anyway,
but the same entry then also suits Koji's own checkouts):

```ini
allowed_scms = src.fedoraproject.org:/container/*:no: src.fedoraproject.org:/flatpaks/*:no:
```

{scm_errors}
"""

_CLI = """\
## koji CLI profile keys

Koji drops profile keys it does not know, so the plugin re-reads the same files
(`/etc/koji.conf.d`, `/etc/koji.conf`, `~/.koji/config.d`, `~/.koji/config`, or the `-c`
file) for its own key.

{cli_table}

```ini
[koji]
server = https://koji.example.org/kojihub
weburl = https://koji.example.org/koji
topurl = https://kojipkgs.example.org/
plugin_paths = /home/jdoe/.local/lib/python3.12/site-packages/koji_cli_plugins
{template_key} = https://src.example.org/{{repo}}.git
```

{cli_errors}
"""


def render_configuration() -> str:
    """The whole of docs/configuration.md."""
    paths = {"osbs_conf": config.OSBS_CONF, "builder_conf": config.BUILDER_PLUGIN_CONF,
             "hub_conf": config.HUB_PLUGIN_CONF, "sa_dir": config.SERVICE_ACCOUNT_DIR}
    parts = [
        _INTRO.format(**paths),
        _OSBS.format(**paths, instance_table=osbs_instance_table(),
                     ignored_table=osbs_ignored_table(),
                     unknown_warning=osbs_unknown_key_warning(), example=EXAMPLE_OSBS_CONF,
                     load_errors=_error_table(osbs_conf_errors()),
                     submit_errors=_error_table(submit_errors())),
        _BUILDER.format(**paths, builder_table=settings_table(config.BUILDER_SETTINGS),
                        builder_sample=render_sample("builder")),
        _HUB.format(**paths, hub_table=settings_table(config.HUB_SETTINGS),
                    hub_sample=render_sample("hub"),
                    plugin_errors=_error_table(plugin_file_errors())),
        _KOJID.format(kojid_table=_table(
            ["option", "kojid default", "what the plugin does with it"],
            ([_code(key), default, use] for key, default, use in KOJID_OPTIONS)),
            scm_errors=_error_table(scm_errors())),
        _CLI.format(cli_table=_table(
            ["key", "owner", "use"],
            ([_code(key), owner, use] for key, owner, use in CLI_PROFILE_KEYS)),
            template_key=cli.PROFILE_TEMPLATE_KEY, cli_errors=_error_table(cli_errors())),
    ]
    return "\n".join(parts)


def render_sample(kind: str) -> str:
    """A sample configuration file: ``hub``, ``builder`` or ``osbs``."""
    if kind == "hub":
        return sample_plugin_file(config.HUB_SETTINGS, config.HUB_PLUGIN_CONF)
    if kind == "builder":
        return sample_plugin_file(config.BUILDER_SETTINGS, config.BUILDER_PLUGIN_CONF)
    if kind == "osbs":
        return EXAMPLE_OSBS_CONF
    raise ValueError(f"unknown sample {kind!r}: hub, builder or osbs")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", choices=("hub", "builder", "osbs"),
                        help="print a sample configuration file instead of the reference")
    args = parser.parse_args(argv)
    text = render_sample(args.sample) if args.sample else render_configuration()
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
