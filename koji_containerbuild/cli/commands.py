"""koji CLI side: ``container-build``, ``flatpak-build`` and ``source-container-build``.

Flags and payloads follow the upstream koji-containerbuild CLI (reference/upstream-features.md
§1.18): unset options are omitted, ``priority`` is always sent as a keyword (5 with
``--background``), ``channel`` only with ``--channel-override``. Everything the hub would
refuse is refused here first, by the same options contract rules but in the CLI's words (the
flag and what to type, ``FLAGS``), as koji's own ``build`` command refuses: usage,
``koji: error: <message>``, exit status 2.
A hub fault while submitting is left to the koji script (``<FaultClass>: <message>``, exit 1).
Only stable ``koji_cli.lib`` helpers are imported (§2.1 #37).
"""

from __future__ import annotations

import configparser
import json
import optparse
import os
from typing import Any, NoReturn, Optional

import koji
from koji_cli.lib import _running_in_bg, activate_session, get_usage_str, watch_tasks

# ``options`` (jsonschema) and ``distgit`` are imported where used: the koji CLI loads every
# plugin for every command, and ``koji list-tags`` should not pay for them.

PRIORITY_BACKGROUND = 5  # relative to koji.PRIO_DEFAULT, as `koji build --background`
PROFILE_TEMPLATE_KEY = "containerbuild_anon_git_url_template"

IMAGE_KEYS = (
    "scratch", "isolated", "yum_repourls", "git_branch", "signing_intent", "compose_ids",
    "skip_build", "release", "koji_parent_build", "dependency_replacements",
    "operator_csv_modifications_url",
)
SOURCE_KEYS = ("scratch", "koji_build_id", "koji_build_nvr", "signing_intent")

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

_IMAGE_DESCRIPTION = (
    "Inside a clean, pushed checkout of a DistGit container/ repository, SCM_URL, --git-branch "
    "and TARGET may be omitted: the source is the anonymous clone URL of the checkout's remote "
    "at HEAD, the branch is the upstream branch, and the target is "
    "<branch>-<namespace>-candidate (rawhide for master/main)."
)
_FLATPAK_DESCRIPTION = (
    "Inside a clean, pushed checkout of a DistGit repository, SCM_URL and --git-branch may be "
    "omitted: the source is the anonymous clone URL of the checkout's remote at HEAD, and the "
    "branch is the upstream branch."
)


def _fail(parser: optparse.OptionParser, message: str) -> NoReturn:
    parser.error(message)
    raise AssertionError("unreachable")  # parser.error exits; keeps type checkers honest


def _add_common_options(parser: optparse.OptionParser, goptions: Any) -> None:
    parser.add_option("--scratch", action="store_true", help="Perform a scratch build")
    parser.add_option("--wait", action="store_true",
                      help="Wait on the build, even if running in the background")
    parser.add_option("--nowait", action="store_false", dest="wait", help="Don't wait on build")
    parser.add_option("--watch-logs", action="store_true",
                      help="Wait, printing the build's orchestrator.log as it grows; Ctrl-C "
                           "stops watching, not the build")
    parser.add_option("--quiet", action="store_true", default=getattr(goptions, "quiet", False),
                      help="Do not print the task information")
    parser.add_option("--background", action="store_true",
                      help="Run the build at a lower priority")
    parser.add_option("--channel-override", metavar="CHANNEL",
                      help="Ask for this channel instead of the hub's default")
    parser.add_option("--signing-intent", help="Signing intent of the ODCS composes")
    parser.add_option("--userdata", metavar="JSON",
                      help="Custom user metadata, a JSON object")


