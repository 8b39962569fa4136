"""The prose of the configuration reference: what each key means, the kojid and CLI keys
we read, the page's sections. Rendered by ``docs_config``."""

from __future__ import annotations

from typing import Optional

from koji_containerbuild.cli import commands as cli

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
     "password serves the builder's own fetch only: it is never logged or stored, and "
     "OpenShift gets the URL without the user part."),
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


_INTRO = """\
# Configuration reference

<!-- Generated by `python -m tools.docs_config > docs/configuration.md` from the
tables in koji_containerbuild/config.py; edit those or tools/docs_config.py, not this file.
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
merged between sections. `[general]` holds `build_json_dir`, mandatory, typically
`/usr/share/osbs/`: the directory of osbs-client's build templates. As with osbs-client, the
builder reads the site's `orchestrator.json` (image builds), `orchestrator_sources.json`
(source builds), `image_stream.json` and `image_stream_tag.json` (autorebuilds) from it on the
Koji builder, and keeps whatever a site added to them (labels, annotations, env, secrets, a
node selector; no `triggers`: no autorebuilds); a file that is absent means the built-in
default, the shape osbs-client 1.10 shipped. The same path goes to atomic-reactor in
USER_PARAMS, which reads `orchestrator_inner:6.json` and the customize file
(`worker_customize.json`, osbs-client's name even for orchestrator builds) *inside the
buildroot image*. `verbose` (a boolean, default false) adds DEBUG lines, such as every
OpenShift request with its answer's status, to the task's `osbs-client.log`, as it did with
osbs-client. Other `[general]` keys are accepted and ignored.

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
