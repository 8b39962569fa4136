"""koji CLI side: ``container-build``, ``flatpak-build`` and ``source-container-build``.

Flags and payloads follow the upstream koji-containerbuild CLI (reference/upstream-features.md
§1.18): unset options are omitted, ``priority`` is always sent as a keyword (5 with
``--background``), ``channel`` only with ``--channel-override``. What the hub would refuse is
refused before submitting, in the CLI's words (``checks``).
A hub fault while submitting is left to the koji script (``<FaultClass>: <message>``, exit 1).
Only stable ``koji_cli.lib`` helpers are imported (§2.1 #37).
"""

from __future__ import annotations

import configparser
import optparse
import os
from typing import Any, Optional

import koji
from koji_cli.lib import _running_in_bg, activate_session, get_usage_str, watch_tasks

from . import checks

# ``distgit`` is imported where used (``checks`` does the same with ``options``): the koji CLI
# loads every plugin for every command, and ``koji list-tags`` should not pay for them.

PRIORITY_BACKGROUND = 5  # relative to koji.PRIO_DEFAULT, as `koji build --background`
PROFILE_TEMPLATE_KEY = "containerbuild_anon_git_url_template"

IMAGE_KEYS = (
    "scratch", "isolated", "yum_repourls", "git_branch", "signing_intent", "compose_ids",
    "skip_build", "release", "koji_parent_build", "dependency_replacements",
    "operator_csv_modifications_url",
)
SOURCE_KEYS = ("scratch", "koji_build_id", "koji_build_nvr", "signing_intent")

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
        checks.fail(parser, str(exc))
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
    checks.check_image_args(parser, args, flatpak)
    target = args[0] if args else None
    src = args[1] if len(args) == 2 else None
    opts = _collect(build_opts, IMAGE_KEYS)
    if flatpak:
        opts["flatpak"] = True
    if build_opts.arch_override is not None:
        opts["arch_override"] = checks.parse_arch_override(parser, build_opts.arch_override)
    userdata = checks.parse_userdata(parser, build_opts.userdata)
    if userdata is not None:
        opts["userdata"] = userdata
    # Contract errors the checkout cannot fix come before looking at the checkout.
    checks.validate_image(parser, dict(opts, git_branch=opts.get("git_branch") or "-"), flatpak)
    inferred: list[str] = []
    if src is None:
        target, src, inferred = _infer_from_checkout(parser, goptions, build_opts, target)
        if build_opts.git_branch:
            opts["git_branch"] = build_opts.git_branch
    if not build_opts.quiet:
        for line in inferred:
            print(f"Inferred: {line}")
    checks.check_target_and_source(parser, target, src)
    checks.validate_image(parser, opts, flatpak)
    return str(src), str(target), opts


def source_request(
    parser: optparse.OptionParser, build_opts: optparse.Values, args: list[str],
) -> tuple[str, dict[str, Any]]:
    """(target, opts) for ``buildSourceContainer``, checked as the hub would check them."""
    checks.check_source_args(parser, args)
    opts = _collect(build_opts, SOURCE_KEYS)
    userdata = checks.parse_userdata(parser, build_opts.userdata)
    if userdata is not None:
        opts["userdata"] = userdata
    checks.validate_source(parser, args[0], opts)
    return args[0], opts


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


def submit(
    goptions: Any, session: Any, parser: optparse.OptionParser, build_opts: optparse.Values,
    method: str, target: str, call_args: list[Any],
) -> int:
    """Log in, check the target, create the task and, like ``koji build``, watch it."""
    checks.check_password_login(parser, goptions)
    activate_session(session, goptions)
    arch_override = call_args[-1].get("arch_override") if method == "buildContainer" else None
    checks.check_destination(session, parser, target, scratch=bool(build_opts.scratch),
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


def container_build(goptions: Any, session: Any, args: list[str], flatpak: bool = False) -> int:
    """``koji container-build`` / ``koji flatpak-build``: exit status as ``koji build``."""
    parser = image_parser(goptions, flatpak)
    build_opts, args = parser.parse_args(args)
    checks.check_wait_options(parser, build_opts)
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
    checks.check_wait_options(parser, build_opts)
    target, opts = source_request(parser, build_opts, args)
    return submit(goptions, session, parser, build_opts, "buildSourceContainer", target,
                  [target, opts])
