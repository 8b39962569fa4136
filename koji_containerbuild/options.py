"""The build-options contract: one definition of ``opts`` for the CLI, the hub and the builder.

It accepts every payload real clients send (reference/rpkg-contract.md: rpkg 1.62–1.70 send
unset keys as nil/False, the koji CLI omits them), refuses everything else with one line that
names the field and what is allowed, and normalises both forms to the same task params.
Koji-free: callers turn :class:`OptionsError` into their own fault type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import jsonschema

MAX_STRING = 4096
MAX_LIST = 256
MAX_USERDATA_BYTES = 64 * 1024

# osbs-client's ^\d+([._]?[a-zA-Z0-9]+)*$, written so that it cannot backtrack exponentially
# (a 40-character --release would hang the hub): the same strings, linear time.
RELEASE_PATTERN = r"^\d[a-zA-Z0-9]*([._][a-zA-Z0-9]+)*$"
ISOLATED_RELEASE_PATTERN = r"^\d+\.\d+(\..+)?$"
# Cachito's replacement form, passed through to OSBS unparsed.
DEPENDENCY_REPLACEMENT_PATTERN = r"^[^:\s]+:[^:\s]+:[^:\s]+(:[^:\s]+)?$"
# The same strings as ^https?://[^\s/?#@]+[^\s]*$ without its quadratic backtracking.
HTTP_URL_PATTERN = r"^https?://[^\s/?#@][^\s]*$"
ARCH_LIST_PATTERN = r"^\s*[A-Za-z0-9_-]+(\s+[A-Za-z0-9_-]+)*\s*$"

# Git-capable schemes of Koji's SCM grammar; plain http(s) is what base rpkg sends with an
# https anongiturl, and the builder hands it to Koji's SCM as git+http(s).
SCM_SCHEMES = ("git", "git+https", "git+http", "git+ssh", "https", "http")
_SCM_URL = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+]*)://(?:(?P<user>[^@/\s]+)@)?(?P<host>[^/@\s?#]+)"
    r"(?P<path>/[^?#\s]*)(?:\?(?P<query>[^#\s]*))?#(?P<ref>[^\s#]+)$"
)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class OptionsError(ValueError):
    """A request that breaks the contract; ``field`` names the offending option or argument.

    ``str()`` is the hub's words; :meth:`cli_text` the CLI's, from the same :class:`Rule`.
    """

    def __init__(self, field: str, message: str, rule: Optional[Rule] = None,
                 cli_got: str = ""):
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.cli_got = cli_got

    def cli_text(self, flags: Mapping[str, str]) -> str:
        """The refusal naming the CLI's flags (``flags`` maps field names to them)."""
        if self.rule is None:
            return str(self)
        return self.rule.cli_text(flags) + self.cli_got


def _refuse(rule: Rule, got: str = "", cli_got: Optional[str] = None) -> OptionsError:
    """The refusal of ``rule``; ``got`` (e.g. "; got 'x'") ends both phrasings unless
    ``cli_got`` says otherwise."""
    return OptionsError(rule.field, rule.hub + got, rule, got if cli_got is None else cli_got)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _string(**extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": MAX_STRING, **extra}


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item, "maxItems": MAX_LIST}


_BOOL = {"type": "boolean"}
_USERDATA = {"type": "object"}

@dataclass(frozen=True)
class Rule:
    """One refusal, said twice from one place.

    ``hub`` names option keys (what rpkg/fedpkg users see from the hub and the builder);
    ``cli`` is the koji CLI's phrasing, with ``{field}`` placeholders that the CLI fills with its
    own flags (``{release}`` → ``--release``), so each front end says it in its own words.
    """

    field: str
    hub: str
    cli: str

    def cli_text(self, flags: Mapping[str, str]) -> str:
        return self.cli.format_map(flags)


