"""Which file a worker's ``platform:`` field may write into the task output, if any.

The field comes from untrusted build output and becomes a file name, so it may never be a
path, hidden, absurdly long or one of the task's own files, and a log naming more platforms
than any real build has opens no further files: those lines stay whole in the main log.
The demuxer asks once per distinct field; the answers are kept (up to a bound) in a dict
its hot loops read directly.
"""

from __future__ import annotations

import re
from typing import Callable

ORCHESTRATOR_LOG = "orchestrator.log"
COMBINED_LOG = "openshift-incremental.log"
USER_WARNINGS_LOG = "user_warnings.log"
METADATA_TAG = "_metadata_"
# Every file the task writes into its output besides the platform logs: tasks.CHECKOUT_LOG,
# task_support.PLUGIN_LOG, the demuxer's own files and the JSON files. A `platform:` field
# that would name one of them keeps its line whole in the main log instead.
RESERVED_NAMES = frozenset({
    "osbs-client.log", "checkout-for-labels.log", ORCHESTRATOR_LOG, COMBINED_LOG,
    USER_WARNINGS_LOG, "metadata.json", "build_annotations.json"})
# Real builds have a handful of platforms; a log naming more is hostile or broken.
MAX_PLATFORM_FILES = 64
# Distinct fields remembered; a log with more gets the rest judged anew each time, so memory
# stays bounded whatever it holds.
_MAX_CACHED = 256

# A worker platform becomes a file name, so it may never be a path, hidden, or absurdly long.
_PLATFORM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class PlatformFiles:
    """The file names the platform fields of one log get, in the order they appear."""

    def __init__(self, main_log: str, on_problem: Callable[[str], None]) -> None:
        """``main_log`` takes the lines no platform file gets (it is reserved too);
        ``on_problem`` hears, once, that the log names too many platforms."""
        if not _PLATFORM_NAME.fullmatch(main_log) or not main_log.endswith(".log"):
            raise ValueError(f"main_log must be a plain *.log file name: {main_log!r}")
        self._main_log = main_log
        self._problem = on_problem
        self._reserved = RESERVED_NAMES | {main_log}
        # raw field -> file_for's answer; read directly by the demuxer's hot loops
        self.names: dict[bytes, str] = {}
        self._granted: set[str] = set()     # platforms that have their own file
        self._refused_platforms = 0

    def file_for(self, raw: bytes) -> str:
        """File name for a platform field: METADATA_TAG itself, '' when the name is unsafe
        (a path, hidden, one of the task's own files) or one platform too many, else
        ``<platform>.log``; cached in ``names``."""
        platform = raw.decode("utf-8", "surrogateescape")
        if platform == METADATA_TAG:
            name = METADATA_TAG
        elif _PLATFORM_NAME.fullmatch(platform) and platform + ".log" not in self._reserved:
            name = platform + ".log"
            if name not in self._granted:
                if len(self._granted) >= MAX_PLATFORM_FILES:
                    self._refused_platforms += 1
                    if self._refused_platforms == 1:
                        self._problem(f"the build log names more than {MAX_PLATFORM_FILES} "
                                      f"platforms; lines of further platforms (first: "
                                      f"{platform!r}) stay whole in {self._main_log}")
                    name = ""
                else:
                    self._granted.add(name)
        else:
            name = ""
        if len(self.names) < _MAX_CACHED:
            self.names[raw] = name
        return name
