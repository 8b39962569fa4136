"""Fault-injection knobs for the OpenShift API simulator.

Every knob is off by default. Decisions are deterministic for a given ``seed``: each one is a
hash of (seed, knob, request key, n-th time this key was seen), so a run with the same requests
meets the same faults even when threads interleave differently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Faults:
    """What can go wrong between a client and the API server.

    - ``error_rate``: fraction of ordinary (non-watch, non-log) API requests answered with a
      5xx ``Status`` (one of ``error_statuses``).
    - ``error_after_commit``: for a failed POST/PUT/DELETE, the fraction where the change is
      committed *before* the 5xx is sent (a real API server can commit, then fail to answer).
    - ``reset_rate``: fraction of API requests whose connection is reset (TCP RST) mid-response.
    - ``watch_drop_seconds``: close every watch stream abruptly after this many seconds.
    - ``log_cut_bytes``: close log streams abruptly (cuts may fall mid-line). Every connection
      re-sends the log from byte 0, as OpenShift does; it is cut once it has passed
      ``log_cut_bytes`` beyond the furthest offset any earlier connection to that build's log
      reached — so each reconnect gets N new bytes. With ``log_cut_counts_resent`` the cut
      comes after N bytes of the connection itself (a log longer than N can then only be
      read whole with ``sinceSeconds``).
    - ``slow_seconds``: delay before answering each API request.
    """

    seed: int = 0
    error_rate: float = 0.0
    error_after_commit: float = 0.5
    error_statuses: tuple[int, ...] = (500, 503)
    reset_rate: float = 0.0
    watch_drop_seconds: Optional[float] = None
    log_cut_bytes: Optional[int] = None
    log_cut_counts_resent: bool = False
    slow_seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "error_after_commit", "reset_rate"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
            setattr(self, name, value)
        self.error_statuses = tuple(int(code) for code in self.error_statuses)
        if not self.error_statuses or any(not 500 <= c <= 599 for c in self.error_statuses):
            raise ValueError("error_statuses must be 5xx codes")
        if self.watch_drop_seconds is not None and float(self.watch_drop_seconds) <= 0:
            self.watch_drop_seconds = None
        if self.log_cut_bytes is not None and int(self.log_cut_bytes) <= 0:
            self.log_cut_bytes = None
        if self.log_cut_bytes is not None:
            self.log_cut_bytes = int(self.log_cut_bytes)
        self.slow_seconds = max(0.0, float(self.slow_seconds))

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        return data

    def replaced(self, **changes: Any) -> Faults:
        """A copy with some fields changed; unknown names raise ``TypeError``."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown fault knobs: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


@dataclass
class FaultInjector:
    """Holds the current ``Faults`` (replaceable at run time) and makes the decisions."""

    faults: Faults = field(default_factory=Faults)
    _counts: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._counts.clear()

    def update(self, **changes: Any) -> Faults:
        with self._lock:
            self.faults = self.faults.replaced(**changes)
            self._counts.clear()
            return self.faults

    def _roll(self, knob: str, key: str) -> float:
        """A deterministic number in [0, 1) for the n-th decision about ``key``."""
        with self._lock:
            n = self._counts.get((knob, key), 0)
            self._counts[(knob, key)] = n + 1
            seed = self.faults.seed
        digest = hashlib.sha256(f"{seed}|{knob}|{key}|{n}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def should_error(self, key: str) -> Optional[int]:
        """The 5xx status to answer ``key`` with, or None."""
        faults = self.faults
        if faults.error_rate <= 0:
            return None
        if self._roll("error", key) >= faults.error_rate:
            return None
        pick = self._roll("error-status", key)
        return faults.error_statuses[int(pick * len(faults.error_statuses))]

    def error_after_commit(self, key: str) -> bool:
        return self._roll("error-after-commit", key) < self.faults.error_after_commit

    def should_reset(self, key: str) -> bool:
        faults = self.faults
        return faults.reset_rate > 0 and self._roll("reset", key) < faults.reset_rate