def image_parser(goptions: Any, flatpak: bool = False) -> optparse.OptionParser:
    """The option parser of ``container-build`` (or ``flatpak-build``)."""
    if flatpak:
        usage = "usage: %prog flatpak-build [options] TARGET [SCM_URL]"
        description = _FLATPAK_DESCRIPTION
    else:
        usage = "usage: %prog container-build [options] [TARGET [SCM_URL]]"
        description = _IMAGE_DESCRIPTION
    parser = optparse.OptionParser(usage=get_usage_str(usage), description=description)
    _add_common_options(parser, goptions)
    if not flatpak:  # the options contract refuses isolated flatpaks
        parser.add_option("--isolated", action="store_true",
                          help="Perform an isolated build (needs --release)")
    parser.add_option("--arch-override", metavar="ARCHES",
                      help="Limit a --scratch build to these arches of the build tag "
                           "(comma or space separated)" if flatpak else
                           "Limit a --scratch or --isolated build to these arches of the build "
                           "tag (comma or space separated)")
    parser.add_option("--replace-dependency", dest="dependency_replacements", action="append",
                      metavar="PKG_MANAGER:NAME:VERSION[:NEW_NAME]",
                      help="Cachito dependency replacement; may be used multiple times")
    parser.add_option("--repo-url", dest="yum_repourls", action="append", metavar="REPO_URL",
                      help="URL of a yum .repo file; may be used multiple times")
    parser.add_option("--git-branch", metavar="GIT_BRANCH",
                      help="Git branch the commit is on (default in a DistGit checkout: "
                           "its upstream branch)")
    parser.add_option("--compose-id", dest="compose_ids", action="append", type="int",
                      metavar="COMPOSE_ID",
                      help="ODCS compose to use; may be used multiple times; "
                           "cannot be used with --signing-intent")
    parser.add_option("--skip-build", action="store_true",
                      help="Do not build; only update the autorebuild settings "
                           "(not with --scratch)")
    parser.add_option("--release", help="Release value of the image")
    parser.add_option("--koji-parent-build", metavar="NVR",
                      help="Use the image of this Koji build as the parent (overrides FROM)")
    if not flatpak:
        parser.add_option("--operator-csv-modifications-url", metavar="URL",
                          help="URL of JSON operator CSV modifications; only with --isolated")
    parser.add_option("--anon-git-url-template", metavar="TEMPLATE",
                      help="Anonymous clone URL of the DistGit repository, {repo} standing for "
                           "<namespace>/<name>, e.g. https://src.example.org/{repo}.git "
                           f"(default: {PROFILE_TEMPLATE_KEY} of the koji profile, else "
                           "derived from the remote URL)")
    return parser


def source_parser(goptions: Any) -> optparse.OptionParser:
    """The option parser of ``source-container-build``."""
    usage = "usage: %prog source-container-build [options] TARGET"
    parser = optparse.OptionParser(usage=get_usage_str(usage))
    _add_common_options(parser, goptions)
    parser.add_option("--koji-build-id", type="int", metavar="BUILD_ID",
                      help="Koji build id of the image whose sources to build")
    parser.add_option("--koji-build-nvr", metavar="NVR",
                      help="Koji build NVR of the image whose sources to build")
    return parser