# What a user is told when a value does not fit: "Invalid build option 'X': <hub>; got ...".
VALUE_RULES = {rule.field: rule for rule in (
    Rule("scratch", "must be a boolean", "{scratch} takes no value"),
    Rule("isolated", "must be a boolean", "{isolated} takes no value"),
    Rule("flatpak", "must be a boolean", "{flatpak} takes no value"),
    Rule("skip_build", "must be a boolean", "{skip_build} takes no value"),
    Rule("git_branch", "must be a non-empty branch name (string)",
         "{git_branch} takes the branch the commit is on, e.g. {git_branch} f39"),
    Rule("release", f"must be a string matching {RELEASE_PATTERN}, e.g. '1' or '2.el9', or nil",
         "{release} takes a release starting with a digit, e.g. {release} 1 or "
         "{release} 2.el9"),
    Rule("koji_parent_build", "must be a build NVR (string) or nil",
         "{koji_parent_build} takes a Koji build NVR, e.g. {koji_parent_build} "
         "fedora-container-39-1"),
    Rule("yum_repourls", "must be a list of http(s) URLs of .repo files, or nil",
         "{yum_repourls} takes the http:// or https:// URL of a yum .repo file, e.g. "
         "{yum_repourls} https://repos.example.org/my.repo"),
    Rule("compose_ids", "must be a list of ODCS compose ids (integers), or nil",
         "{compose_ids} takes an ODCS compose id (an integer), e.g. {compose_ids} 1234"),
    Rule("signing_intent", "must be a signing intent name (string) or nil",
         "{signing_intent} takes a signing intent name, e.g. {signing_intent} release"),
    Rule("dependency_replacements",
         "must be a list of 'pkg_manager:name:version[:new_name]' strings, or nil",
         "{dependency_replacements} takes PKG_MANAGER:NAME:VERSION[:NEW_NAME], e.g. "
         "{dependency_replacements} gomod:example.org/foo:v1.2.0"),
    Rule("arch_override",
         "must be a space-separated list of arches (string), e.g. 'x86_64 aarch64'",
         "{arch_override} takes arches separated by commas or spaces, e.g. "
         "{arch_override} x86_64,aarch64"),
    Rule("userdata", "must be a mapping (JSON object) of at most 64 KiB",
         "{userdata} takes a JSON object of at most 64 KiB, e.g. {userdata} "
         "'{{\"ticket\": \"ABC-1\"}}'"),
    Rule("operator_csv_modifications_url", "must be an http(s) URL (string) or nil",
         "{operator_csv_modifications_url} takes an http:// or https:// URL"),
    Rule("triggered_after_koji_task", "must be a Koji task id (integer >= 0) or nil",
         "triggered_after_koji_task must be a Koji task id"),
    Rule("push_url", "must be a git push URL (string) or nil",
         "push_url must be a git push URL"),
    Rule("koji_build_id", "must be a Koji build id (integer)",
         "{koji_build_id} takes a Koji build id (a positive integer), e.g. {koji_build_id} 42"),
    Rule("koji_build_nvr", "must be a build NVR (non-empty string)",
         "{koji_build_nvr} takes a Koji build NVR, e.g. {koji_build_nvr} foo-1.0-1"),
)}
ALLOWED = {field: rule.hub for field, rule in VALUE_RULES.items()}

# Refusals of combinations (and of what is missing), in the order they are checked.
BRANCH_REQUIRED = Rule(
    "git_branch", "Invalid build option 'git_branch': Git branch must be specified",
    "{git_branch} is required with an explicit SCM_URL: give the branch the commit is on, "
    "e.g. {git_branch} f39")
SCRATCH_AND_ISOLATED = Rule(
    "isolated", "Invalid build options 'scratch' and 'isolated': "
    "Build cannot be both isolated and scratch",
    "{scratch} and {isolated} cannot be used together: a build is either scratch or isolated")
FLATPAK_AND_ISOLATED = Rule(
    "isolated", "Invalid build options 'flatpak' and 'isolated': "
    "flatpak builds cannot be isolated",
    "flatpak builds cannot be isolated: leave out {isolated}")
SKIP_BUILD_AND_SCRATCH = Rule(
    "skip_build", "Invalid build options 'skip_build' and 'scratch': skip_build only updates "
    "the autorebuild settings (BuildConfig) of a regular build; a scratch build has none",
    "{skip_build} cannot be used with {scratch}: {skip_build} only updates the autorebuild "
    "settings of regular builds, and scratch builds have none")
ARCH_OVERRIDE_NEEDS = Rule(
    "arch_override", "Invalid build option 'arch_override': "
    "arch-override is only allowed for isolated or scratch builds",
    "{arch_override} needs {scratch_or_isolated}: regular builds are built for all arches "
    "of the build tag")
SIGNING_INTENT_AND_COMPOSES = Rule(
    "signing_intent", "Invalid build options 'signing_intent' and 'compose_ids': "
    "signing_intent used with compose_ids; give one or the other",
    "{signing_intent} and {compose_ids} cannot be used together; give one or the other")
CSV_URL_NEEDS_ISOLATED = Rule(
    "operator_csv_modifications_url", "Invalid build option 'operator_csv_modifications_url': "
    "only allowed for isolated builds",
    "{operator_csv_modifications_url} needs {isolated} (with {release} N.N)")
