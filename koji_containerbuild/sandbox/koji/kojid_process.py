"""The kojid process of the sandbox: koji's TaskManager with kojid's loop, options and
signal handling; ``koji_containerbuild.sandbox.koji.kojid`` starts and controls it (see there)."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import optparse
import os
import signal
import sys
import time
from typing import Any, Optional

import koji
import koji.daemon
import koji.plugin
import koji.tasks

log = logging.getLogger("koji_containerbuild.sandbox.koji.kojid")

MODULE = "koji_containerbuild.sandbox.koji.kojid"
PASSWORD_ENV = "SANDBOX_KOJID_PASSWORD"  # noqa: S105 - the variable's name, not a secret
PLUGIN_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                           "builder_plugin"))
SCALE_BASE = 3.0  # kojid's pause after SIGINT; kill_pause / SCALE_BASE scales every kill timing

# kojid.conf keys and kojid's defaults (builder/kojid get_options, docs/kojid_conf.rst); kojid
# refuses any other key, so a plugin cannot come to rely on an option real kojid would reject.
KOJID_DEFAULTS: dict[str, Any] = {
    "server": None, "topurl": None, "topdir": "/mnt/koji",
    "workdir": "/var/tmp/koji",  # noqa: S108 - kojid's default; the sandbox always sets its own
    "pluginpath": "/usr/lib/koji-builder-plugins", "plugin": [], "sleeptime": 15,
    "maxjobs": 10, "minspace": 8192, "mockdir": "/var/lib/mock", "mockuser": "kojibuilder",
    "mockhost": "koji-linux-gnu", "chroot_tmpdir": "/chroot_tmpdir", "log_level": None,
    "keepalive": True, "max_retries": 120, "retry_interval": 60, "offline_retry": True,
    "offline_retry_interval": 120, "timeout": None, "use_fast_upload": True,
    "no_ssl_verify": False, "serverca": None, "allowed_scms": "",
    "allowed_scms_use_config": True, "allowed_scms_use_policy": False,
    "allow_password_in_scm_url": False, "allow_noverifyssl": False,
    "build_arch_can_fail": False, "literal_task_arches": "", "task_avail_delay": 300,
    "failed_buildroot_lifetime": 14400, "buildroot_basic_cleanup_delay": 120,
    "buildroot_final_cleanup_delay": 86400, "rpmbuild_timeout": 86400, "oz_install_timeout": 0,
    "log_timestamps": False, "distribution": "Koji", "packager": "Koji", "vendor": "Koji",
    "support_rpm_source_layout": True, "yum_proxy": None, "admin_emails": "",
    "from_addr": "Koji Build System <buildsys@example.com>", "smtphost": "example.com",
}
SANDBOX_DEFAULTS: dict[str, Any] = {"minspace": 256, "retry_interval": 0.5, "max_retries": 20}
_NONE_DEFAULT_TYPES = {"timeout": int}
_TRUE, _FALSE = ("yes", "on", "true", "1"), ("no", "off", "false", "0")


_OWN_ARGUMENTS = ("server", "workdir", "plugin", "pluginpath", "sleeptime")


def _coerce(key: str, value: Any) -> Any:
    """A kojid.conf string (or a Python value) as the type kojid gives that key."""
    if key not in KOJID_DEFAULTS:
        raise ValueError(f"unknown kojid option: {key}")
    if key in _OWN_ARGUMENTS:
        raise ValueError(f"kojid option {key} comes from the sandbox kojid's own arguments")
    default = KOJID_DEFAULTS[key]
    if not isinstance(value, str):
        return value
    if isinstance(default, bool):
        if value.lower() not in _TRUE + _FALSE:
            raise ValueError(f"kojid option {key} wants a boolean, not {value!r}")
        return value.lower() in _TRUE
    kind = _NONE_DEFAULT_TYPES.get(key) if default is None else type(default)
    if default is None and value == "":
        return None
    if kind in (int, float):
        return float(value) if "." in value or kind is float else int(value)
    return value


def option_text(value: Any) -> str:
    """The inverse of ``_coerce`` for the command line."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def kojid_options(hub_url: str, workdir: str, *, plugin_paths: Optional[list[str]] = None,
                  plugins: Optional[list[str]] = None, options: Optional[dict] = None,
                  poll_interval: float = 0.1) -> optparse.Values:
    """kojid's options (``self.options`` of every task handler) for the sandbox."""
    values = dict(KOJID_DEFAULTS)
    topurl = hub_url[:-len("/kojihub")] + "/kojifiles" if hub_url.endswith("/kojihub") else None
    values.update(SANDBOX_DEFAULTS, server=hub_url, workdir=workdir, mockdir=workdir,
                  topurl=topurl, topdir=os.path.join(workdir, "topdir"), sleeptime=poll_interval,
                  pluginpath=":".join(plugin_paths or [PLUGIN_DIR]),
                  plugin=list(plugins if plugins is not None else ["builder_containerbuild"]))
    for key, value in (options or {}).items():
        values[key] = _coerce(key, value)
    return optparse.Values(values)


