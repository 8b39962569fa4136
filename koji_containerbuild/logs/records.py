"""What a log line may carry out of the log: atomic-reactor's USER_WARNING records (for the
task result) and a scratch build's ``_metadata_`` file (for the task output).

Both come from untrusted build output, so a record is found in linear time, its message is
kept to what XML-RPC can carry and its size is bounded, and a metadata path never leaves
Koji's work directory nor names one of the task's own files.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
from typing import Optional

# USER_WARNING records carry JSON: `... - USER_WARNING - {"message": "..."}` (KCB 0.12).
USER_WARNING_MARK = b" - USER_WARNING - {"
# User warnings collected for the task result (the rest stay in their log, nothing is lost).
MAX_USER_WARNINGS = 1000
MAX_USER_WARNING_BYTES = 1 << 20
# What XML 1.0 (hence XML-RPC) cannot carry: C0 controls but tab/LF/CR, lone surrogates,
# U+FFFE/U+FFFF. A character class: one linear pass.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Basename of the file a `_metadata_` line points at (atomic-reactor writes metadata.json).
_METADATA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.json")


def user_warning_json(text: bytes) -> Optional[bytes]:
    """The JSON object of a USER_WARNING record, as osbs-client's
    ``^.+ - USER_WARNING - (\\{.*\\})\\r?$`` finds it, in linear time: its greedy ``.+``
    settles on the last mark (the mark cannot overlap itself) and the object runs to a
    closing brace at the end of the line, before one optional carriage return."""
    at = text.rfind(USER_WARNING_MARK)
    if at < 1:
        return None
    end = len(text) - 1 if text.endswith(b"}\r") else len(text)
    start = at + len(USER_WARNING_MARK) - 1
    if end - start < 2 or text[end - 1:end] != b"}":
        return None
    return text[start:end]


def xmlrpc_safe(text: str) -> str:
    """``text`` with every character XML-RPC cannot carry written as a ``\\x..``/``\\u....``
    escape, so a warning can never make ``host.closeTask`` fail."""
    return _NOT_XML.sub(lambda m: ascii(m.group())[1:-1], text)


def user_warning_message(text: bytes) -> Optional[str]:
    """The message of a USER_WARNING line, XML-RPC-safe; None when the line is no record or
    a malformed one (it then stays in its log)."""
    body = user_warning_json(text)
    if body is None:
        return None
    try:
        message = json.loads(body.decode("utf-8"))["message"]
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, RecursionError):
        return None
    return xmlrpc_safe(message) if isinstance(message, str) else None


class UserWarnings:
    """The unique messages, in order, up to what a task result should hold."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._seen: set[str] = set()
        self._bytes = 0

    def add(self, message: str) -> Optional[bool]:
        """True: new, kept; False: seen before; None: one too many (stays in the log)."""
        if message in self._seen:
            return False
        size = len(message.encode("utf-8"))
        if (len(self.messages) >= MAX_USER_WARNINGS
                or self._bytes + size > MAX_USER_WARNING_BYTES):
            return None
        self._seen.add(message)
        self._bytes += size
        self.messages.append(message)
        return True


def copy_metadata(text: bytes, metadata_root: Optional[str], outdir: str,
                  reserved: frozenset) -> tuple[Optional[str], Optional[str]]:
    """Copy the file a scratch build's `_metadata_` line names (a path relative to Koji's
    work dir, last token of the line) into ``outdir`` so it is uploaded with the task output
    — the hub's own copy is not reachable from kojiweb (regression #16). Returns (the file's
    name, None) or (None, why not)."""
    tokens = text.split()
    relpath = tokens[-1].decode("utf-8", "surrogateescape") if tokens else ""
    name = posixpath.basename(relpath)
    if metadata_root is None:
        return None, f"metadata file {relpath!r} not copied: no Koji work directory configured"
    if (not relpath or posixpath.isabs(relpath) or not _METADATA_NAME.fullmatch(name)
            or (name in reserved and name != "metadata.json")):
        return None, f"metadata file {relpath!r} not copied: not a relative *.json path"
    root = os.path.realpath(metadata_root)
    source = os.path.realpath(os.path.join(root, relpath))
    if not source.startswith(root + os.sep):
        return None, f"metadata file {relpath!r} not copied: outside the Koji work directory"
    partial = os.path.join(outdir, "." + name + ".part")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, os.path.join(outdir, name))
    except OSError as exc:
        return None, f"metadata file {relpath!r} not copied: {exc}"
    return name, None