ISOLATED_NEEDS_RELEASE = Rule(
    "release", "Invalid build option 'release': isolated builds need a release matching "
    f"{ISOLATED_RELEASE_PATTERN}, e.g. '1.1' or '1.1.hotfix'",
    "{isolated} needs {release} N.N, e.g. {release} 1.1 (or {release} 1.1.hotfix)")
SOURCE_BUILD_REQUIRED = Rule(
    "koji_build_id", "Invalid build options: give koji_build_id (an integer) or koji_build_nvr "
    "(an NVR) of the image build whose sources to build",
    "give the image build whose sources to build: {koji_build_id} BUILD_ID or "
    "{koji_build_nvr} NVR, e.g. {koji_build_nvr} foo-1.0-1")

IMAGE_OPTIONS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "scratch": _BOOL,
        "isolated": _BOOL,
        "flatpak": _BOOL,
        "skip_build": _BOOL,
        "git_branch": _nullable(_string()),
        "release": _nullable(_string(pattern=RELEASE_PATTERN)),
        "koji_parent_build": _nullable(_string()),
        "yum_repourls": _nullable(_list_of(_string(pattern=HTTP_URL_PATTERN))),
        "compose_ids": _nullable(_list_of({"type": "integer"})),
        "signing_intent": _nullable(_string()),
        "dependency_replacements": _nullable(
            _list_of(_string(pattern=DEPENDENCY_REPLACEMENT_PATTERN))
        ),
        "arch_override": _nullable(_string(pattern=ARCH_LIST_PATTERN)),
        "userdata": _USERDATA,
        "operator_csv_modifications_url": _nullable(_string(pattern=HTTP_URL_PATTERN)),
        # Accepted since 0.10 and still sent by autorebuild tooling; never refuse them
        # (reference/upstream-features.md §2.1 #20, #33).
        "triggered_after_koji_task": _nullable({"type": "integer", "minimum": 0}),
        "push_url": _nullable(_string()),
    },
}

SOURCE_OPTIONS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "scratch": _BOOL,
        "koji_build_id": {"type": "integer", "minimum": 1},
        "koji_build_nvr": _string(minLength=1),
        "signing_intent": _string(),
        "userdata": _USERDATA,
    },
}

_VALIDATORS = {
    "image": jsonschema.Draft7Validator(IMAGE_OPTIONS_SCHEMA),
    "source": jsonschema.Draft7Validator(SOURCE_OPTIONS_SCHEMA),
}
# Optional strings where "" carries no more meaning than nil.
_EMPTY_MEANS_UNSET = {
    "koji_parent_build", "signing_intent", "arch_override", "operator_csv_modifications_url",
    "push_url",
}


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_error(kind: str, opts: Mapping[str, Any]) -> Optional[OptionsError]:
    error = jsonschema.exceptions.best_match(_VALIDATORS[kind].iter_errors(dict(opts)))
    if error is None:
        return None
    if error.validator == "additionalProperties":
        allowed = sorted(_VALIDATORS[kind].schema["properties"])
        unknown = sorted(set(opts) - set(allowed), key=str)
        name = unknown[0] if unknown else "?"
        return OptionsError(
            str(name),
            f"Unknown build option {_short(name)}; allowed options: {', '.join(allowed)}",
        )
    path = list(error.absolute_path)
    field = str(path[0]) if path else "opts"
    where = "".join(f"[{p}]" for p in path[1:])
    got = _short(opts.get(field)) if not where else f"{_short(error.instance)} at {field}{where}"
    rule = VALUE_RULES[field]
    return OptionsError(field, f"Invalid build option '{field}': {rule.hub}; got {got}", rule,
                        f"; got {_short(error.instance)}")


def _require_mapping(opts: Any) -> Mapping[str, Any]:
    if opts is None:
        return {}
    if not isinstance(opts, Mapping):
        raise OptionsError("opts", f"Invalid opts: must be a mapping (struct), got {_short(opts)}")
    for key in opts:
        if not isinstance(key, str):
            raise OptionsError(
                "opts", f"Invalid opts: option names must be strings, got {_short(key)}"
            )
    return opts


def _drop_unset(opts: Mapping[str, Any]) -> dict[str, Any]:
    """Drop what rpkg sends for "not given" (nil, False, [], ""), keep meaningful zeros."""
    kept = {}
    for key, value in opts.items():
        if value is None or value is False:
            continue
        if isinstance(value, (list, tuple)) and not value:
            continue
        kept[key] = list(value) if isinstance(value, tuple) else value
    return kept


