"""Hub side: turn a buildContainer/buildSourceContainer call into a task, or refuse it cleanly.

Everything is checked before ``make_task`` so a refused call leaves nothing behind, and every
refusal is a Koji fault with one line saying what to change (fedpkg prints ``str(fault)``).
The plugin file passes in ``kojihub`` and the request's session, so this module imports no hub
code and can be tested with stand-ins.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable, TypeVar

import koji
import koji.tasks

from . import config, options

log = logging.getLogger("koji.plugin.containerbuild")

IMAGE_METHOD = "buildContainer"
SOURCE_METHOD = "buildSourceContainer"
MAX_PRIORITY_OFFSET = 2**31 - 1 - koji.PRIO_DEFAULT

# Hub policies (channel, priority) can only see src/target/scratch of tasks whose signature
# koji knows (reference/koji-plugin-api.md §1.6).
TASK_SIGNATURES = {
    IMAGE_METHOD: [[["src", "target", "opts"], None, None, (None,)]],
    SOURCE_METHOD: [[["target", "opts"], None, None, (None,)]],
}

settings_path = config.HUB_PLUGIN_CONF
_settings_lock = threading.Lock()
_settings_cache: dict[str, Any] = {}

F = TypeVar("F", bound=Callable[..., Any])


def register_task_signatures() -> None:
    """Make the task params parseable by hub policies in this process."""
    koji.tasks.LEGACY_SIGNATURES.update(TASK_SIGNATURES)


def settings() -> dict[str, Any]:
    """The hub plugin settings, read once per process (the hub loads plugins per WSGI process)."""
    with _settings_lock:
        if _settings_cache.get("path") != settings_path:
            _settings_cache["values"] = config.load_hub_settings(settings_path)
            _settings_cache["path"] = settings_path
        return _settings_cache["values"]


def koji_faults_only(func: F) -> F:
    """Let only Koji faults leave: a contract error becomes ParameterError, a bug GenericError."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except koji.GenericError:
            raise
        except options.OptionsError as exc:
            raise koji.ParameterError(str(exc)) from None
        except config.ConfigError as exc:
            log.error("containerbuild hub plugin misconfigured: %s", exc)
            raise koji.GenericError(f"Container build plugin is misconfigured: {exc}") from None
        except Exception:
            log.exception("Unexpected error in %s", func.__name__)
            raise koji.GenericError(
                f"{func.__name__}: internal error in the container build plugin; "
                "the hub log has the details"
            ) from None

    return wrapper  # type: ignore[return-value]


def _check_caller(session: Any) -> None:
    session.assertLogin()
    permission = settings()["build_permission"]
    if permission:
        session.assertPerm(permission)  # admin passes too


def _task_options(session: Any, priority: Any, channel: Any, default_channel: str) -> dict:
    task_opts: dict[str, Any] = {}
    if priority is not None:
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise koji.ParameterError(
                f"Invalid priority {priority!r}: must be an integer offset from the default "
                "priority (positive is lower priority) or nil"
            )
        if abs(priority) > MAX_PRIORITY_OFFSET:
            raise koji.ParameterError(f"Invalid priority {priority}: out of range")
        if priority < 0 and not session.hasPerm("admin"):
            raise koji.ActionNotAllowed("only admins may create high-priority tasks")
        if priority:
            task_opts["priority"] = koji.PRIO_DEFAULT + priority
    if channel is None or channel == "":
        channel = default_channel
    if isinstance(channel, bool) or not isinstance(channel, (str, int)):
        raise koji.ParameterError(f"Invalid channel {channel!r}: must be a channel name or id")
    if isinstance(channel, str) and (len(channel) > 256 or not channel.strip()):
        raise koji.ParameterError(f"Invalid channel {channel[:60]!r}: not a channel name")
    task_opts["channel"] = channel
    return task_opts


@koji_faults_only
def build_container(
    kojihub: Any,
    session: Any,
    src: Any,
    target: Any,
    opts: Any = None,
    priority: Any = None,
    channel: Any = None,
) -> int:
    """Create a buildContainer task (image or flatpak build) and return its id."""
    _check_caller(session)
    options.check_scm_url(src)
    options.check_target(target)
    task_params = options.validate_image_options(opts)
    task_opts = _task_options(session, priority, channel, settings()["image_channel"])
    kojihub.get_build_target(target, strict=True)
    return int(kojihub.make_task(IMAGE_METHOD, [src, target, task_params], **task_opts))


@koji_faults_only
def build_source_container(
    kojihub: Any,
    session: Any,
    target: Any,
    opts: Any = None,
    priority: Any = None,
    channel: Any = None,
) -> int:
    """Create a buildSourceContainer task and return its id."""
    _check_caller(session)
    options.check_target(target)
    task_params = options.validate_source_options(opts)
    task_opts = _task_options(session, priority, channel, settings()["source_channel"])
    kojihub.get_build_target(target, strict=True)
    return int(kojihub.make_task(SOURCE_METHOD, [target, task_params], **task_opts))