class SandboxTaskManager(koji.daemon.TaskManager):
    """koji.daemon.TaskManager with the sandbox's departures (module docstring)."""

    def __init__(self, options: optparse.Values, session: koji.ClientSession,
                 kill_pause: float = SCALE_BASE):
        super().__init__(options, session)
        self.kill_pause = kill_pause
        self.manager_pid = os.getpid()

    def updateBuildroots(self, nolocal: bool = False) -> None:  # noqa: N802 - koji's name
        """No mock buildroots to maintain."""

    def registerCallback(self, entry: Any) -> None:  # noqa: N802
        """Register once: in-process kojids of one test process share koji.plugin.callbacks."""
        for cbtype in getattr(entry, "callbacks", None) or ():
            if callable(entry) and entry not in koji.plugin.callbacks.get(cbtype, []):
                koji.plugin.register_callback(cbtype, entry)

    def readyForTask(self) -> bool:  # noqa: N802
        """kojid's gate without the load-average check."""
        if self.restart_pending:
            if self.tasks:
                self.status = "Pending restart"
                return False
            raise koji.tasks.ServerRestart
        self.hostdata = self.session.host.getHost()
        if not self.hostdata["enabled"]:
            self.status = "Host is disabled"
            return False
        if self.task_load > self.hostdata["capacity"]:
            self.status = "Over capacity"
            return False
        if len(self.tasks) >= self.options.maxjobs:
            self.status = "Full queue"
            return False
        return self.checkSpace()

    def _killChildren(self, task_id: int, children: list, sig: int = signal.SIGTERM,  # noqa: N802
                      timeout: float = 2.0, pause: float = 1.0) -> None:
        scale = self.kill_pause / SCALE_BASE
        super()._killChildren(task_id, children, sig=sig, timeout=timeout * scale,
                              pause=pause * scale)

    def runTask(self, handler: koji.tasks.BaseTaskHandler) -> None:  # noqa: N802
        if os.getpid() != self.manager_pid:  # the forked task process
            install_kojid_signals(self)
        super().runTask(handler)


def install_kojid_signals(manager: koji.daemon.TaskManager) -> None:
    """kojid's handlers: SIGTERM -> SystemExit, SIGUSR1 -> restart once idle, SIGINT ->
    KeyboardInterrupt. A forked task process inherits them."""
    def shutdown(*_args: Any) -> None:
        raise SystemExit

    def restart(*_args: Any) -> None:
        log.warning("Initiating graceful restart")
        manager.restart_pending = True

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGUSR1, restart)
    signal.signal(signal.SIGINT, signal.default_int_handler)


_loaded_plugins: dict[tuple[str, str], Any] = {}


def load_plugins(manager: koji.daemon.TaskManager, options: optparse.Values) -> None:
    """kojid's plugin loading; a module is imported once per process (koji's PluginTracker
    refuses a second import under the same name)."""
    manager.findHandlers(vars(koji.tasks))
    tracker = koji.plugin.PluginTracker(path=options.pluginpath.split(":"))
    for name in options.plugin:
        key = (options.pluginpath, name)
        if key not in _loaded_plugins:
            log.info("Loading plugin: %s", name)
            reload = any(n == name for _p, n in _loaded_plugins)
            try:
                _loaded_plugins[key] = tracker.load(name, reload=reload)
            except Exception as exc:  # kojid stops here too, with a traceback
                raise RuntimeError(f"cannot load builder plugin {name!r} from "
                                   f"{options.pluginpath}: {type(exc).__name__}: {exc}") from exc
        manager.scanPlugin(_loaded_plugins[key])


def connect(options: optparse.Values, host: str, password: str) -> koji.ClientSession:
    """Log in as the host and take its exclusive session, forcing out a dead kojid's."""
    session_opts = koji.grab_session_options(options)
    session = koji.ClientSession(options.server, dict(session_opts, user=host,
                                                      password=password))
    session.login()
    session.exclusiveSession(force=True)
    return session


def new_manager(options: optparse.Values, host: str, password: str,
                kill_pause: float) -> SandboxTaskManager:
    session = connect(options, host, password)
    manager = SandboxTaskManager(options, session, kill_pause=kill_pause)
    load_plugins(manager, options)
    return manager


