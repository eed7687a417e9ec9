"""layernet._files.write_atomic: permissions, failures, error messages and
the cleanup of temporaries left by killed processes. The file system itself
(os.stat, directory listings) is the oracle."""
import errno
import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from layernet import _files
from layernet._files import cleanup_stale_temporaries, write_atomic

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and signals")

# Subprocesses load the module from its file, without importing the package.
PRELUDE = textwrap.dedent(f"""
    import importlib.util, os, sys
    spec = importlib.util.spec_from_file_location("atomic_files", {_files.__file__!r})
    files = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(files)
""")


def run_python(code, **kwargs):
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60, **kwargs)


def permissions(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def temporaries(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".layernet-tmp"))


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_writes_binary_and_text(tmp_path):
    path = tmp_path / "out.bin"
    write_atomic(path, lambda f: f.write(b"\x00\x01binary"))
    assert path.read_bytes() == b"\x00\x01binary"
    text = tmp_path / "out.csv"
    write_atomic(str(text), lambda f: f.write("a,b\né,2\n"), "w", newline="", encoding="utf-8")
    assert text.read_bytes() == "a,b\né,2\n".encode("utf-8")
    write_atomic(os.fsencode(text), lambda f: f.write(b"bytes path"))
    assert text.read_bytes() == b"bytes path"
    assert temporaries(tmp_path) == []


def test_new_files_follow_the_umask(tmp_path):
    result = run_python(f"""
        for mask in (0o022, 0o027, 0o077, 0o000, 0o002):
            os.umask(mask)
            path = os.path.join({str(tmp_path)!r}, "m%03o" % mask)
            files.write_atomic(path, lambda f: f.write(b"x"))
            print("%03o %03o" % (mask, os.stat(path).st_mode & 0o777))
    """)
    assert result.returncode == 0, result.stderr
    modes = dict(line.split() for line in result.stdout.splitlines())
    assert modes == {"022": "644", "027": "640", "077": "600", "000": "666", "002": "664"}
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o600, 0o444])
def test_an_existing_files_permissions_are_kept(tmp_path, mode):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    write_atomic(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"
    assert permissions(path) == mode


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"precious")

    def fails_midway(f):
        f.write(b"half written" * 1000)
        raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError, match="the writer failed"):
        write_atomic(path, fails_midway)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]

    def interrupted(f):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, interrupted)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_os_errors_name_the_users_path_not_the_temporary(tmp_path):
    parent_is_a_file = tmp_path / "file"
    parent_is_a_file.write_bytes(b"")
    path = parent_is_a_file / "m.npz"
    with pytest.raises(NotADirectoryError) as info:
        write_atomic(path, lambda f: f.write(b"x"))
    assert info.value.filename == str(path)
    assert str(path) in str(info.value) and "layernet-tmp" not in str(info.value)

    directory = tmp_path / "a_directory"
    (directory / "inside").mkdir(parents=True)
    with pytest.raises(OSError) as info:
        write_atomic(directory, lambda f: f.write(b"x"))
    assert info.value.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST)
    assert info.value.filename == str(directory) and "layernet-tmp" not in str(info.value)
    assert temporaries(tmp_path) == []

    with pytest.raises(IsADirectoryError) as info:
        write_atomic(str(tmp_path) + os.sep, lambda f: f.write(b"x"))
    assert info.value.filename == str(tmp_path) + os.sep


def test_an_error_while_syncing_names_the_users_path(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        write_atomic(path, lambda f: f.write(b"new"))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert str(info.value) == f"[Errno {errno.ENOSPC}] No space left on device: '{path}'"
    assert path.read_bytes() == b"old"
    assert temporaries(tmp_path) == []


def test_errors_about_other_files_are_left_alone(tmp_path):
    def reads_a_missing_file(f):
        open(tmp_path / "elsewhere.txt", "rb")

    with pytest.raises(FileNotFoundError) as info:
        write_atomic(tmp_path / "m.npz", reads_a_missing_file)
    assert info.value.filename == str(tmp_path / "elsewhere.txt")


def test_arguments_are_checked(tmp_path):
    with pytest.raises(TypeError, match=r"path: expected a file system path .* got BytesIO"):
        write_atomic(io.BytesIO(), lambda f: None)
    with pytest.raises(TypeError, match=r"write: expected a callable"):
        write_atomic(tmp_path / "x", b"data")
    with pytest.raises(ValueError, match=r"mode: expected a write mode .* got 'r'"):
        write_atomic(tmp_path / "x", lambda f: None, "r")
    with pytest.raises(ValueError, match=r"got 'ab'"):
        write_atomic(tmp_path / "x", lambda f: None, "ab")
    assert list(tmp_path.iterdir()) == []


def test_a_symbolic_link_keeps_pointing_at_the_new_contents(tmp_path):
    real = tmp_path / "real.npz"
    real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    write_atomic(link, lambda f: f.write(b"new"))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new"


def test_a_fifo_is_written_to_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))
    reader.start()
    write_atomic(fifo, lambda f: f.write(b"through the pipe"))
    reader.join(10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_long_target_name_gets_a_shortened_temporary_name(tmp_path):
    path = tmp_path / ("n" * 250)
    seen = []
    write_atomic(path, lambda f: seen.extend(temporaries(tmp_path)) or f.write(b"x"))
    assert path.read_bytes() == b"x"
    assert len(seen) == 1 and len(seen[0]) <= 255 and seen[0].startswith("." + "n" * 200 + ".")


def test_temporary_name_tells_what_and_whose(tmp_path):
    seen = []
    write_atomic(tmp_path / "m.npz", lambda f: seen.extend(temporaries(tmp_path)))
    assert seen == [f".m.npz.{os.getpid()}.layernet-tmp"]


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    path = tmp_path / "m.npz"
    pid = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [f".m.npz.{pid}.layernet-tmp", f".m.npz.{pid}-3.layernet-tmp"]
        kept = [f".m.npz.{live.pid}.layernet-tmp",          # its process is running
                f".other.npz.{pid}.layernet-tmp",           # another target's
                f".m.npz.{os.getpid()}-1.layernet-tmp",     # this process's own
                ".m.npz.0.layernet-tmp",                   # pid 0 is never a writer
                f".m.npz.{pid}.layernet-tmp.bak",           # not a temporary name
                "m.npz"]
        for name in stale + kept:
            (tmp_path / name).write_bytes(b"junk")
        assert cleanup_stale_temporaries(path) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)

        for name in stale:
            (tmp_path / name).write_bytes(b"junk")
        write_atomic(path, lambda f: f.write(b"fresh"))
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
        assert path.read_bytes() == b"fresh"
    finally:
        live.kill()
        live.wait()
    assert cleanup_stale_temporaries(tmp_path / "missing_dir" / "m.npz") == 0


def test_a_write_killed_midway_leaves_a_temporary_the_next_write_removes(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"the previous model")
    child = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(f"""
            import time
            def write(f):
                f.write(b"x" * (8 << 20))
                f.flush()
                print("halfway", flush=True)
                time.sleep(60)
                f.write(b"never")
            files.write_atomic({str(path)!r}, write)
        """)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "halfway\n"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.stdout.close()
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    left = tmp_path / f".m.npz.{child.pid}.layernet-tmp"
    assert temporaries(tmp_path) == [left.name]
    assert left.stat().st_size == 8 << 20
    assert path.read_bytes() == b"the previous model"

    write_atomic(path, lambda f: f.write(b"the next model"))
    assert temporaries(tmp_path) == []
    assert path.read_bytes() == b"the next model"
