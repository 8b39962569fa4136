"""Builder side: the ``buildContainer`` and ``buildSourceContainer`` task flows kojid runs.

Order matters, it decides which error a user sees first (reference/upstream-features.md §1.3):
cheap checks (contract, target, arches) before the SCM fetch, checks against the hub before
OpenShift, and only then a build — re-attached if this task already made one before a kojid
restart. The task object is koji's ``BaseTaskHandler`` (session, options, workdir, uploads).
"""

from __future__ import annotations

import os
from typing import Any

import koji

from .. import options
from ..config import load_osbs_instance
from ..logs.follow import ORCHESTRATOR_LOG
from ..openshift.client import OpenShiftClient
from ..openshift.request import BuildParams, SourceBuildParams
from ..openshift.submit import submit_image_build, submit_source_build
from . import checks, repofiles, source, task_support
from .labels import ImageLabels, LabelId, parse_dockerfile
from .task_support import koji_faults, log

CHECKOUT_LOG = "checkout-for-labels.log"


def build_container(task: Any, src: Any, target: Any, opts: Any = None) -> dict[str, Any]:
    """Handler of ``buildContainer(src, target, opts)``: image and flatpak builds."""
    with koji_faults(), task_support.plugin_log(task, _osbslogs(task)) as plugin_log:
        opts = options.validate_image_options(opts)
        options.check_scm_url(src)
        options.check_target(target)
        scratch = bool(opts.get("scratch"))
        flatpak = bool(opts.get("flatpak"))
        settings, instance, event_id, target_info = _task_context(task, target, scratch)
        plugin_log.set_verbose(instance.verbose)
        session = task.session
        build_tag = target_info["build_tag"]
        arches = checks.get_arches(
            session, build_tag, event_id, arch_override=opts.get("arch_override"),
            scratch=scratch, isolated=bool(opts.get("isolated")))
        checks.check_repo_hosts(opts.get("yum_repourls", ()), settings["yum_repo_hosts"])

        checkout = _checkout(task, src, build_tag, scratch, opts["git_branch"])
        files = repofiles.read_source_files(checkout.path, flatpak=flatpak)
        image = _image_identity(files, opts, checkout.ref.component, flatpak)
        _check_parents(session, image, opts, settings["parent_registries"])
        if not scratch and not flatpak:
            checks.check_whitelist(session, image["component"], target_info["dest_tag_name"])
        if _wants_nvr_check(opts, scratch) and image["nvr"]:
            checks.check_nvr_unused(session, image["nvr"])

        params = BuildParams(
            user=task_support.owner_name(task),
            component=checkout.ref.component,
            git_uri=checkout.ref.git_uri,
            git_ref=checkout.fetched.commit,
            git_branch=opts["git_branch"],
            koji_target=target,
            koji_task_id=task.id,
            name_label=image["name"],
            base_image=image["base_image"],
            platforms=tuple(arches),
            scratch=scratch,
            isolated=bool(opts.get("isolated")),
            release=opts.get("release"),
            flatpak=flatpak,
            signing_intent=opts.get("signing_intent"),
            compose_ids=tuple(opts.get("compose_ids", ())),
            yum_repourls=tuple(opts.get("yum_repourls", ())),
            dependency_replacements=tuple(opts.get("dependency_replacements", ())),
            koji_parent_build=opts.get("koji_parent_build"),
            operator_csv_modifications_url=opts.get("operator_csv_modifications_url"),
            userdata=opts.get("userdata"),
            skip_build=bool(opts.get("skip_build")),
            triggered_after_koji_task=opts.get("triggered_after_koji_task"),
            additional_tags=tuple(files.additional_tags),
            tags_from_yaml=files.tags_from_container_yaml,
            git_commit_depth=checkout.fetched.commit_depth,
            autorebuild_enabled=files.autorebuild,
            autorebuild_add_timestamp_to_release=_add_timestamp_to_release(files),
            dockerfile_has_release_label=image["has_release_label"],
        )
        client = OpenShiftClient.from_instance(instance)
        with task_support.build_guard(task, client) as guard:
            submission = submit_image_build(client, instance, params, guard=guard)
            if submission.build is None:
                log.info("skip_build: BuildConfig %s updated, no build started",
                         submission.build_config)
                return task_support.skipped_result()
            if submission.reattached:
                log.info("Re-attached to build %s of this task (the task was restarted)",
                         submission.name)
            outcome = task_support.run_build(task, client, submission.build, demux=True,
                                             main_log=ORCHESTRATOR_LOG, guard=guard)
        return task_support.task_result(task, outcome, submission.name)


