"""Atomic file writing: a temporary file in the target's directory, flushed
and synced, then renamed over the target. A crash or an error midway leaves
the old file (if any) untouched and no temporary file behind."""
from __future__ import annotations

import os
import tempfile
from typing import Callable, IO


def write_atomic(path, write: Callable[[IO], None], mode: str = "wb", **open_kwargs) -> None:
    """Call write(f) on a temporary file opened with `mode`, then rename it to `path`."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".layernet-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