def _userdata(parser: optparse.OptionParser, text: Optional[str]) -> Optional[Any]:
    """The parsed ``--userdata``; the options contract then checks that it is an object."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        _fail(parser, f"--userdata is not valid JSON: {exc}")
    if value is None:
        _fail(parser, "--userdata must be a JSON object, got null")
    return value


def _collect(build_opts: optparse.Values, keys: tuple[str, ...]) -> dict[str, Any]:
    """The options the user gave; unset ones are omitted, as the upstream CLI does."""
    found = {}
    for key in keys:
        value = getattr(build_opts, key, None)
        if value is not None:
            found[key] = value
    return found


def profile_setting(goptions: Any, key: str) -> Optional[str]:
    """A plugin key of the koji profile: koji drops keys it does not know, so re-read the files.

    Same files, order and interpolation as ``koji.read_config`` (reference/koji-plugin-api.md
    §4); so a template there is written ``{repo}`` (or ``%%(repo)s``).
    """
    profile = getattr(goptions, "profile", None)
    if not profile:
        return None
    config_file = getattr(goptions, "configFile", None)
    files: list[Any] = ["/etc/koji.conf.d", "/etc/koji.conf"]
    if config_file:
        files.append((os.path.expanduser(config_file), True))
    else:
        files += [os.path.expanduser("~/.koji/config.d"), os.path.expanduser("~/.koji/config")]
    try:
        config = koji.read_config_files(files)
        if config.has_option(profile, key):
            return config.get(profile, key).strip() or None
    except (koji.ConfigurationError, configparser.Error, OSError):
        return None
    return None


def _infer_from_checkout(
    parser: optparse.OptionParser, goptions: Any, build_opts: optparse.Values,
    target: Optional[str],
) -> tuple[str, str, list[str]]:
    """(target, scm url, "Inferred: ..." lines) from the DistGit checkout in the cwd."""
    from . import distgit

    template = build_opts.anon_git_url_template or profile_setting(goptions, PROFILE_TEMPLATE_KEY)
    try:
        checkout = distgit.inspect_checkout(os.getcwd())
        clone_url = distgit.anon_clone_url(checkout.remote_url, checkout.repo, template)
    except distgit.DistGitError as exc:
        _fail(parser, str(exc))
    src = f"{clone_url}#{checkout.commit}"
    upstream = f"{checkout.remote}/{checkout.upstream_branch}"
    inferred = [f"SCM URL {src} (HEAD of {checkout.branch} in {checkout.path})"]
    if not build_opts.git_branch:
        build_opts.git_branch = checkout.upstream_branch
        inferred.append(f"--git-branch {checkout.upstream_branch} "
                        f"(upstream of branch {checkout.branch}: {upstream})")
    if target is None:
        target = distgit.default_target(checkout.upstream_branch, checkout.namespace)
        inferred.append(f"target {target} (from {upstream} in namespace {checkout.namespace})")
    return target, src, inferred


def image_request(
    parser: optparse.OptionParser, goptions: Any, build_opts: optparse.Values,
    args: list[str], flatpak: bool = False,
) -> tuple[str, str, dict[str, Any]]:
    """(src, target, opts) for ``buildContainer``, checked as the hub would check them."""
    if len(args) > 2:
        _fail(parser, "Too many arguments: give at most a build target and a SCM URL")
    if len(args) == 2 and "://" in args[0] and "://" not in args[1]:
        _fail(parser, f"The build target and the SCM URL look swapped: {args[0]} is a SCM URL "
                      f"and {args[1]} is not; give the target first: TARGET SCM_URL")
    if len(args) == 1 and "://" in args[0]:
        _fail(parser, f"{args[0]} looks like a SCM URL; give the build target first: "
                      "TARGET SCM_URL")
    if flatpak and not args:
        _fail(parser, "A build target is required: flatpak targets are named after the "
                      "platform stream (e.g. f39-flatpak-candidate)")
    target = args[0] if args else None
    src = args[1] if len(args) == 2 else None
    opts = _collect(build_opts, IMAGE_KEYS)
    if flatpak:
        opts["flatpak"] = True
    if build_opts.arch_override is not None:
        try:
            arches = koji.parse_arches(build_opts.arch_override)
        except koji.GenericError as exc:
            _fail(parser, f"--arch-override: {exc}")
        if not arches:
            _fail(parser, "--arch-override needs at least one arch")
        opts["arch_override"] = arches
    userdata = _userdata(parser, build_opts.userdata)
    if userdata is not None:
        opts["userdata"] = userdata
    # Contract errors the checkout cannot fix come before looking at the checkout.
    _validate_image(parser, dict(opts, git_branch=opts.get("git_branch") or "-"), flatpak)

    from .. import options

    inferred: list[str] = []
    if src is None:
        target, src, inferred = _infer_from_checkout(parser, goptions, build_opts, target)
        if build_opts.git_branch:
            opts["git_branch"] = build_opts.git_branch
    if not build_opts.quiet:
        for line in inferred:
            print(f"Inferred: {line}")
    try:
        options.check_target(target)
        options.check_scm_url(src)
    except options.OptionsError as exc:
        _fail(parser, str(exc))
    _validate_image(parser, opts, flatpak)
    return str(src), str(target), opts


def _validate_image(parser: optparse.OptionParser, opts: dict[str, Any], flatpak: bool) -> None:
    from .. import options

    try:
        options.validate_image_options(opts)
    except options.OptionsError as exc:
        _fail(parser, exc.cli_text(FLATPAK_FLAGS if flatpak else FLAGS))


def source_request(
    parser: optparse.OptionParser, build_opts: optparse.Values, args: list[str],
) -> tuple[str, dict[str, Any]]:
    """(target, opts) for ``buildSourceContainer``, checked as the hub would check them."""
    from .. import options

    if len(args) != 1:
        _fail(parser, "Exactly one argument (a build target) is required")
    opts = _collect(build_opts, SOURCE_KEYS)
    userdata = _userdata(parser, build_opts.userdata)
    if userdata is not None:
        opts["userdata"] = userdata
    try:
        options.check_target(args[0])
        options.validate_source_options(opts)
    except options.OptionsError as exc:
        _fail(parser, exc.cli_text(FLAGS))
    return args[0], opts


def check_destination(
    session: Any, parser: optparse.OptionParser, target: str, scratch: bool,
    arch_override: Optional[str] = None,
) -> None:
    """Refuse an unknown target, or a locked destination tag unless scratch, as upstream; and
    an --arch-override naming arches the build tag lacks (the builder would refuse it too)."""
    build_target = session.getBuildTarget(target)
    if not build_target:
        _fail(parser, f"Unknown build target: {target}")
    dest_tag = session.getTag(build_target["dest_tag"])
    if not dest_tag:
        _fail(parser, f"Unknown destination tag: {build_target['dest_tag_name']}")
    if dest_tag["locked"] and not scratch:
        _fail(parser, f"Destination tag {dest_tag['name']} is locked")
    if arch_override:
        tag_arches = (session.getBuildConfig(build_target["build_tag"]) or {}).get("arches")
        canonical = {koji.canonArch(a) for a in (tag_arches or "").split()}
        missing = [a for a in arch_override.split()  # Koji's matching, as the builder's
                   if a != "noarch" and koji.canonArch(a) not in canonical]
        if tag_arches and missing:
            _fail(parser, f"--arch-override {','.join(missing)}: not an arch of build tag "
                          f"{build_target['build_tag_name']}, which has "
                          f"{', '.join(tag_arches.split())}")


def build_url(weburl: str, build_id: Any) -> str:
    return f"{weburl.rstrip('/')}/buildinfo?buildID={build_id}"


def _format_value(key: str, value: Any, level: int) -> list[str]:
    indent = "  " * level
    if isinstance(value, dict):
        if not value:
            return [f"{indent}{key}: (none)"]
        lines = [f"{indent}{key}:"]
        for sub in sorted(value, key=str):
            lines += _format_value(str(sub), value[sub], level + 1)
        return lines
    if isinstance(value, (list, tuple)):
        if not value:
            return [f"{indent}{key}: (none)"]
        lines = [f"{indent}{key}:"]
        for item in value:
            if isinstance(item, (dict, list, tuple)):
                lines += _format_value("-", item, level + 1)
            else:
                lines.append(f"{indent}  {item}")
        return lines
    return [f"{indent}{key}: {value}"]


def format_task_result(task_id: int, result: Any, weburl: str) -> list[str]:
    """The task result as lines: keys sorted, lists one item a line, builds as web links."""
    lines = [f"Task Result ({task_id}):"]
    if not isinstance(result, dict):
        return lines + [f"  {result}"]
    for key in sorted(result, key=str):
        value = result[key]
        if key == "koji_builds" and isinstance(value, (list, tuple)):
            value = [build_url(weburl, build_id) for build_id in value]
        lines += _format_value(str(key), value, 1)
    return lines


def _check_password_login(parser: optparse.OptionParser, goptions: Any) -> None:
    """koji's password login needs --user and --password on the command line (koji.read_config
    keeps neither from a profile); without them the login would fail with KeyError: 'user'."""
    authtype = getattr(goptions, "authtype", None)
    user, password = getattr(goptions, "user", None), getattr(goptions, "password", None)
    if authtype == "password" or (authtype is None and user):
        missing = [flag for flag, value in (("--user", user), ("--password", password))
                   if not value]
        if missing:
            _fail(parser, f"password login (authtype = password) needs {' and '.join(missing)}: "
                          "give koji --user USER --password PASSWORD before the command (koji "
                          "does not read them from the profile)")


def submit(
    goptions: Any, session: Any, parser: optparse.OptionParser, build_opts: optparse.Values,
    method: str, target: str, call_args: list[Any],
) -> int:
    """Log in, check the target, create the task and, like ``koji build``, watch it."""
    _check_password_login(parser, goptions)
    activate_session(session, goptions)
    arch_override = call_args[-1].get("arch_override") if method == "buildContainer" else None
    check_destination(session, parser, target, scratch=bool(build_opts.scratch),
                      arch_override=arch_override)
    kwargs: dict[str, Any] = {
        "priority": PRIORITY_BACKGROUND if build_opts.background else None,
    }
    if build_opts.channel_override:  # else the hub's (policy's) choice stands (§2.1 #34)
        kwargs["channel"] = build_opts.channel_override
    task_id = getattr(session, method)(*call_args, **kwargs)
    if not build_opts.quiet:
        print(f"Created task: {task_id}")
        print(f"Task info: {goptions.weburl}/taskinfo?taskID={task_id}")
    if not (build_opts.wait or build_opts.watch_logs
            or (build_opts.wait is None and not _running_in_bg())):
        return 0
    session.logout()
    if build_opts.watch_logs and not _watch_log(session, task_id, goptions, build_opts.quiet):
        return 1
    rv = watch_tasks(session, [task_id], quiet=build_opts.quiet,
                     poll_interval=goptions.poll_interval, topurl=goptions.topurl)
    if rv == 0:
        result = session.getTaskResult(task_id)
        print("\n".join(format_task_result(task_id, result, goptions.weburl)))
    return rv


def _watch_log(session: Any, task_id: int, goptions: Any, quiet: bool) -> bool:
    """Print the build log until the task ends; False when Ctrl-C stopped the watch."""
    from .watch import MAIN_LOG, LogWatch, interrupted_lines

    if not quiet:
        print(f"Watching {MAIN_LOG} of task {task_id} (Ctrl-C stops watching, not the build)...",
              flush=True)
    watch = LogWatch(session, task_id)
    try:
        watch.follow(goptions.poll_interval)
    except KeyboardInterrupt:
        watch.finish_line()
        print("\n".join(interrupted_lines(task_id)), flush=True)
        return False
    return True


def _check_wait_options(parser: optparse.OptionParser, build_opts: optparse.Values) -> None:
    if build_opts.watch_logs and build_opts.wait is False:
        _fail(parser, "--watch-logs waits for the build: it cannot be used with --nowait")


def container_build(goptions: Any, session: Any, args: list[str], flatpak: bool = False) -> int:
    """``koji container-build`` / ``koji flatpak-build``: exit status as ``koji build``."""
    parser = image_parser(goptions, flatpak)
    build_opts, args = parser.parse_args(args)
    _check_wait_options(parser, build_opts)
    src, target, opts = image_request(parser, goptions, build_opts, args, flatpak)
    return submit(goptions, session, parser, build_opts, "buildContainer", target,
                  [src, target, opts])


def flatpak_build(goptions: Any, session: Any, args: list[str]) -> int:
    """``koji flatpak-build``."""
    return container_build(goptions, session, args, flatpak=True)


def source_container_build(goptions: Any, session: Any, args: list[str]) -> int:
    """``koji source-container-build``: exit status as ``koji build``."""
    parser = source_parser(goptions)
    build_opts, args = parser.parse_args(args)
    _check_wait_options(parser, build_opts)
    target, opts = source_request(parser, build_opts, args)
    return submit(goptions, session, parser, build_opts, "buildSourceContainer", target,
                  [target, opts])