def _osbslogs(task: Any) -> str:
    return os.path.join(task.workdir, "osbslogs")


def _add_timestamp_to_release(files: repofiles.SourceFiles) -> bool:
    """container.yaml ``autorebuild.add_timestamp_to_release`` (osbs-client: truthy lifts the
    "release label must not be set" rule of autorebuild-enabled repositories)."""
    section = (files.container_config or {}).get("autorebuild")
    return bool(section.get("add_timestamp_to_release")) if isinstance(section, dict) else False


def _task_context(task: Any, target: str, scratch: bool) -> tuple[dict, Any, int, dict]:
    """Settings, the osbs.conf instance, the task's event and its target at that event."""
    settings = task_support.settings()
    instance = load_osbs_instance(scratch=scratch, path=settings["osbs_conf"])
    event_id = task.session.getLastEvent()["id"]
    return settings, instance, event_id, checks.get_target(task.session, target, event_id)


class _Checkout:
    def __init__(self, ref: source.ScmRef, fetched: source.FetchedSource):
        self.ref = ref
        self.fetched = fetched
        self.path = str(fetched.path)


def _checkout(task: Any, src: str, build_tag: Any, scratch: bool, branch: str) -> _Checkout:
    """SCM rules, callbacks (also for flatpaks, upstream #189) and a fetch of the one commit."""
    scm_url = _koji_scm_url(src)
    rules = source.ScmRules.from_kojid_options(task.options)
    scm = source.make_scm(scm_url, allow_password=rules.allow_password)
    try:
        source.assert_allowed(
            scm, rules, session=task.session, user_id=task.taskinfo["owner"],
            channel=task_support.channel_name(task), scratch=scratch, build_tag=build_tag)
    except koji.BuildError as exc:
        raise koji.BuildError(f"{exc}{_anon_url_hint(src)}") from None
    ref = source.scm_ref_from(scm)
    task.run_callbacks("preSCMCheckout", scminfo=scm.get_info(), build_tag=build_tag,
                       scratch=scratch)
    logfile = os.path.join(task.workdir, CHECKOUT_LOG)
    try:
        fetched = source.fetch_source(ref, os.path.join(task.workdir, "sources"),
                                      logfile=logfile, branch=branch, verify_branch=True)
    finally:
        if os.path.exists(logfile):
            task.uploadFile(logfile)
    task.run_callbacks("postSCMCheckout", scminfo=scm.get_info(), build_tag=build_tag,
                       scratch=scratch, srcdir=str(fetched.path))
    return _Checkout(ref, fetched)


def _anon_url_hint(src: str) -> str:
    """For a URL the koji CLI may have derived from a checkout's remote: how to give the right
    one (an ssh remote becomes https://<same host>/..., which the site may not serve)."""
    if not src.startswith(("git+https://", "git+http://", "https://", "http://", "git://")):
        return ""
    return ("; if koji container-build derived this URL from your checkout's remote, set "
            "containerbuild_anon_git_url_template in your koji profile (or pass "
            "--anon-git-url-template) to your DistGit's anonymous clone URL, e.g. "
            "https://src.example.org/{repo}.git")


