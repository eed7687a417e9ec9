"""layernet._archive: .npz reading that survives hostile files, writing that
numpy reads, and bounded JSON headers. numpy's own savez/load and a small
zip builder below (independent of the reader) are the oracles."""
import io
import json
import pickle
import struct
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest

from layernet._archive import (ArchiveLimits, dump_json_header, parse_json_header, read_npz,
                               write_npz)


# ---------------------------------------------------------------------------
# Builders, written from the zip and .npy specifications.

def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def forged_npy(header_text, data=b"", version=(1, 0)):
    """A .npy member with an arbitrary header dict text."""
    header = header_text.encode("latin-1") + b"\n"
    if version == (1, 0):
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data
    return b"\x93NUMPY" + bytes(version) + struct.pack("<I", len(header)) + header + data


def build_zip(members, zip64=False):
    """A zip archive from dicts: name, data (uncompressed) and optional
    method, flags, raw (the stored bytes), size, crc overrides."""
    out = bytearray()
    directory = bytearray()
    for m in members:
        name = m["name"].encode("utf-8") if isinstance(m["name"], str) else m["name"]
        data = m.get("data", b"")
        method = m.get("method", 0)
        raw = m.get("raw")
        if raw is None:
            if method == 8:
                packer = zlib.compressobj(9, zlib.DEFLATED, -15)
                raw = packer.compress(data) + packer.flush()
            else:
                raw = data
        size = m.get("size", len(data))
        crc = m.get("crc", zlib.crc32(data))
        flags = m.get("flags", 0)
        offset = len(out)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, flags, method, 0, 0x21,
                           crc, min(len(raw), 0xFFFFFFFF), min(size, 0xFFFFFFFF), len(name), 0)
        out += name + raw
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, size, len(raw), offset)
            fields = (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        else:
            extra = b""
            fields = (len(raw), size, offset)
        directory += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, flags, method, 0,
                                 0x21, crc, fields[0], fields[1], len(name), len(extra), 0, 0,
                                 0, 0, fields[2])
        directory += name + extra
    start = len(out)
    out += directory
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members),
                       len(directory), start, 0)
    return bytes(out)


def savez_bytes(arrays, compressed=False):
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def sample_arrays():
    rng = np.random.default_rng(7)
    return {
        "header": np.frombuffer(b'{"format": "test"}', dtype=np.uint8),
        "W0": rng.standard_normal((5, 3)).astype(np.float32),
        "B0": rng.standard_normal(3),
        "steps": np.arange(4, dtype=np.int64) * -3,
    }


def assert_same_arrays(got, expected):
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype.newbyteorder("="), key
        assert got[key].shape == value.shape, key
        np.testing.assert_array_equal(got[key], value)