# -- the kojid process ------------------------------------------------------------------
class _QuietPolling(logging.Filter):
    """Drop TaskManager's two INFO lines logged on every poll (10 a second here)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("pids: ", "open task: "))


def serve(manager: SandboxTaskManager, parent_pid: Optional[int] = None) -> int:
    """kojid's main loop until SIGTERM (or its parent is gone); then shutdown and logout."""
    exit_code, taken = 0, False
    while True:
        try:
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("Parent process %s is gone", parent_pid)
                break
            manager.updateTasks()
            taken = manager.getNextTask()
        except (SystemExit, koji.tasks.ServerExit, KeyboardInterrupt):
            log.warning("Exiting")
            break
        except koji.tasks.ServerRestart:
            log.warning("Restarting")
            argv = list(sys.argv[1:])
            if "--ready-fd" in argv:  # that pipe is gone; its number may be reused
                at = argv.index("--ready-fd")
                del argv[at:at + 2]
            os.execv(sys.executable, [sys.executable, "-m", MODULE, *argv])  # noqa: S606
        except koji.AuthExpired:
            log.error("Session expired")
            exit_code = 1
            break
        except koji.RetryError:
            raise
        except Exception:  # kojid logs anything else and carries on
            log.exception("Error in the kojid loop")
        try:
            if not taken:
                time.sleep(manager.options.sleeptime)
        except (SystemExit, KeyboardInterrupt):
            log.warning("Exiting")
            break
    log.warning("Shutting down, please wait...")
    manager.shutdown()
    manager.session.logout()
    return exit_code


def _parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description="Run a sandbox kojid until SIGTERM.")
    parser.add_argument("--hub", required=True, help="hub XML-RPC URL (…/kojihub)")
    parser.add_argument("--host", required=True, help="build host name (its user logs in)")
    parser.add_argument("--password", help=f"host user's password (or ${PASSWORD_ENV})")
    parser.add_argument("--workdir", required=True, help="kojid's workdir; kojid.log goes here")
    parser.add_argument("--plugin-path", action="append", dest="plugin_paths",
                        help=f"builder plugin folder, repeatable (default {PLUGIN_DIR})")
    parser.add_argument("--plugin", action="append", dest="plugins",
                        help="plugin to load, repeatable (default builder_containerbuild)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a kojid.conf option, repeatable (e.g. allowed_scms=...)")
    parser.add_argument("--poll-interval", type=float, default=0.1,
                        help="sleeptime between polls when idle (kojid: 15)")
    parser.add_argument("--kill-pause", type=float, default=SCALE_BASE,
                        help="pause after SIGINT before SIGTERM (kojid: 3)")
    parser.add_argument("--log-file", help="default: WORKDIR/kojid.log")
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--exit-with-parent", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.password = args.password or os.environ.get(PASSWORD_ENV)
    if not args.password:
        parser.error(f"give --password or set {PASSWORD_ENV}")
    for item in args.option:
        if "=" not in item:
            parser.error(f"--option wants KEY=VALUE, not {item!r}")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = _parse_args(argv)
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    try:
        plugins = None if args.plugins is None else [name for name in args.plugins if name]
        options = kojid_options(args.hub, workdir, plugin_paths=args.plugin_paths,
                                plugins=plugins, poll_interval=args.poll_interval,
                                options=dict(item.split("=", 1) for item in args.option))
    except ValueError as exc:
        print(f"sandbox kojid: {exc}", file=sys.stderr)
        return 2
    handler = logging.FileHandler(args.log_file or os.path.join(workdir, "kojid.log"))
    handler.setFormatter(logging.Formatter(
        "%(asctime)s [%(levelname)s] %(name)s pid %(process)d: %(message)s"))
    level = options.log_level or "INFO"
    if level != "DEBUG":
        handler.addFilter(_QuietPolling())
    logging.basicConfig(level=level, handlers=[handler])
    log.info("Starting up: host %s, hub %s, plugins %s", args.host, args.hub, options.plugin)
    try:
        manager = new_manager(options, args.host, args.password, args.kill_pause)
    except RuntimeError as exc:
        log.exception("Cannot start")
        print(f"sandbox kojid: {exc}", file=sys.stderr, flush=True)
        return 1
    install_kojid_signals(manager)
    faulthandler.register(signal.SIGQUIT, file=handler.stream, all_threads=True)  # kill -QUIT
    print(f"Sandbox kojid for host {args.host} on {args.hub}; log in {handler.baseFilename}",
          flush=True)
    if args.ready_fd is not None:
        os.write(args.ready_fd, b"ready\n")
        os.close(args.ready_fd)
    return serve(manager, parent_pid=args.exit_with_parent)