def _koji_scm_url(src: str) -> str:
    """Koji's SCM knows git over http(s) only as git+http(s); base rpkg sends plain https."""
    for scheme in ("https://", "http://"):
        if src.startswith(scheme):
            return "git+" + src
    return src


def _image_identity(files: repofiles.SourceFiles, opts: dict, component: str,
                    flatpak: bool) -> dict[str, Any]:
    """Component, name label, base image and expected NVR, with upstream koji-containerbuild's
    label rules and then osbs-client 1.10's (`check_osbs_rules`), flatpaks included: their
    labels come from container.yaml and the first module, as osbs-client derived them."""
    if flatpak:
        identity = repofiles.flatpak_identity(files.container_config)
        ImageLabels({"name": identity.name, "com.redhat.component": identity.component,
                     "version": identity.version}).check_osbs_rules()
        return {"component": identity.component, "name": identity.name,
                "base_image": identity.base_image, "nvr": None, "has_release_label": False}
    release = opts.get("release")
    image = ImageLabels.from_dockerfile(files.dockerfile or "",
                                        {"release": release} if release else None)
    image.check_required()
    image.check_osbs_rules()
    image.check_tag_lengths(files.additional_tags)
    dockerfile = parse_dockerfile(files.dockerfile or "")
    return {
        "component": image.component,
        "name": image.image_name(),
        "base_image": dockerfile.base_image,
        "nvr": image.expected_nvr(),
        "has_release_label": bool(image.dockerfile_value(LabelId.RELEASE)[0]),
    }


def _check_parents(session: Any, image: dict, opts: dict, allowed: tuple) -> None:
    """The parent image must come from the distribution's own registries (when configured)."""
    if image.get("base_image"):
        checks.check_parent_registry(image["base_image"], allowed, "FROM")
    parent = opts.get("koji_parent_build")
    if not parent:
        return
    build = session.getBuild(parent)
    if not build:
        raise koji.BuildError(f"koji_parent_build: no Koji build {parent}")
    index = ((build.get("extra") or {}).get("image") or {}).get("index") or {}
    for pullspec in index.get("pull") or ():
        checks.check_parent_registry(pullspec, allowed, "koji_parent_build")


def _wants_nvr_check(opts: dict, scratch: bool) -> bool:
    """No NVR check for scratch, skip_build or autorebuilds (their release is bumped later)."""
    return not (scratch or opts.get("skip_build")
                or opts.get("triggered_after_koji_task") is not None)


def build_source_container(task: Any, target: Any, opts: Any = None) -> dict[str, Any]:
    """Handler of ``buildSourceContainer(target, opts)``."""
    with koji_faults(), task_support.plugin_log(task, _osbslogs(task)) as plugin_log:
        opts = options.validate_source_options(opts)
        options.check_target(target)
        scratch = bool(opts.get("scratch"))
        _, instance, _, target_info = _task_context(task, target, scratch)
        plugin_log.set_verbose(instance.verbose)
        session = task.session
        build = checks.get_source_build_info(session, opts.get("koji_build_id"),
                                             opts.get("koji_build_nvr"))
        component = f"{build['name']}-source"
        if not scratch:
            checks.check_whitelist(session, component, target_info["dest_tag_name"])
        params = SourceBuildParams(
            user=task_support.owner_name(task),
            component=component,
            koji_target=target,
            koji_task_id=task.id,
            sources_for_koji_build_id=build["id"],
            sources_for_koji_build_nvr=build["nvr"],
            scratch=scratch,
            signing_intent=opts.get("signing_intent"),
            userdata=opts.get("userdata"),
        )
        client = OpenShiftClient.from_instance(instance)
        with task_support.build_guard(task, client) as guard:
            submission = submit_source_build(client, instance, params, guard=guard)
            outcome = task_support.run_build(task, client, submission.build, demux=False,
                                             main_log=ORCHESTRATOR_LOG, guard=guard)
        return task_support.task_result(task, outcome, submission.name)

