"""Configuration files: /etc/osbs.conf (as osbs-client 1.10 reads it) and the plugins' own files.

osbs.conf keeps osbs-client's semantics so a deployment's existing file works unchanged
(reference/osbs1-contract.md §3). The plugin files follow Koji's convention for plugin
configuration (/etc/koji-hub/plugins/*.conf, /etc/kojid/plugins/*.conf) and, like Koji's own
configs, refuse unknown keys so a typo is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import configparser
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

OSBS_CONF = "/etc/osbs.conf"
HUB_PLUGIN_CONF = "/etc/koji-hub/plugins/hub_containerbuild.conf"
BUILDER_PLUGIN_CONF = "/etc/kojid/plugins/builder_containerbuild.conf"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

log = logging.getLogger("koji.plugin.containerbuild")


class ConfigError(Exception):
    """A configuration file is missing, unreadable or has a bad value; the message names where."""


def parse_bool(value: str) -> bool:
    """osbs-client's boolean rule: an integer is truthy when non-zero, else only 'true' is true."""
    value = value.strip()
    try:
        return bool(int(value))
    except ValueError:
        return value.lower() == "true"


def _read_ini(path: str) -> configparser.RawConfigParser:
    # Raw: no '%' interpolation, so tokens and URLs with '%' survive.
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    except configparser.Error as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not a valid INI file: {first_line}") from None
    return parser


# --------------------------------------------------------------------------- osbs.conf


@dataclass(frozen=True)
class OsbsInstance:
    """An instance section of osbs.conf ([default] or [scratch]) as osbs-client 1.10 reads it."""

    conf_file: str
    section: str
    build_json_dir: str
    openshift_url: str
    namespace: str = "default"
    token: Optional[str] = field(default=None, repr=False)
    use_auth: bool = True
    verify_ssl: bool = True
    ca_bundle: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None
    build_from: Optional[str] = None
    reactor_config_map: Optional[str] = None
    can_orchestrate: bool = False
    arrangement_version: int = 6
    cpu_limit: Optional[str] = None
    memory_limit: Optional[str] = None
    storage_limit: Optional[str] = None
    orchestrator_max_run_hours: int = 4
    worker_max_run_hours: int = 3
    scratch: Optional[bool] = None
    verbose: bool = False            # [general] verbose: DEBUG lines in osbs-client.log

    @property
    def verify(self) -> Union[bool, str]:
        """The value for requests' ``verify``: False, True or the CA bundle path."""
        if not self.verify_ssl:
            return False
        return self.ca_bundle or True

    @property
    def cert(self) -> Optional[tuple[str, str]]:
        """The value for requests' ``cert`` when client-certificate auth is configured."""
        if self.client_cert and self.client_key:
            return (self.client_cert, self.client_key)
        return None


@dataclass(frozen=True)
class _Key:
    """One osbs.conf instance key: how to convert it and where it lands in OsbsInstance."""

    convert: Callable[[str], Any] = str
    attr: Optional[str] = None


def _positive_int(value: str) -> int:
    return int(value.strip())


# Keys osbs-client 1.10 reads from an instance section (reference/osbs1-contract.md §3.1),
# plus `ca_bundle`, our one extension.
OSBS_INSTANCE_KEYS: dict[str, _Key] = {
    "openshift_url": _Key(),
    "openshift_uri": _Key(attr="openshift_url"),  # deprecated alias
    "namespace": _Key(),
    "token": _Key(),
    "token_file": _Key(attr=""),
    "use_auth": _Key(parse_bool),
    "verify_ssl": _Key(parse_bool),
    "ca_bundle": _Key(),
    "client_cert": _Key(),
    "client_key": _Key(),
    "build_from": _Key(),
    "reactor_config_map": _Key(),
    "can_orchestrate": _Key(parse_bool),
    "arrangement_version": _Key(_positive_int),
    "cpu_limit": _Key(),
    "memory_limit": _Key(),
    "storage_limit": _Key(),
    "orchestrator_max_run_hours": _Key(_positive_int),
    "worker_max_run_hours": _Key(_positive_int),
    "scratch": _Key(parse_bool),
}
# Keys osbs-client reads that do not change what this plugin does (OAuth login, node selectors
# applied by the orchestrator, osbs CLI defaults): accepted silently so existing files load.
OSBS_IGNORED_KEYS = frozenset(
    {
        "username", "password", "use_kerberos", "kerberos_keytab", "kerberos_principal",
        "kerberos_ccache", "scratch_build_node_selector", "explicit_build_node_selector",
        "auto_build_node_selector", "isolated_build_node_selector", "git_url", "git_commit",
        "git_branch", "user", "tag", "yum_repourls", "dependency_replacements", "flatpak",
        "target", "verbose", "openshift_required_version", "build_json_dir",
    }
)


