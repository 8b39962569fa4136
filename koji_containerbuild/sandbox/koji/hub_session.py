"""Sessions of the sandbox hub, as kojihub's ``auth.Session`` handles them.

The koji 1.36 client sends ``Koji-Session-Id``/``-Key``/``-Callnum`` headers once ``login``
answered ``header-auth: True``; older clients (and ``rawUpload`` without header-auth) put
``session-id``/``session-key``/``callnum`` in the query string. Both are accepted. Like the real
hub, the callnum is only enforced on the query-string form (the hub reads the header under a
different name, so header callnums are never checked). Password logins only; a user holding an
exclusive session locks out its other sessions (``AuthLockError``), except the exclusive
session's subsessions, which is how kojid gives each task process its own session.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional
from urllib.parse import parse_qs

import koji
from koji.context import context

from .hub_store import HubStore

LOCK_EXEMPT = ("exclusiveSession", "login", "logout")
RETRY_OK = ("host.taskWait", "host.taskUnwait", "host.taskSetWait", "host.updateHost",
            "host.setBuildRootState", "repoExpire", "repoDelete", "repoProblem")


class RequestSession:
    """``context.session`` during one request: who calls and what they may do."""

    def __init__(self, store: HubStore, record: Optional[dict] = None,
                 user: Optional[dict] = None):
        self._store = store
        self.record = record
        self.id = record["id"] if record else None
        self.master = record["master"] if record else None
        self.authtype = record["authtype"] if record else None
        self.callnum = record["callnum"] if record else None
        self.logged_in = user is not None
        self.user_id = user["id"] if user else None
        self.user_data = ({k: user[k] for k in ("name", "status", "usertype")} if user else {})
        self.exclusive = False
        self.lockerror: Optional[str] = None
        self._perms = set(user["perms"]) if user else set()

    def __str__(self) -> str:
        if not self.logged_in:
            return "session: not logged in"
        return (f"session {self.id}: user {self.user_data['name']} (id {self.user_id}), "
                f"master {self.master}, exclusive {self.exclusive}")

    __repr__ = __str__

    @property
    def host_id(self) -> Optional[int]:
        if self.user_id is None:
            return None
        with self._store.read():
            host = next((h for h in self._store.rows("host") if h["user_id"] == self.user_id),
                        None)
        return host["id"] if host else None

    def getHostId(self) -> Optional[int]:  # noqa: N802 - kojihub's name
        return self.host_id

    def getPerms(self) -> list[str]:  # noqa: N802
        return sorted(self._perms) if self.logged_in else []

    def hasPerm(self, name: str) -> bool:  # noqa: N802
        """Exact check: admin does not imply other permissions (kojihub auth.py)."""
        return self.logged_in and name in self._perms

    def assertPerm(self, name: str) -> None:  # noqa: N802
        if not self.hasPerm(name) and not self.hasPerm("admin"):
            who = (f"logged in as {self.user_data['name']}" if self.logged_in
                   else "user not logged in")
            raise koji.ActionNotAllowed(f"{name} permission required ({who})")

    def assertLogin(self) -> None:  # noqa: N802
        if not self.logged_in:
            raise koji.ActionNotAllowed("you must be logged in for this operation")

    def hasGroup(self, group_id: Any) -> bool:  # noqa: N802
        return False

    def isUser(self, user_id: Any) -> bool:  # noqa: N802
        return self.logged_in and self.user_id == user_id

    def assertUser(self, user_id: Any) -> None:  # noqa: N802
        if not self.isUser(user_id) and not self.hasPerm("admin"):
            raise koji.ActionNotAllowed("not owner")

    def session_info(self, details: bool = False) -> Optional[dict]:
        if not self.logged_in:
            return None
        rec = self.record
        info = {"user_id": self.user_id, "expired": False, "master": rec["master"],
                "authtype": rec["authtype"], "callnum": rec["callnum"],
                "start_ts": rec["start_ts"], "start_time": rec["start_ts"],
                "update_ts": rec["update_ts"], "exclusive": rec["exclusive"] or None}
        if details:
            info.update(id=self.id, hostip="127.0.0.1")
        return info


class SessionManager:
    """Find the caller's session in a request and implement the login/logout family."""

    def __init__(self, store: HubStore):
        self.store = store

    def resolve(self, headers: Any, query: str, method: Optional[str]) -> RequestSession:
        check_callnum = False
        sid, key, callnum = (headers.get("Koji-Session-Id"), headers.get("Koji-Session-Key"),
                             headers.get("Koji-Session-Callnum"))
        if sid is None and query:
            args = parse_qs(query)
            if "session-id" in args:
                if "session-key" not in args:
                    raise koji.AuthError("'session-key' not specified in session args")
                sid, key = args["session-id"][0], args["session-key"][0]
                callnum, check_callnum = args.get("callnum", [None])[0], True
        if sid is None:
            return RequestSession(self.store)
        with self.store.read():
            try:
                record = self.store.row("session", int(sid))
            except ValueError:
                record = None
            if record is None or record["closed"] or not secrets.compare_digest(
                    str(record["key"]), str(key)):
                raise koji.AuthError("Invalid session or bad credentials")
            if check_callnum and callnum is not None:
                self._check_callnum(record, int(callnum), method)
            if callnum is not None:
                record["callnum"] = int(callnum)  # kept in memory; saved with the next change
            record["update_ts"] = self.store.clock()
            user = self.store.row("user", record["user_id"])
            if user["status"] != koji.USER_STATUS["NORMAL"]:
                raise koji.AuthError(f"logins by {user['name']} are not allowed")
            session = RequestSession(self.store, record, user)
            session.exclusive, session.lockerror = self._exclusivity(record)
        return session

    @staticmethod
    def _check_callnum(record: dict, callnum: int, method: Optional[str]) -> None:
        last = record["callnum"]
        if last is not None and last > callnum:
            raise koji.SequenceError(f"{last} > {callnum} (session {record['id']})")
        if last is not None and last == callnum and method not in RETRY_OK:
            raise koji.RetryError(f"unable to retry call {callnum} (method {method}) for "
                                  f"session {record['id']}")

    def _exclusivity(self, record: dict) -> tuple[bool, Optional[str]]:
        if record["exclusive"]:
            return True, None
        excl = next((s for s in self.store.rows("session") if s["user_id"] == record["user_id"]
                     and s["exclusive"] and not s["closed"]), None)
        if excl is None:
            return False, None
        if excl["id"] == record["master"]:
            return True, None
        return False, "User locked by another session"

    def _create(self, user_id: int, master: Optional[int] = None) -> dict:
        key = f"{user_id}-{secrets.token_urlsafe(18)}"
        now = self.store.clock()
        sid = self.store.new("session", {
            "key": key, "user_id": user_id, "master": master, "exclusive": False,
            "closed": False, "authtype": koji.AUTHTYPES["NORMAL"], "callnum": None,
            "start_ts": now, "update_ts": now})
        return {"session-id": sid, "session-key": key, "header-auth": True}

    def _close(self, where: Any) -> None:
        for rec in self.store.rows("session"):
            if where(rec):
                rec.update(closed=True, exclusive=False)

    # -- exported as login, logout, subsession, ... ---------------------------------------------
    def login(self, user, password, opts=None, renew=False, exclusive=False):
        session = context.session
        if not isinstance(password, str) or not password:
            raise koji.AuthError("invalid username or password")
        if session.logged_in:
            raise koji.AuthError("Already logged in")
        with self.store.write():
            found = self.store.find("user", user)
            if found is None or not found.get("password") or not secrets.compare_digest(
                    found["password"], password):
                raise koji.AuthError("invalid username or password")
            if found["status"] != koji.USER_STATUS["NORMAL"]:
                raise koji.AuthError(f"logins by {found['name']} are not allowed")
            sinfo = self._create(found["id"])
            if exclusive:
                self._make_exclusive(self.store.row("session", sinfo["session-id"]), False)
        return sinfo

    def sslLogin(self, proxyuser=None, proxyauthtype=None, renew=False, exclusive=None):  # noqa: N802
        raise koji.AuthError("the sandbox hub accepts password logins only: set "
                             "authtype = password, user and password in the koji profile")

    def logout(self, session_id=None):
        session = context.session
        if not session.logged_in:
            raise koji.AuthError("Not logged in")
        target = session.id
        if session_id:
            with self.store.read():
                other = self.store.row("session", int(session_id))
            if not session.hasPerm("admin") and (other is None
                                                 or other["user_id"] != session.user_id):
                raise koji.ActionNotAllowed("only admins or owner may logout other session")
            target = int(session_id)
        with self.store.write():
            self._close(lambda rec: rec["id"] == target or rec["master"] == target)

    def subsession(self):
        session = context.session
        if not session.logged_in:
            raise koji.AuthError("Not logged in")
        with self.store.write():
            return self._create(session.user_id, master=session.master or session.id)

    def logoutChild(self, session_id):  # noqa: N802
        session = context.session
        if not session.logged_in:
            raise koji.AuthError("Not logged in")
        with self.store.write():
            self._close(lambda rec: rec["id"] == int(session_id) and rec["master"] == session.id)

    def exclusiveSession(self, force=False):  # noqa: N802
        session = context.session
        if not session.logged_in:
            raise koji.AuthError("Not logged in")
        with self.store.write():
            self._make_exclusive(self.store.row("session", session.id), force)

    def sharedSession(self):  # noqa: N802
        context.session.assertLogin()
        with self.store.write():
            self.store.row("session", context.session.id)["exclusive"] = False

    def _make_exclusive(self, record: dict, force: bool) -> None:
        if record["master"] is not None:
            raise koji.GenericError("subsessions cannot become exclusive")
        if record["exclusive"]:
            raise koji.GenericError("session is already exclusive")
        for other in self.store.rows("session"):
            if other["user_id"] == record["user_id"] and other["exclusive"] and \
                    not other["closed"]:
                if not force:
                    raise koji.AuthLockError("Cannot get exclusive session")
                other.update(closed=True, exclusive=False)
        record["exclusive"] = True