def peak_allocation(function):
    """Peak bytes traced while function() runs; the function must raise ValueError."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            function()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------
# Round trips.

ALL_DTYPES = [np.float32, np.float64, np.int64, np.uint8]
SHAPES = [(), (1,), (0,), (3, 0), (2, 3), (2, 1, 4)]


def arrays_of_every_kind():
    rng = np.random.default_rng(3)
    arrays = {}
    for dtype in ALL_DTYPES:
        for shape in SHAPES:
            values = rng.integers(0, 200, size=shape).astype(dtype)
            arrays[f"{np.dtype(dtype).name}_{len(shape)}_{'x'.join(map(str, shape))}"] = values
    return arrays


def test_round_trip_through_a_path_matches_numpy(tmp_path):
    arrays = arrays_of_every_kind()
    path = tmp_path / "m.npz"
    write_npz(path, arrays)
    with np.load(path, allow_pickle=False) as oracle:
        assert sorted(oracle.files) == sorted(arrays)
        for key, value in arrays.items():
            np.testing.assert_array_equal(oracle[key], value)
            assert oracle[key].dtype == value.dtype
    got = read_npz(path)
    assert_same_arrays(got, arrays)
    assert read_npz(str(path)).keys() == arrays.keys()
    for value in got.values():
        assert value.flags.c_contiguous and value.flags.writeable and value.dtype.isnative


def test_round_trip_through_file_objects_and_bytes():
    arrays = arrays_of_every_kind()
    buffer = io.BytesIO()
    write_npz(buffer, arrays)
    data = buffer.getvalue()
    buffer.seek(0)
    assert_same_arrays(read_npz(buffer), arrays)
    assert_same_arrays(read_npz(data), arrays)
    assert_same_arrays(read_npz(bytearray(data)), arrays)
    assert_same_arrays(read_npz(memoryview(data)), arrays)


def test_reads_a_file_object_from_its_current_position():
    arrays = sample_arrays()
    buffer = io.BytesIO(b"preamble" + savez_bytes(arrays))
    buffer.seek(8)
    assert_same_arrays(read_npz(buffer), arrays)


class Unseekable(io.RawIOBase):
    def __init__(self, data):
        self._inner = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, out):
        return self._inner.readinto(out)


def test_reads_a_stream_that_cannot_seek():
    arrays = sample_arrays()
    assert_same_arrays(read_npz(Unseekable(savez_bytes(arrays))), arrays)
    with pytest.raises(ValueError, match=r"^<Unseekable>: not a valid model file: it is not a zip"):
        read_npz(Unseekable(b"plain text, not an archive"))


def test_writes_to_a_stream_that_cannot_seek():
    class WriteOnly(io.RawIOBase):
        def __init__(self):
            self.chunks = []

        def writable(self):
            return True

        def write(self, data):
            self.chunks.append(bytes(data))
            return len(data)

    arrays = sample_arrays()
    sink = WriteOnly()
    write_npz(sink, arrays)
    data = b"".join(sink.chunks)
    with np.load(io.BytesIO(data)) as oracle:
        np.testing.assert_array_equal(oracle["W0"], arrays["W0"])
    assert_same_arrays(read_npz(data), arrays)


def test_reads_numpy_savez_and_savez_compressed():
    arrays = arrays_of_every_kind()
    assert_same_arrays(read_npz(savez_bytes(arrays)), arrays)
    assert_same_arrays(read_npz(savez_bytes(arrays, compressed=True)), arrays)


def test_big_endian_members_come_back_native_and_equal():
    values = np.array([[1.5, -2.25, 3e10], [0.0, -0.0, 7.0]])
    arrays = {"f8": values.astype(">f8"), "f4": values.astype(">f4"),
              "i8": np.array([1, -2, 2**40], dtype=">i8")}
    for data in (savez_bytes(arrays), _write_to_bytes(arrays)):
        got = read_npz(data)
        for key, value in arrays.items():
            assert got[key].dtype == value.dtype.newbyteorder("=")
            assert got[key].dtype.isnative
            np.testing.assert_array_equal(got[key], value)


def _write_to_bytes(arrays):
    buffer = io.BytesIO()
    write_npz(buffer, arrays)
    return buffer.getvalue()


def test_fortran_order_members_come_back_c_contiguous():
    base = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    arrays = {"f": np.asfortranarray(base), "g": np.asfortranarray(base[0].astype(">f4"))}
    got = read_npz(savez_bytes(arrays))
    assert b"'fortran_order': True" in savez_bytes(arrays)
    for key, value in arrays.items():
        assert got[key].flags.c_contiguous and got[key].dtype.isnative
        np.testing.assert_array_equal(got[key], value)


def test_empty_archive_round_trip():
    assert read_npz(_write_to_bytes({})) == {}
    assert read_npz(savez_bytes({})) == {}


def test_write_accepts_keys_that_numpy_savez_would_swallow():
    arrays = {"file": np.ones(2), "allow_pickle": np.zeros(3, dtype=np.uint8)}
    got = read_npz(_write_to_bytes(arrays))
    assert_same_arrays(got, arrays)


def test_write_refuses_what_it_could_not_read_back(tmp_path):
    with pytest.raises(TypeError, match=r"arrays\['o'\].*got object"):
        write_npz(io.BytesIO(), {"o": np.array([1, "a"], dtype=object)})
    with pytest.raises(TypeError, match=r"arrays\['c'\].*got complex128"):
        write_npz(io.BytesIO(), {"c": np.zeros(2, dtype=complex)})
    with pytest.raises(TypeError, match=r"arrays\['l'\]: expected a numpy array, got list"):
        write_npz(io.BytesIO(), {"l": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"key '\.\./x' is not allowed"):
        write_npz(io.BytesIO(), {"../x": np.zeros(1)})
    with pytest.raises(TypeError, match=r"dest: expected a path or a binary file.*got int"):
        write_npz(3, {"a": np.zeros(1)})
    with pytest.raises(ValueError, match=r"more than the limit of 2"):
        write_npz(io.BytesIO(), {k: np.zeros(1) for k in "abc"},
                  limits=ArchiveLimits(max_members=2))
    assert list(tmp_path.iterdir()) == []


def test_write_to_a_path_is_atomic_and_keeps_nothing_else(tmp_path):
    path = tmp_path / "m.npz"
    write_npz(path, {"a": np.ones(3)})
    with pytest.raises(TypeError):
        write_npz(path, {"a": np.ones(3), "b": np.array([None])})
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    np.testing.assert_array_equal(read_npz(path)["a"], np.ones(3))


# ---------------------------------------------------------------------------
# Sources and their errors.

def test_source_errors_name_the_source(tmp_path):
    missing = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        read_npz(missing)
    with pytest.raises(IsADirectoryError):
        read_npz(tmp_path)
    with pytest.raises(TypeError, match=r"source: expected a path, bytes or a binary .*got int"):
        read_npz(12)
    closed = io.BytesIO(savez_bytes({"a": np.ones(1)}))
    closed.close()
    with pytest.raises(ValueError, match=r"^<BytesIO>: the file is closed$"):
        read_npz(closed)
    text = tmp_path / "t.txt"
    text.write_text("PK\x03\x04 and then text")
    with open(text) as handle, pytest.raises(TypeError, match="binary mode"):
        read_npz(Unbuffered(handle))
    with open(text) as handle, pytest.raises(TypeError, match="binary mode"):
        read_npz(handle)
    path = tmp_path / "m.npz"
    path.write_bytes(b"\x93NUMPY\x01\x00rest")
    with open(path, "rb") as handle, pytest.raises(ValueError) as info:
        read_npz(handle, what="checkpoint")
    assert str(info.value) == (f"{path}: not a valid checkpoint: it is a single .npy array, "
                               "expected an .npz archive")


class Unbuffered:
    """A text file seen through read() only (no seek)."""

    def __init__(self, handle):
        self._handle = handle

    def read(self, n=-1):
        return self._handle.read(n)


@pytest.mark.parametrize("content, problem", [
    (b"", "it is empty"),
    (npy_bytes(np.zeros(3)), "it is a single .npy array"),
    (b"hello, world", "it is not a zip archive"),
    (b"PK\x05\x06" + b"\0" * 18 + b"junk", "it has no end-of-archive record"),
])
def test_wrong_kinds_of_file(tmp_path, content, problem):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_npz(path)
    assert str(info.value).startswith(f"{path}: not a valid model file: {problem}")


# ---------------------------------------------------------------------------
# Damage: truncation and bit flips.

def test_every_truncation_is_a_value_error(tmp_path):
    data = savez_bytes(sample_arrays())
    cuts = sorted(set(range(0, len(data), max(1, len(data) // 60)))
                  | set(range(len(data) - 64, len(data))))
    for cut in cuts:
        with pytest.raises(ValueError, match=r"^<bytes>: not a valid model file: "):
            read_npz(data[:cut])
    path = tmp_path / "cut.npz"
    for cut in cuts[::8]:
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"^{path}: not a valid model file: "):
            read_npz(path)


@pytest.mark.parametrize("compressed", [False, True])
def test_single_bit_flips_give_equal_arrays_or_value_error(compressed):
    arrays = sample_arrays()
    data = savez_bytes(arrays, compressed=compressed)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        data_ranges = []
        for info in archive.infolist():
            name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
            start = info.header_offset + 30 + name_length + extra_length
            data_ranges.append(range(start, start + info.compress_size))
    rng = np.random.default_rng(12345)
    outcomes = {"equal": 0, "error": 0}
    for _ in range(300):
        bit = int(rng.integers(0, len(data) * 8))
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        try:
            got = read_npz(bytes(damaged))
        except ValueError as exc:
            assert str(exc).startswith("<bytes>: not a valid model file: ")
            outcomes["error"] += 1
            continue
        # A flip in stored data must be noticed; deflate ignores its final padding bits.
        if not compressed:
            assert not any(bit // 8 in r for r in data_ranges), bit
        assert_same_arrays(got, arrays)
        outcomes["equal"] += 1
    assert outcomes["error"] > 150


def test_a_flipped_data_bit_is_a_crc_error():
    data = bytearray(build_zip([{"name": "a.npy", "data": npy_bytes(np.arange(5.0))}]))
    data[30 + len("a.npy") + 130] ^= 0x10
    with pytest.raises(ValueError, match=r"member 'a.npy' fails its CRC check"):
        read_npz(bytes(data))


def test_the_flag_bit_zipfile_calls_strong_encryption_is_rejected_clearly():
    data = bytearray(savez_bytes({"a": np.ones(2)}))
    directory = data.rfind(b"PK\x01\x02")
    data[directory + 8] |= 0x40
    with pytest.raises(ValueError, match=r"member 'a.npy' is encrypted"):
        read_npz(bytes(data))


# ---------------------------------------------------------------------------
# Foreign archives.

def make_zip_with_zipfile(entries, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # duplicate names are the point of one test
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("entries, problem", [
    ([("readme.txt", b"hello")], r"member 'readme.txt' is not a .npy array"),
    ([("a.npy", b"just some text, long enough")],
     r"member 'a.npy' is not a .npy array \(no .npy magic"),
    ([("../x.npy", npy_bytes(np.ones(1)))], r"member name '\.\./x\.npy' is not allowed"),
    ([("dir/x.npy", npy_bytes(np.ones(1)))], r"member name 'dir/x\.npy' is not allowed"),
    ([("c\\x.npy", npy_bytes(np.ones(1)))], r"member name 'c\\\\x\.npy' is not allowed"),
    ([(".npy", npy_bytes(np.ones(1)))], r"member name '\.npy' is not allowed"),
    ([("a.npy", npy_bytes(np.ones(1))), ("a.npy", npy_bytes(np.ones(2)))],
     r"member 'a.npy' appears more than once"),
    ([("b.npy", npy_bytes(np.ones(3, dtype=np.complex64)))],
     r"member 'b.npy' has dtype '<c8', expected one of float32, float64, uint8, int64"),
    ([("s.npy", npy_bytes(np.zeros(2, dtype=[("x", "<f4")])))],
     r"member 's.npy' holds a structured array"),
    ([("t.npy", npy_bytes(np.zeros(2, dtype=np.float32))[:-3])],
     r"member 't.npy' declares shape \(2,\) of float32 \(8 bytes\) but holds 5 bytes"),
])
def test_foreign_members_are_rejected(entries, problem):
    with pytest.raises(ValueError, match=problem):
        read_npz(make_zip_with_zipfile(entries))


def test_pickled_object_arrays_are_never_unpickled(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the reader unpickled something")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    member = npy_bytes(np.array([{"a": 1}, None], dtype=object))
    assert b"'descr': '|O'" in member
    with pytest.raises(ValueError, match=r"member 'obj.npy' holds Python objects \(descr '\|O'\), "
                                         r"which are never unpickled"):
        read_npz(make_zip_with_zipfile([("obj.npy", member)]))


@pytest.mark.parametrize("flags", [0x01, 0x40, 0x2000])
def test_encrypted_members_are_rejected(flags):
    data = build_zip([{"name": "a.npy", "data": npy_bytes(np.ones(2)), "flags": flags}])
    with pytest.raises(ValueError, match=r"member 'a.npy' is encrypted, which is not supported"):
        read_npz(data)


@pytest.mark.parametrize("compression, label", [(zipfile.ZIP_BZIP2, "12 \\(bzip2\\)"),
                                                (zipfile.ZIP_LZMA, "14 \\(lzma\\)")])
def test_other_compression_methods_are_rejected(compression, label):
    data = make_zip_with_zipfile([("a.npy", npy_bytes(np.ones(4)))], compression)
    with pytest.raises(ValueError, match=f"member 'a.npy' uses compression method {label}; "
                                         "only stored and deflate are supported"):
        read_npz(data)
    data = build_zip([{"name": "a.npy", "data": npy_bytes(np.ones(4)), "method": 77}])
    with pytest.raises(ValueError, match=r"compression method 77 \(unknown\)"):
        read_npz(data)


def test_member_count_is_bounded():
    member = {"data": npy_bytes(np.ones(1, dtype=np.uint8))}
    many = build_zip([dict(member, name=f"m{i}.npy") for i in range(4097)])
    with pytest.raises(ValueError, match=r"it has 4097 members, more than the limit of 4096"):
        read_npz(many)
    few = build_zip([dict(member, name=f"m{i}.npy") for i in range(4)])
    assert len(read_npz(few)) == 4
    with pytest.raises(ValueError, match=r"it has 4 members, more than the limit of 3"):
        read_npz(few, ArchiveLimits(max_members=3))


def test_zip64_entries_are_read_and_their_sizes_checked():
    member = npy_bytes(np.arange(6, dtype=np.int64))
    got = read_npz(build_zip([{"name": "a.npy", "data": member}], zip64=True))
    np.testing.assert_array_equal(got["a"], np.arange(6))
    huge = build_zip([{"name": "a.npy", "data": member, "size": 2**60}], zip64=True)
    with pytest.raises(ValueError, match=r"member 'a.npy' is stored uncompressed but its sizes "
                                         r"differ \(\d+ and 1152921504606846976 bytes\)"):
        read_npz(huge)


def test_limits_on_member_total_and_header_size():
    member = npy_bytes(np.zeros(300))
    data = build_zip([{"name": "a.npy", "data": member}, {"name": "b.npy", "data": member}])
    assert len(read_npz(data)) == 2
    with pytest.raises(ValueError, match=rf"member 'a.npy' is {len(member)} bytes, more than the "
                                         r"limit of 1000"):
        read_npz(data, ArchiveLimits(max_member_bytes=1000))
    with pytest.raises(ValueError, match=r"more than the limit of 4000 bytes in total"):
        read_npz(data, ArchiveLimits(max_total_bytes=4000))
    padded = forged_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}" + " " * 70000,
                        b"\0" * 8, version=(2, 0))
    with pytest.raises(ValueError, match=r"member 'p.npy' has a 70\d\d\d-byte .npy header, more "
                                         r"than the limit of 65536"):
        read_npz(build_zip([{"name": "p.npy", "data": padded}]))
    with pytest.raises(ValueError, match=r"has dtype '<f8', expected one of float32"):
        read_npz(data, ArchiveLimits(allowed_dtypes=("float32",)))


@pytest.mark.parametrize("header, problem", [
    ("{'descr': '<f4', 'fortran_order': False}", "without exactly the keys"),
    ("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "fortran_order 0, expected True"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
     r"shape \(-1,\), expected a tuple"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", r"shape \[1\], expected a tuple"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1.0,)}", r"shape \(1.0,\)"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}", r"shape \(True,\)"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 50 + ")" * 50 + "}",
     "nested 51 deep"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "malformed .npy header"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': __import__('os')}", "malformed"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}\x00", "non-printable"),
])
def test_forged_npy_headers_are_rejected(header, problem):
    member = forged_npy(header, b"\0" * 4)
    with pytest.raises(ValueError, match=problem):
        read_npz(build_zip([{"name": "f.npy", "data": member}]))


# ---------------------------------------------------------------------------
# Oversized declarations: rejected without allocating what they declare.

MEMORY_BUDGET = 4 * 1024 * 1024


def test_a_tiny_file_declaring_a_huge_matrix_is_rejected_without_allocating():
    member = forged_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (30000, 30000), }",
                        b"\x01" * 7500)
    for method in (0, 8):
        data = build_zip([{"name": "W0.npy", "data": member, "method": method}])
        assert len(data) < 8000
        peak, message = peak_allocation(lambda: read_npz(data))
        assert peak < MEMORY_BUDGET
        assert message == ("<bytes>: not a valid model file: member 'W0.npy' declares shape "
                           "(30000, 30000) of float32 (3600000000 bytes) but holds 7500 bytes")


def test_a_member_declaring_two_to_the_forty_elements_is_rejected():
    member = forged_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }",
                        b"\0" * 16)
    data = build_zip([{"name": "x.npy", "data": member}])
    peak, message = peak_allocation(lambda: read_npz(data))
    assert peak < MEMORY_BUDGET
    assert ("member 'x.npy' declares shape (1099511627776,) of float32 (4398046511104 bytes) "
            "but holds 16 bytes") in message


def test_a_directory_claiming_a_huge_uncompressed_size_is_rejected():
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (30000, 30000), }"
    member = forged_npy(header, b"\0" * 64)
    declared = len(forged_npy(header)) + 3_600_000_000
    stored = build_zip([{"name": "a.npy", "data": member, "size": declared, "raw": member}],
                       zip64=True)
    deflated = build_zip([{"name": "a.npy", "data": member, "size": declared, "method": 8}],
                         zip64=True)
    # Stored members whose compressed size is also forged run past the file's end.
    forged = bytearray(build_zip([{"name": "a.npy", "data": member}]))
    directory = forged.rfind(b"PK\x01\x02")
    struct.pack_into("<II", forged, directory + 20, 0xFFFFFFF0, 0xFFFFFFF0)
    cases = [(stored, "its sizes differ"),
             (deflated, "more than deflate can"), (bytes(forged), "runs past the end")]
    for data, problem in cases:
        peak, message = peak_allocation(lambda: read_npz(data))
        assert peak < MEMORY_BUDGET
        assert problem in message


def test_a_deflate_bomb_is_rejected_without_inflating_it():
    array = np.arange(10, dtype=np.float32)
    member = npy_bytes(array)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = packer.compress(member)
    for _ in range(20):
        raw += packer.compress(bytes(1 << 20))
    raw += packer.flush()
    assert len(raw) < 40_000
    bomb = build_zip([{"name": "a.npy", "data": member, "raw": raw, "method": 8}])
    peak, message = peak_allocation(lambda: read_npz(bomb))
    assert peak < MEMORY_BUDGET
    assert "member 'a.npy' decompresses to more than the" in message


def test_deflate_streams_that_end_early_or_carry_extra_bytes_are_rejected():
    array = np.arange(64, dtype=np.float64)
    member = npy_bytes(array)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    full = packer.compress(member) + packer.flush()
    ok = build_zip([{"name": "a.npy", "data": member, "raw": full, "method": 8}])
    np.testing.assert_array_equal(read_npz(ok)["a"], array)

    short_member = member[:-40]
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    short = packer.compress(short_member) + packer.flush()
    cases = [
        (build_zip([{"name": "a.npy", "data": member, "raw": short, "method": 8}]),
         f"decompresses to {len(member) - 40} bytes, fewer than the {len(member)} declared"),
        (build_zip([{"name": "a.npy", "data": member, "raw": full[:-6], "method": 8}]),
         f"fewer than the {len(member)} declared|truncated compressed stream"),
        (build_zip([{"name": "a.npy", "data": member, "raw": full + b"tail", "method": 8}]),
         "has bytes after its compressed stream"),
        (build_zip([{"name": "a.npy", "data": member, "raw": b"\xff" * 40, "method": 8}]),
         "damaged compressed data"),
    ]
    for data, problem in cases:
        with pytest.raises(ValueError, match=problem):
            read_npz(data)


# ---------------------------------------------------------------------------
# JSON headers.

def test_json_header_round_trip():
    header = {"format": "layernet-model", "version": 1, "layers": [{"n_in": 3, "act": None}],
              "metadata": {"name": "réseau ✓", "lr": 1e-3, "flags": [True, False],
                           "big": 10**29, "neg": -(10**29)}}
    text = dump_json_header(header)
    assert isinstance(text, bytes)
    assert json.loads(text.decode("utf-8")) == header
    assert parse_json_header(text, "m.npz") == header
    assert parse_json_header(np.frombuffer(text, dtype=np.uint8), "m.npz") == header


@pytest.mark.parametrize("text, value", [(b"[1, 2]", [1, 2]), (b'"s"', "s"), (b"3", 3),
                                         (b"null", None), (b'{"a": "\\"]}"}', {"a": '"]}'})])
def test_json_non_object_top_levels_are_returned_as_they_are(text, value):
    assert parse_json_header(text, "m.npz") == value


@pytest.mark.parametrize("text, problem", [
    (b"[" * 100_000 + b"]" * 100_000, "is nested more than 64 levels deep"),
    (b'{"a": ' * 100_000, "is nested more than 64 levels deep"),
    (b'{"a": Infinity}', "contains Infinity, which is not a JSON number"),
    (b'{"a": -Infinity}', "contains -Infinity, which is not a JSON number"),
    (b'[NaN]', "contains NaN, which is not a JSON number"),
    (b'{"a": 1e400}', "contains the number 1e400, outside the float range"),
    (b'{"a": -1e400}', "contains the number -1e400, outside the float range"),
    (b'{"a": ' + b"7" * 400 + b"}", "contains an integer with 400 digits, more than 30"),
    (b'{"a": "caf\xe9"}', r"is not valid UTF-8 \(byte 0xe9 at offset 10\)"),
    (b'{"a": 1,}', r"is not valid JSON: .*\(line 1, column 9\)"),
    (b'{"a": "unterminated' + b'\\"' * 1000, "is not valid JSON"),
    (b"", "is not valid JSON"),
])
def test_json_headers_that_are_rejected(text, problem):
    with pytest.raises(ValueError, match=r"^m\.npz: the JSON header " + problem):
        parse_json_header(text, "m.npz")


def test_json_depth_and_size_limits_are_parameters():
    assert parse_json_header(b"[[[1]]]", "m", max_depth=3) == [[[1]]]
    with pytest.raises(ValueError, match="nested more than 2 levels"):
        parse_json_header(b"[[[1]]]", "m", max_depth=2)
    with pytest.raises(ValueError, match="the JSON header is 10 bytes, more than the limit of 9"):
        parse_json_header(b'"12345678"', "m", max_bytes=9)


def test_a_huge_unterminated_json_string_is_rejected_quickly():
    text = b'{"a": "' + b'\\"x' * 300_000
    with pytest.raises(ValueError, match="is not valid JSON"):
        parse_json_header(text, "m.npz")


@pytest.mark.parametrize("obj, error, message", [
    ({"metadata": {"m": np.zeros(2)}}, TypeError,
     "metadata['m']: expected JSON-serialisable values, got ndarray"),
    ({"layers": [{"n": np.int64(3)}]}, TypeError,
     "layers[0]['n']: expected JSON-serialisable values, got int64"),
    ({"tags": {1, 2}}, TypeError, "tags: expected JSON-serialisable values, got set"),
    ({"metadata": {"x": float("nan")}}, TypeError,
     "metadata['x']: expected finite numbers, got nan"),
    ({"metadata": {"x": [float("inf")]}}, TypeError, "metadata['x'][0]: expected finite numbers"),
    ({"metadata": {3: "a"}}, TypeError, "metadata: expected str keys, got int (3)"),
    ({"n": 10**40}, ValueError, "n: expected integers of at most 30 digits, got a longer one"),
    ({"n": -(10**30)}, ValueError, "n: expected integers of at most 30 digits"),
    (object(), TypeError, "the header: expected JSON-serialisable values, got object"),
])
def test_dump_json_header_names_the_offending_key_path(obj, error, message):
    with pytest.raises(error) as info:
        dump_json_header(obj)
    assert str(info.value).startswith(message)


def test_dump_json_header_refuses_what_the_parser_would_refuse():
    deep = current = {}
    for _ in range(70):
        current["k"] = {}
        current = current["k"]
    with pytest.raises(ValueError, match=r"nested more than 64 levels deep"):
        dump_json_header(deep)
    cyclic = {"a": []}
    cyclic["a"].append(cyclic)
    with pytest.raises(ValueError, match=r"nested more than 64 levels deep"):
        dump_json_header(cyclic)
    fine = {"a": [[[]]]}
    assert parse_json_header(dump_json_header(fine), "m") == fine