def _read_token_file(path: str, conf_file: str, section: str, key: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise ConfigError(
            f"{conf_file}: [{section}] {key}: cannot read token file {path}: {exc.strerror}"
        ) from None


def load_osbs_instance(
    scratch: bool = False,
    path: str = OSBS_CONF,
    *,
    home: Optional[str] = None,
    service_account_dir: str = SERVICE_ACCOUNT_DIR,
) -> OsbsInstance:
    """Read the instance a build uses: [scratch] for scratch builds, else [default] (§3.3)."""
    parser = _read_ini(path)
    section = "scratch" if scratch else "default"

    if not parser.has_option("general", "build_json_dir"):
        raise ConfigError(f"{path}: [general] build_json_dir is mandatory and missing")
    build_json_dir = parser.get("general", "build_json_dir").strip()
    if not build_json_dir:
        raise ConfigError(f"{path}: [general] build_json_dir is mandatory and empty")
    verbose = parse_bool(parser.get("general", "verbose", fallback="false"))
    if not parser.has_section(section):
        why = "scratch builds read it" if scratch else "non-scratch builds read it"
        raise ConfigError(f"{path}: section [{section}] is missing ({why})")

    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for key, text in parser.items(section):
        spec = OSBS_INSTANCE_KEYS.get(key)
        if spec is None:
            if key not in OSBS_IGNORED_KEYS and not key.startswith("node_selector."):
                # The file is shared with osbs-client, which ignores keys it does not read
                # (older files still carry e.g. registry_uri); say so, don't refuse.
                log.warning("%s: [%s] %s: not used by osbs-client 1.10 or this plugin",
                            path, section, key)
            continue
        raw[key] = text
        if spec.attr == "":
            continue
        try:
            values[spec.attr or key] = spec.convert(text) if text.strip() else None
        except ValueError:
            raise ConfigError(
                f"{path}: [{section}] {key}: {text.strip()!r} is not a valid value"
            ) from None

    url = values.get("openshift_url")
    if not url:
        raise ConfigError(f"{path}: [{section}] openshift_url is mandatory and missing")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"{path}: [{section}] openshift_url: {url!r} is not an http(s) URL")
    for hours_key in ("orchestrator_max_run_hours", "worker_max_run_hours"):
        if values.get(hours_key) is None:
            values.pop(hours_key, None)
    if values.get("arrangement_version") is not None and values["arrangement_version"] < 6:
        raise ConfigError(
            f"{path}: [{section}] arrangement_version: {values['arrangement_version']} is no "
            "longer supported (6 or later)"
        )
    for optional_default in ("namespace", "arrangement_version", "use_auth", "verify_ssl",
                             "can_orchestrate"):
        if values.get(optional_default) is None:
            values.pop(optional_default, None)
    if values.get("client_cert") and not values.get("client_key") or (
        values.get("client_key") and not values.get("client_cert")
    ):
        raise ConfigError(f"{path}: [{section}] client_cert and client_key must be set together")

    token, ca_bundle = _resolve_token(path, section, values, raw, home, service_account_dir)
    values["token"] = token
    if ca_bundle and not values.get("ca_bundle"):
        values["ca_bundle"] = ca_bundle
    if "use_auth" not in values:
        values["use_auth"] = token is not None
    elif values["use_auth"] and token is None:
        raise ConfigError(
            f"{path}: [{section}] use_auth is on but no token is configured (token, token_file "
            f"or ~/.osbs/{section}.token); OAuth login with a password or Kerberos is not supported"
        )
    return OsbsInstance(conf_file=path, section=section, build_json_dir=build_json_dir,
                        verbose=verbose, **values)