def validate_image_options(opts: Any) -> dict[str, Any]:
    """Check ``buildContainer`` opts (image and flatpak builds) and return the normalised form."""
    opts = {
        key: (None if value == "" and key in _EMPTY_MEANS_UNSET else value)
        for key, value in _require_mapping(opts).items()
    }
    error = _schema_error("image", opts)
    if error:
        raise error
    norm = _drop_unset(opts)

    if not norm.get("git_branch"):
        raise _refuse(BRANCH_REQUIRED)
    if norm.get("scratch") and norm.get("isolated"):
        raise _refuse(SCRATCH_AND_ISOLATED)
    if norm.get("flatpak") and norm.get("isolated"):
        raise _refuse(FLATPAK_AND_ISOLATED)
    if norm.get("skip_build") and norm.get("scratch"):
        raise _refuse(SKIP_BUILD_AND_SCRATCH)
    if "arch_override" in norm and not (norm.get("scratch") or norm.get("isolated")):
        raise _refuse(ARCH_OVERRIDE_NEEDS)
    if "signing_intent" in norm and "compose_ids" in norm:
        raise _refuse(SIGNING_INTENT_AND_COMPOSES)
    if "operator_csv_modifications_url" in norm and not norm.get("isolated"):
        raise _refuse(CSV_URL_NEEDS_ISOLATED)
    if norm.get("isolated") and not re.match(ISOLATED_RELEASE_PATTERN, norm.get("release", "")):
        release = norm.get("release")
        raise _refuse(ISOLATED_NEEDS_RELEASE, f"; got {_short(release)}",
                      f"; got {_short(release)}" if release is not None else "")
    if "userdata" in norm:
        _check_userdata(norm["userdata"])
    if "arch_override" in norm:
        norm["arch_override"] = " ".join(norm["arch_override"].split())
    return norm


def validate_source_options(opts: Any) -> dict[str, Any]:
    """Check ``buildSourceContainer`` opts and return the normalised form."""
    opts = _require_mapping(opts)
    # The koji CLI omits unset keys and rpkg never calls this; nil is as good as absent.
    present = {k: v for k, v in opts.items() if v is not None}
    error = _schema_error("source", present)
    if error:
        raise error
    norm = _drop_unset(present)
    if "koji_build_id" not in norm and "koji_build_nvr" not in norm:
        raise _refuse(SOURCE_BUILD_REQUIRED)
    if "userdata" in norm:
        _check_userdata(norm["userdata"])
    return norm


def _check_userdata(userdata: Mapping[str, Any]) -> None:
    try:
        size = len(json.dumps(userdata, default=str))
    except (TypeError, ValueError) as exc:
        raise OptionsError("userdata", f"Invalid build option 'userdata': {ALLOWED['userdata']}; "
                           f"{exc}", VALUE_RULES["userdata"], f"; {exc}") from None
    if size > MAX_USERDATA_BYTES:
        raise OptionsError("userdata", f"Invalid build option 'userdata': {ALLOWED['userdata']}; "
                           f"got {size} bytes", VALUE_RULES["userdata"], f"; got {size} bytes")


def check_scm_url(src: Any) -> str:
    """Check the form of a source URL (Koji's SCM grammar, git schemes); return it unchanged."""
    if not isinstance(src, str):
        raise OptionsError("src", f"Invalid source URL: must be a string, got {_short(src)}")
    if len(src) > MAX_STRING:
        raise OptionsError("src", f"Invalid source URL: longer than {MAX_STRING} characters")
    shown = _short(re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", src))  # never echo a password
    if _CONTROL.search(src):
        raise OptionsError(
            "src", f"Invalid source URL {shown}: whitespace or control characters"
        )
    match = _SCM_URL.match(src)
    allowed = ", ".join(f"{s}://" for s in SCM_SCHEMES)
    if not match:
        raise OptionsError(
            "src",
            f"Invalid source URL {shown}: expected scheme://[user@]host/path[?query]#ref "
            f"with one of {allowed}",
        )
    if match.group("scheme") not in SCM_SCHEMES:
        raise OptionsError(
            "src",
            f"Invalid source URL {shown}: scheme {match.group('scheme')}:// is not "
            f"allowed; use one of {allowed}",
        )
    return src


def check_target(target: Any) -> str:
    """A build target name: a non-empty string of sane length."""
    if not isinstance(target, str) or not target.strip():
        raise OptionsError("target", f"Invalid target: must be a target name, got {_short(target)}")
    if len(target) > 256 or _CONTROL.search(target):
        raise OptionsError("target", f"Invalid target {_short(target)}: not a valid target name")
    return target
