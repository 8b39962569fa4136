"""What the CLI refuses before it creates a task, and the words it refuses in.

Everything the hub would refuse is refused here first, by the same options contract rules but in
the CLI's words (the flag and what to type, ``FLAGS``), as koji's own ``build`` command refuses:
usage, ``koji: error: <message>``, exit status 2. Some refusals go beyond the hub's: a target
and SCM URL that look swapped, an --arch-override naming arches the build tag lacks (the
builder would refuse it), a password login koji would fail with ``KeyError: 'user'``.
"""

from __future__ import annotations

import json
import optparse
from typing import Any, NoReturn, Optional

import koji

# ``options`` (jsonschema) is imported where used: the koji CLI loads every plugin for every
# command, and ``koji list-tags`` should not pay for it.

# Option-contract field -> the flag a refusal names (options.Rule fills its {field}s with these).
FLAGS = {
    "scratch": "--scratch", "isolated": "--isolated", "flatpak": "flatpak-build",
    "skip_build": "--skip-build", "git_branch": "--git-branch", "release": "--release",
    "koji_parent_build": "--koji-parent-build", "yum_repourls": "--repo-url",
    "compose_ids": "--compose-id", "signing_intent": "--signing-intent",
    "dependency_replacements": "--replace-dependency", "arch_override": "--arch-override",
    "userdata": "--userdata",
    "operator_csv_modifications_url": "--operator-csv-modifications-url",
    "koji_build_id": "--koji-build-id", "koji_build_nvr": "--koji-build-nvr",
    "scratch_or_isolated": "--scratch or --isolated",
}
FLATPAK_FLAGS = dict(FLAGS, scratch_or_isolated="--scratch")  # flatpak-build has no --isolated


def fail(parser: optparse.OptionParser, message: str) -> NoReturn:
    """Refuse as koji's own commands do: usage, ``koji: error: <message>``, exit status 2."""
    parser.error(message)
    raise AssertionError("unreachable")  # parser.error exits; keeps type checkers honest


def check_wait_options(parser: optparse.OptionParser, build_opts: optparse.Values) -> None:
    """--watch-logs waits, so it contradicts --nowait."""
    if build_opts.watch_logs and build_opts.wait is False:
        fail(parser, "--watch-logs waits for the build: it cannot be used with --nowait")


def check_image_args(parser: optparse.OptionParser, args: list[str], flatpak: bool) -> None:
    """The positional arguments of ``container-build``/``flatpak-build``: [TARGET [SCM_URL]],
    refusing the SCM URL where the target belongs."""
    if len(args) > 2:
        fail(parser, "Too many arguments: give at most a build target and a SCM URL")
    if len(args) == 2 and "://" in args[0] and "://" not in args[1]:
        fail(parser, f"The build target and the SCM URL look swapped: {args[0]} is a SCM URL "
                     f"and {args[1]} is not; give the target first: TARGET SCM_URL")
    if len(args) == 1 and "://" in args[0]:
        fail(parser, f"{args[0]} looks like a SCM URL; give the build target first: "
                     "TARGET SCM_URL")
    if flatpak and not args:
        fail(parser, "A build target is required: flatpak targets are named after the "
                     "platform stream (e.g. f39-flatpak-candidate)")


def check_source_args(parser: optparse.OptionParser, args: list[str]) -> None:
    """``source-container-build`` takes exactly a target."""
    if len(args) != 1:
        fail(parser, "Exactly one argument (a build target) is required")


def parse_arch_override(parser: optparse.OptionParser, text: str) -> list[str]:
    """``--arch-override`` as Koji splits arches; refused when it names none."""
    try:
        arches = koji.parse_arches(text)
    except koji.GenericError as exc:
        fail(parser, f"--arch-override: {exc}")
    if not arches:
        fail(parser, "--arch-override needs at least one arch")
    return arches


def parse_userdata(parser: optparse.OptionParser, text: Optional[str]) -> Optional[Any]:
    """The parsed ``--userdata``; the options contract then checks that it is an object."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(parser, f"--userdata is not valid JSON: {exc}")
    if value is None:
        fail(parser, "--userdata must be a JSON object, got null")
    return value


def validate_image(parser: optparse.OptionParser, opts: dict[str, Any], flatpak: bool) -> None:
    """The options contract of ``buildContainer``, its refusals naming the flags."""
    from .. import options

    try:
        options.validate_image_options(opts)
    except options.OptionsError as exc:
        fail(parser, exc.cli_text(FLATPAK_FLAGS if flatpak else FLAGS))


def check_target_and_source(
    parser: optparse.OptionParser, target: Optional[str], src: Optional[str],
) -> None:
    """The target name and the SCM URL's form, as the hub checks them."""
    from .. import options

    try:
        options.check_target(target)
        options.check_scm_url(src)
    except options.OptionsError as exc:
        fail(parser, str(exc))


def validate_source(parser: optparse.OptionParser, target: str, opts: dict[str, Any]) -> None:
    """The target name and the options contract of ``buildSourceContainer``, naming the flags."""
    from .. import options

    try:
        options.check_target(target)
        options.validate_source_options(opts)
    except options.OptionsError as exc:
        fail(parser, exc.cli_text(FLAGS))


def check_password_login(parser: optparse.OptionParser, goptions: Any) -> None:
    """koji's password login needs --user and --password on the command line (koji.read_config
    keeps neither from a profile); without them the login would fail with KeyError: 'user'."""
    authtype = getattr(goptions, "authtype", None)
    user, password = getattr(goptions, "user", None), getattr(goptions, "password", None)
    if authtype == "password" or (authtype is None and user):
        missing = [flag for flag, value in (("--user", user), ("--password", password))
                   if not value]
        if missing:
            fail(parser, f"password login (authtype = password) needs {' and '.join(missing)}: "
                         "give koji --user USER --password PASSWORD before the command (koji "
                         "does not read them from the profile)")


def check_destination(
    session: Any, parser: optparse.OptionParser, target: str, scratch: bool,
    arch_override: Optional[str] = None,
) -> None:
    """Refuse an unknown target, or a locked destination tag unless scratch, as upstream; and
    an --arch-override naming arches the build tag lacks (the builder would refuse it too)."""
    build_target = session.getBuildTarget(target)
    if not build_target:
        fail(parser, f"Unknown build target: {target}")
    dest_tag = session.getTag(build_target["dest_tag"])
    if not dest_tag:
        fail(parser, f"Unknown destination tag: {build_target['dest_tag_name']}")
    if dest_tag["locked"] and not scratch:
        fail(parser, f"Destination tag {dest_tag['name']} is locked")
    if arch_override:
        tag_arches = (session.getBuildConfig(build_target["build_tag"]) or {}).get("arches")
        canonical = {koji.canonArch(a) for a in (tag_arches or "").split()}
        missing = [a for a in arch_override.split()  # Koji's matching, as the builder's
                   if a != "noarch" and koji.canonArch(a) not in canonical]
        if tag_arches and missing:
            fail(parser, f"--arch-override {','.join(missing)}: not an arch of build tag "
                         f"{build_target['build_tag_name']}, which has "
                         f"{', '.join(tag_arches.split())}")