def _resolve_token(
    path: str,
    section: str,
    values: Mapping[str, Any],
    raw: Mapping[str, str],
    home: Optional[str],
    service_account_dir: str,
) -> tuple[Optional[str], Optional[str]]:
    """osbs-client's order: token, then token_file, then ~/.osbs/<section>.token, then the pod's
    service-account token (only when use_auth is not set explicitly). Returns (token, ca)."""
    if values.get("token"):
        return values["token"], None
    token_file = raw.get("token_file", "").strip()
    if token_file:
        return _read_token_file(os.path.expanduser(token_file), path, section, "token_file"), None
    home = home if home is not None else os.path.expanduser("~")
    instance_token = os.path.join(home, ".osbs", f"{section}.token")
    if os.path.exists(instance_token):
        return _read_token_file(instance_token, path, section, "token (~/.osbs)"), None
    if values.get("use_auth") is None:
        sa_token = os.path.join(service_account_dir, "token")
        if os.path.exists(sa_token):
            ca = os.path.join(service_account_dir, "ca.crt")
            token = _read_token_file(sa_token, path, section, "service-account token")
            return token, ca if os.path.exists(ca) else None
    return None, None


# --------------------------------------------------------------------------- plugin files


@dataclass(frozen=True)
class Setting:
    """One key of a plugin configuration file; the table doubles as its documentation."""

    section: str
    key: str
    default: Any
    convert: Callable[[str], Any]
    help: str


def _words(value: str) -> tuple[str, ...]:
    return tuple(value.replace(",", " ").split())


def _float(value: str) -> float:
    return float(value.strip())


def _text(value: str) -> str:
    return value.strip()


HUB_SETTINGS: tuple[Setting, ...] = (
    Setting("permissions", "build_permission", "", _text,
            "Koji permission a user needs to submit container builds; empty lets any "
            "logged-in user build. Users with 'admin' always may."),
    Setting("tasks", "image_channel", "container", _text,
            "Channel requested for buildContainer tasks when the caller names none."),
    Setting("tasks", "source_channel", "container", _text,
            "Channel requested for buildSourceContainer tasks when the caller names none."),
)

BUILDER_SETTINGS: tuple[Setting, ...] = (
    Setting("osbs", "osbs_conf", OSBS_CONF, _text,
            "Path of the osbs-client style configuration of the OpenShift instances."),
    Setting("tasks", "task_weight", 0.2, _float,
            "Koji task weight of buildContainer/buildSourceContainer: the task mostly waits "
            "on OpenShift, so it is light."),
    Setting("tasks", "pending_timeout", 3600.0, _float,
            "Seconds a build may stay New/Pending before it is diagnosed, cancelled and the "
            "task fails."),
    Setting("tasks", "upload_interval", 0.2, _float,
            "Upper bound in seconds between a log line arriving and its upload to the hub."),
    Setting("allowlists", "yum_repo_hosts", (), _words,
            "Hosts that yum_repourls may point to (space or comma separated); empty allows any."),
    Setting("allowlists", "parent_registries", (), _words,
            "Registries a parent image may come from (koji_parent_build, FROM); empty allows any."),
)


def _load_settings(path: str, settings: tuple[Setting, ...], must_exist: bool) -> dict[str, Any]:
    result = {s.key: s.default for s in settings}
    if not os.path.exists(path):
        if must_exist:
            raise ConfigError(f"{path}: configuration file is missing")
        return result
    parser = _read_ini(path)
    known = {(s.section, s.key): s for s in settings}
    for section in parser.sections():
        for key, text in parser.items(section):
            setting = known.get((section, key))
            if setting is None:
                valid = ", ".join(f"[{s.section}] {s.key}" for s in settings)
                raise ConfigError(f"{path}: [{section}] {key}: unknown key (valid: {valid})")
            try:
                result[key] = setting.convert(text)
            except ValueError:
                raise ConfigError(
                    f"{path}: [{section}] {key}: {text.strip()!r} is not a valid value"
                ) from None
    return result


def load_hub_settings(path: str = HUB_PLUGIN_CONF) -> dict[str, Any]:
    """Hub plugin settings; the file is optional (defaults apply when it is absent)."""
    return _load_settings(path, HUB_SETTINGS, must_exist=False)


def load_builder_settings(path: str = BUILDER_PLUGIN_CONF) -> dict[str, Any]:
    """Builder plugin settings; the file is optional (defaults apply when it is absent)."""
    return _load_settings(path, BUILDER_SETTINGS, must_exist=False)
