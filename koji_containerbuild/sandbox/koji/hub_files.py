"""Task output files of the sandbox hub: uploads (``rawUpload``/fast upload and the legacy
``uploadFile``), ``checkUpload``, ``listTaskOutput`` and ``downloadTaskOutput``.

Semantics follow kojihub (``get_upload_path``, ``handle_upload``, ``uploadFile``,
``list_task_output``, ``downloadTaskOutput``): files live under ``<state_dir>/work/<path>``; only
the host running an OPEN task may write under ``tasks/``; a chunk at ``offset`` truncates the
file there first (so re-uploads from offset 0 with ``overwrite`` replace it) and offset -1
appends; the reply carries the chunk's size and digest for the client to verify.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat as statmod
from typing import Any, Optional
from urllib.parse import parse_qs

import koji
import koji.util

from .hub_api import Exports

_VERIFY = {"adler32": koji.util.adler32_constructor, "md5": hashlib.md5, "sha256": hashlib.sha256}


def verify_class(verify: Optional[str]) -> Any:
    if not verify:
        return None
    if verify not in _VERIFY:
        raise koji.GenericError(f"Unsupported verify type: {verify}")
    return _VERIFY[verify]


def check_volume(volume: Optional[str]) -> None:
    if volume not in (None, "", "DEFAULT"):
        raise koji.GenericError(f"No such volume: {volume}")


class FileExports(Exports):
    """Top-level file calls; ``handle_upload`` serves the octet-stream POST of ``rawUpload``."""

    def _upload_path(self, reldir: str, name: str, create: bool = False,
                     volume: Optional[str] = None) -> str:
        """kojihub ``get_upload_path``: only the host running an OPEN task writes under tasks/."""
        if os.path.split(name)[0] or name.startswith("."):
            raise koji.GenericError(f"Invalid upload filename: {name}")
        orig, reldir = reldir, os.path.normpath(reldir or "")
        if not reldir or reldir in (".", "/") or reldir.startswith(("..", "/")):
            raise koji.GenericError(f"Invalid upload directory: {orig}")
        check_volume(volume)
        parts = reldir.split("/")
        udir = os.path.join(self._store.work_dir, reldir)
        if create and parts[0] == "tasks":
            try:
                task_id = int(parts[2])
            except (IndexError, ValueError):
                raise koji.GenericError(f"Invalid task upload directory: {orig}") from None
            host_id = self._host_id()
            with self._store.read():
                self._assert_host_owns(self._store.task(task_id), host_id)
        elif create:
            owner_file = os.path.join(udir, ".user")
            if os.path.exists(owner_file):
                with open(owner_file, encoding="ascii") as f:
                    if int(f.read()) != self._session().user_id:
                        raise koji.GenericError(f"Invalid upload directory, not owner: {orig}")
            else:
                os.makedirs(udir, exist_ok=True)
                with open(owner_file, "w", encoding="ascii") as f:
                    f.write(str(self._session().user_id))
        if create:
            os.makedirs(udir, exist_ok=True)
        return os.path.join(udir, name)

    def handle_upload(self, query: str, body: bytes) -> dict:
        """kojihub ``handle_upload`` (the ``rawUpload`` POST): write ``body`` at ``offset``."""
        if not self._session().logged_in:
            raise koji.ActionNotAllowed("you must be logged-in to upload a file")
        args = parse_qs(query, strict_parsing=True)
        name = args["filename"][0]
        verify = args.get("fileverify", [""])[0]
        overwrite = args.get("overwrite", [""])[0]
        offset = int(args.get("offset", ["0"])[0])
        path = self._upload_path(args.get("filepath", [""])[0], name, create=True,
                                 volume=args.get("volume", ["DEFAULT"])[0])
        if os.path.exists(path):
            if not os.path.isfile(path):
                raise koji.GenericError(f"destination not a file: {path}")
            if offset == 0 and not overwrite:
                raise koji.GenericError(f"upload path exists: {path}")
        with self._hub.upload_lock:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                if offset == -1:
                    offset = os.lseek(fd, 0, os.SEEK_END)
                else:
                    os.ftruncate(fd, offset)
                    os.lseek(fd, offset, os.SEEK_SET)
                os.write(fd, body)
            finally:
                os.close(fd)
        ret = {"size": len(body), "fileverify": verify, "offset": offset}
        if verify:
            ret["hexdigest"] = verify_class(verify)(body).hexdigest()
        return ret


    def listTaskOutput(self, taskID, stat=False, all_volumes=False, strict=False):
        task_dir = self._store.task_dir(int(taskID))
        result: Any = {} if (stat or all_volumes) else []
        if not os.path.isdir(task_dir):
            if strict:
                raise koji.GenericError(f"Task {taskID} doesn't exist")
            return result
        for path, _dirs, files in os.walk(task_dir):
            for filename in sorted(files):
                rel = os.path.relpath(os.path.join(path, filename), task_dir)
                if stat:
                    st = os.stat(os.path.join(path, filename))
                    info = {"st_size": str(st.st_size), "st_atime": st.st_atime,
                            "st_mtime": st.st_mtime, "st_ctime": st.st_ctime}
                    result[rel] = {"DEFAULT": info} if all_volumes else info
                elif all_volumes:
                    result[rel] = ["DEFAULT"]
                else:
                    result.append(rel)
        return result

    def downloadTaskOutput(self, taskID, fileName, offset=0, size=-1, volume=None):
        size = koji.decode_int(size)
        check_volume(volume)
        if ".." in fileName:
            raise koji.GenericError(f"Invalid file name: {fileName}")
        path = os.path.normpath(os.path.join(self._store.task_dir(int(taskID)), fileName))
        if not os.path.isfile(path):
            raise koji.GenericError(f'no file "{fileName}" output by task {taskID}')
        with open(path, "rb") as f:
            offset = int(offset) if offset is not None else 0
            if offset > 0:
                f.seek(offset, os.SEEK_SET)
            elif offset < 0:
                f.seek(offset, os.SEEK_END)
            contents = f.read(size)
        return base64.b64encode(contents).decode()

    def uploadFile(self, path, name, size, md5sum, offset, data, volume=None, checksum=None):
        """kojihub's legacy chunked upload (base64 data, offset -1 finalises and verifies)."""
        self._session().assertLogin()
        contents = base64.b64decode(data)
        offset, size = koji.decode_int(offset), koji.decode_int(size)
        checksum = md5sum if checksum is None else checksum
        if isinstance(checksum, str):
            verify, digest = "md5", checksum
        elif checksum is None:
            verify, digest = None, None
        else:
            verify, digest = checksum
        sum_cls = verify_class(verify)
        if offset != -1:
            if size is not None and size != len(contents):
                return False
            if sum_cls is not None and digest != sum_cls(contents).hexdigest():
                return False
        fn = self._upload_path(path, name, create=True, volume=volume)
        if os.path.lexists(fn):
            if not statmod.S_ISREG(os.lstat(fn).st_mode):
                raise koji.GenericError(f"destination not a file: {fn}")
            if offset == 0 and not fn.endswith(".log"):
                raise koji.GenericError(f"file already exists: {fn}")
        with self._hub.upload_lock:
            with open(fn, "r+b" if os.path.exists(fn) else "w+b") as f:
                if offset == 0 or (offset == -1 and size == len(contents)):
                    f.truncate(0)
                f.seek(0, os.SEEK_END) if offset == -1 else f.seek(offset)
                f.write(contents)
                if offset == -1:
                    if size is not None:
                        f.truncate(size)
                    if sum_cls is not None:
                        f.seek(0)
                        if sum_cls(f.read()).hexdigest() != digest:
                            return False
        return True

    def checkUpload(self, path, name, verify=None, tail=None, volume=None):
        fn = self._upload_path(path, name, volume=volume)
        if not os.path.exists(fn):
            return None
        if not os.path.isfile(fn):
            raise koji.GenericError(f"Not a regular file: {fn}")
        st = os.stat(fn)
        data = {"size": st.st_size, "mtime": st.st_mtime}
        if verify:
            with open(fn, "rb") as f:
                if tail is not None:
                    if tail < 0:
                        raise koji.GenericError(f"Invalid tail value: {tail!r}")
                    f.seek(max(st.st_size - tail, 0))
                content = f.read()
            data.update(sumlength=len(content), hexdigest=verify_class(verify)(content).hexdigest())
        return data
