"""Processes of the sandbox seen through /proc: one process named for good by pid and start
time, and a process tree found by parent pid (as kojid's cleanupTask finds a task's)."""

from __future__ import annotations

import os
from typing import Optional


def proc_stat(pid: int) -> Optional[list[str]]:
    """/proc/<pid>/stat fields after the command name (state first), None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return fields if fields and fields[0] != "Z" else None


def start_time(pid: int) -> Optional[str]:
    """The pid's start time in clock ticks: with the pid, it names one process for good."""
    fields = proc_stat(pid)
    return fields[19] if fields else None


def descendants(root: int) -> list[int]:
    """``root`` and everything below it, by parent pid (breadth first)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        fields = proc_stat(int(entry)) if entry.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, at = [root], 0
    while at < len(tree):
        tree += children.get(tree[at], [])
        at += 1
    return tree
