"""Atomic file writing: the data goes to a temporary file next to the target,
is flushed and synced, then renamed over the target. An error midway leaves
the old file (if any) untouched and removes the temporary file.

The temporary file is named ``.<target name>.<pid>.layernet-tmp`` (with
``-<n>`` after the pid when one process writes the same target twice at
once), so a person listing the directory can tell what it is for and which
process made it. A process killed outright cannot remove its temporary file;
the next write to the same target removes temporaries whose process no longer
exists.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from typing import IO, Callable

TEMP_SUFFIX = ".layernet-tmp"
# Leaves room for the dots, pid and suffix within the usual 255-byte name limit.
_MAX_PREFIX_BYTES = 200
_TEXT_OR_BINARY_WRITE_MODES = frozenset(
    ["w", "wb", "wt", "w+", "w+b", "wb+", "w+t", "wt+"])


def _as_path(path, argument: str = "path") -> str:
    if isinstance(path, (str, bytes, os.PathLike)):
        result = os.fspath(path)
        return os.fsdecode(result) if isinstance(result, bytes) else result
    raise TypeError(f"{argument}: expected a file system path (str, bytes or os.PathLike), "
                    f"got {type(path).__name__}")


def _temp_prefix(target_name: str) -> str:
    prefix = target_name
    while len(os.fsencode(prefix)) > _MAX_PREFIX_BYTES:
        prefix = prefix[:-1]
    return prefix


def _temp_name_pattern(target_name: str) -> re.Pattern:
    return re.compile(r"\." + re.escape(_temp_prefix(target_name))
                      + r"\.([0-9]{1,10})(?:-[0-9]{1,6})?" + re.escape(TEMP_SUFFIX) + r"\Z")


def _process_exists(pid: int) -> bool:
    """True unless the system says no process has this id (errs on 'exists')."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True   # PermissionError: it exists but belongs to another user
    return True


def cleanup_stale_temporaries(path) -> int:
    """Remove temporary files of `path` left by processes that no longer exist.

    Only regular files named like this module's temporaries for this target,
    owned by the current user, whose process id is not a running process, are
    removed. Best effort: problems reading the directory or removing a file
    are ignored. Returns the number of files removed.
    """
    if os.name == "nt":   # os.kill(pid, 0) would terminate the process there
        return 0
    directory, name = os.path.split(os.path.abspath(_as_path(path)))
    if not name:
        return 0
    pattern = _temp_name_pattern(name)
    own_pid, own_uid = os.getpid(), os.getuid()
    removed = 0
    try:
        entries = os.scandir(directory)
    except OSError:
        return 0
    with entries:
        for entry in entries:
            match = pattern.match(entry.name)
            if match is None:
                continue
            pid = int(match.group(1))
            if pid == own_pid or _process_exists(pid):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode) or info.st_uid != own_uid:
                    continue
                os.unlink(entry.path)
            except OSError:
                continue
            removed += 1
    return removed


def _create_temporary(directory: str, target_name: str, user_path: str,
                      permissions: int) -> tuple[str, int]:
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL
             | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    stem = f".{_temp_prefix(target_name)}.{os.getpid()}"
    for attempt in range(1000):
        name = stem + (f"-{attempt}" if attempt else "") + TEMP_SUFFIX
        temp = os.path.join(directory, name)
        try:
            return temp, os.open(temp, flags, permissions)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _naming_user_path(exc, user_path, temp) from None
    raise FileExistsError(errno.EEXIST, "no free temporary file name in its directory", user_path)


def _naming_user_path(exc: OSError, user_path: str, temp: str) -> OSError:
    """The same error, about the user's path rather than the temporary file."""
    about_temp = temp in (exc.filename, exc.filename2)
    if exc.errno is None or not (about_temp or exc.filename is None):
        return exc
    try:
        renamed = type(exc)(exc.errno, exc.strerror, user_path)
    except Exception:
        return exc
    return renamed.with_traceback(exc.__traceback__)


def _fsync_directory(directory: str) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass   # some file systems cannot sync a directory; the rename is done
    finally:
        os.close(fd)


def write_atomic(path, write: Callable[[IO], None], mode: str = "wb", **open_kwargs) -> None:
    """Call ``write(f)`` on a temporary file opened with `mode` (and
    `open_kwargs`, as for open()), then rename it over `path`.

    A new file gets the permissions any new file would get (0o666 less the
    umask, or the directory's default ACL); an existing file keeps its
    permission bits. A symbolic link is followed, so the file it points to is
    replaced. An existing non-regular file (a FIFO, a terminal, /dev/null) is
    written to directly, since it cannot be replaced. OSErrors name `path`.
    """
    user_path = _as_path(path)
    if not callable(write):
        raise TypeError(f"write: expected a callable taking the open file, "
                        f"got {type(write).__name__}")
    if mode not in _TEXT_OR_BINARY_WRITE_MODES:
        raise ValueError(f"mode: expected a write mode such as 'wb' or 'w', got {mode!r}")
    if user_path.endswith(os.sep) or (os.altsep and user_path.endswith(os.altsep)):
        raise IsADirectoryError(errno.EISDIR, "expected a file name, got a directory", user_path)
    target = os.path.realpath(user_path) if os.path.islink(user_path) else user_path
    try:
        existing = os.stat(target)
    except OSError:
        existing = None
    if existing is not None and not (stat.S_ISREG(existing.st_mode)
                                     or stat.S_ISDIR(existing.st_mode)):
        with open(target, mode, **open_kwargs) as stream:
            write(stream)
        return

    directory, name = os.path.split(os.path.abspath(target))
    cleanup_stale_temporaries(target)
    # An existing file may be private: keep the temporary private until the
    # final permissions are set just before the rename.
    keep_permissions = None if existing is None else stat.S_IMODE(existing.st_mode) & 0o777
    fd = -1
    temp = ""
    try:
        temp, fd = _create_temporary(directory, name, user_path,
                                     0o666 if keep_permissions is None else 0o600)
        with os.fdopen(fd, mode, closefd=False, **open_kwargs) as stream:
            write(stream)
        if keep_permissions is not None:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, keep_permissions)
            else:
                os.chmod(temp, keep_permissions)
        os.fsync(fd)
        closing, fd = fd, -1
        os.close(closing)   # may report a delayed write error (NFS)
        os.replace(temp, target)
    except BaseException as exc:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
        if temp:
            try:
                os.unlink(temp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise _naming_user_path(exc, user_path, temp) from None
        raise
    _fsync_directory(directory)
