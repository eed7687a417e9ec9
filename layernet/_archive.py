"""Reading and writing .npz archives and JSON headers that may be hostile.

read_npz parses the zip structure and each .npy header itself and checks
every declared size against the archive's real sizes and the limits before
allocating anything, so a damaged or forged file costs bounded time and
memory and ends in a ValueError that names the file and the problem.
Nothing is ever unpickled. write_npz writes uncompressed archives that
numpy.load reads. parse_json_header / dump_json_header handle the JSON text
stored in such archives with bounded size, depth and number lengths.
"""
from __future__ import annotations

import ast
import io
import json
import math
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Dict, Mapping, Tuple

import numpy as np

from ._files import write_atomic

_GiB = 1 << 30


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what read_npz accepts (and write_npz produces).

    max_members: number of arrays in the archive.
    max_member_bytes / max_total_bytes: uncompressed size of one member / all members.
    max_header_bytes: length of one member's .npy header.
    allowed_dtypes: numpy dtype names of the arrays; either byte order is read.
    """
    max_members: int = 4096
    max_member_bytes: int = 16 * _GiB
    max_total_bytes: int = 16 * _GiB
    max_header_bytes: int = 64 * 1024
    allowed_dtypes: Tuple[str, ...] = ("float32", "float64", "uint8", "int64")

    def __post_init__(self) -> None:
        for field in ("max_members", "max_member_bytes", "max_total_bytes", "max_header_bytes"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ArchiveLimits.{field}: expected a positive int, got {value!r}")
        dtypes = self.allowed_dtypes
        if isinstance(dtypes, str) or not isinstance(dtypes, (tuple, list)):
            raise TypeError("ArchiveLimits.allowed_dtypes: expected a tuple of dtype names, "
                            f"got {type(self.allowed_dtypes).__name__}")
        for name in self.allowed_dtypes:
            dtype = np.dtype(name)
            if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
                raise ValueError("ArchiveLimits.allowed_dtypes: expected plain numeric dtypes, "
                                 f"got {name!r}")
        object.__setattr__(self, "allowed_dtypes", tuple(self.allowed_dtypes))

    def descr_table(self) -> Dict[str, np.dtype]:
        """The .npy descr strings accepted, mapped to their dtypes."""
        table = {}
        for name in self.allowed_dtypes:
            dtype = np.dtype(name)
            variants = [dtype.newbyteorder("<"), dtype.newbyteorder(">")]
            for variant in variants:
                table[variant.str] = variant
            if dtype.itemsize == 1:
                for order in "<>|":
                    table[order + dtype.str[1:]] = dtype
        return table


_DEFAULT_LIMITS = ArchiveLimits()


class _Damaged(Exception):
    """A problem with the archive's contents, reported as a ValueError."""


class _SourceTypeError(TypeError):
    """The source is not something read_npz can read."""


# ---------------------------------------------------------------------------
# Random access to the source's bytes.

class _BufferSource:
    def __init__(self, data) -> None:
        self._data = memoryview(data).cast("B")
        self.size = self._data.nbytes

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset + n > self.size:
            raise _Damaged(f"it ends at byte {self.size}, before byte {offset + n} of its contents")
        return bytes(self._data[offset:offset + n])

    def readinto_at(self, offset: int, out: memoryview) -> None:
        n = out.nbytes
        if offset < 0 or offset + n > self.size:
            raise _Damaged(f"it ends at byte {self.size}, before byte {offset + n} of its contents")
        out[:] = self._data[offset:offset + n]


class _FileSource:
    def __init__(self, stream, base: int, size: int) -> None:
        self._stream, self._base, self.size = stream, base, size

    def readinto_at(self, offset: int, out: memoryview) -> None:
        n = out.nbytes
        if offset < 0 or offset + n > self.size:
            raise _Damaged(f"it ends at byte {self.size}, before byte {offset + n} of its contents")
        self._stream.seek(self._base + offset)
        filled = 0
        readinto = getattr(self._stream, "readinto", None)
        while filled < n:
            if readinto is not None:
                got = readinto(out[filled:])
            else:
                chunk = self._stream.read(n - filled)
                got = len(chunk)
                out[filled:filled + got] = chunk
            if not got:
                raise _Damaged(f"it became shorter while being read (at byte {offset + filled})")
            filled += got

    def read_at(self, offset: int, n: int) -> bytes:
        out = bytearray(n)
        self.readinto_at(offset, memoryview(out))
        return bytes(out)


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(os.fspath(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    name = getattr(source, "name", None)
    if isinstance(name, (str, bytes, os.PathLike)):
        return os.fsdecode(os.fspath(name))
    return f"<{type(source).__name__}>"


def _read_stream_fully(stream, limit: int) -> bytes:
    """All remaining bytes of a stream, or _Damaged beyond `limit` bytes."""
    chunks, total = [], 0
    while True:
        chunk = stream.read(min(1 << 20, limit + 1 - total))
        if not isinstance(chunk, (bytes, bytearray)):
            raise _SourceTypeError("source: expected a file opened in binary mode, "
                                   f"whose read() returns bytes, got {type(chunk).__name__}")
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _Damaged(f"it is larger than the {limit} bytes allowed by the limits")


def _is_seekable(stream) -> bool:
    try:
        return bool(stream.seekable()) if hasattr(stream, "seekable") else False
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------
# The zip structure.

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END_RECORD = struct.Struct("<4sHHHHIIH")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_END_RECORD = struct.Struct("<4sQHHIIQQQQ")
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_NPY_MAGIC = b"\x93NUMPY"
_FLAG_ENCRYPTED = 0x0001
_FLAG_STRONG_ENCRYPTION = 0x0040
_FLAG_UTF8_NAME = 0x0800
_FLAG_MASKED_DIRECTORY = 0x2000
_STORED, _DEFLATED = 0, 8
_METHOD_NAMES = {1: "shrink", 6: "implode", 9: "deflate64", 12: "bzip2", 14: "lzma",
                 93: "zstandard", 95: "xz", 98: "ppmd", 99: "AES encryption"}
_MAX_NAME_BYTES = 1024
_MAX_FIELD_BYTES = 4096          # extra field or comment of one entry
_MAX_DEFLATE_RATIO = 1032        # the most deflate can expand (258-byte matches)
_CHUNK = 1 << 20


class _Member:
    __slots__ = ("name", "raw_name", "key", "flags", "method", "crc", "compressed_size",
                 "size", "header_offset", "data_offset")


def _find_end_record(source) -> Tuple[int, tuple]:
    """Offset and fields of the end-of-central-directory record."""
    tail_size = min(source.size, _END_RECORD.size + 0xFFFF)
    tail = source.read_at(source.size - tail_size, tail_size)
    position = len(tail)
    while True:
        position = tail.rfind(_EMPTY_ZIP_MAGIC, 0, position)
        if position < 0:
            raise _Damaged("it has no end-of-archive record (the file is truncated or damaged)")
        if position + _END_RECORD.size <= len(tail):
            fields = _END_RECORD.unpack_from(tail, position)
            if position + _END_RECORD.size + fields[7] == len(tail):
                return source.size - tail_size + position, fields


def _directory_location(source, limits: ArchiveLimits) -> Tuple[int, int, int]:
    """(entry count, directory offset, directory size), checked against the file."""
    end_offset, end = _find_end_record(source)
    _, disk, directory_disk, disk_entries, entries, size, offset, _ = end
    directory_end = end_offset
    if 0xFFFF in (disk, directory_disk, disk_entries, entries) or 0xFFFFFFFF in (size, offset):
        locator_offset = end_offset - _ZIP64_LOCATOR.size
        if locator_offset >= 0:
            locator = _ZIP64_LOCATOR.unpack(source.read_at(locator_offset, _ZIP64_LOCATOR.size))
            if locator[0] == b"PK\x06\x07":
                record_offset = locator[2]
                if record_offset + _ZIP64_END_RECORD.size > locator_offset:
                    raise _Damaged("its zip64 end record lies outside the file")
                record = _ZIP64_END_RECORD.unpack(
                    source.read_at(record_offset, _ZIP64_END_RECORD.size))
                if record[0] != b"PK\x06\x06":
                    raise _Damaged("its zip64 end record is damaged")
                disk, directory_disk, disk_entries, entries, size, offset = record[4:10]
                directory_end = record_offset
    if disk != 0 or directory_disk != 0 or disk_entries != entries:
        raise _Damaged("it claims to span several disks, which is not supported")
    if entries > limits.max_members:
        raise _Damaged(f"it has {entries} members, more than the limit of {limits.max_members}")
    if offset + size != directory_end:
        raise _Damaged(f"its central directory (bytes {offset} to {offset + size}) does not "
                       f"end where the end record starts (byte {directory_end})")
    per_entry = _CENTRAL_HEADER.size + _MAX_NAME_BYTES + 2 * _MAX_FIELD_BYTES
    if size > entries * per_entry:
        raise _Damaged(f"its central directory is {size} bytes for {entries} members")
    return entries, offset, size


def _zip64_values(extra: bytes, wanted: int) -> list:
    """The first `wanted` 8-byte values of the zip64 extra field."""
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, position)
        position += 4
        if tag == 0x0001:
            if length < 8 * wanted or position + length > len(extra):
                raise _Damaged("a zip64 extra field is too short")
            return list(struct.unpack_from(f"<{wanted}Q", extra, position))
        position += length
    raise _Damaged("an entry needs a zip64 extra field and has none")


def _member_name(raw: bytes, flags: int) -> str:
    try:
        name = raw.decode("utf-8" if flags & _FLAG_UTF8_NAME else "cp437")
    except UnicodeDecodeError:
        raise _Damaged(f"member name {raw!r} is not valid UTF-8") from None
    return name


def _is_plain_name(key: str) -> bool:
    return bool(key) and not any(c in "/\\" or ord(c) < 32 or c == "\x7f" for c in key)


def _check_member_name(name: str, seen: set) -> str:
    if not name.endswith(".npy"):
        raise _Damaged(f"member {name!r} is not a .npy array (its name does not end in '.npy')")
    key = name[:-4]
    if not _is_plain_name(key):
        raise _Damaged(f"member name {name!r} is not allowed (expected a plain name "
                       "without path separators or control characters)")
    if key in seen:
        raise _Damaged(f"member {name!r} appears more than once")
    seen.add(key)
    return key


def _read_directory(source, limits: ArchiveLimits) -> list:
    entries, offset, size = _directory_location(source, limits)
    directory = source.read_at(offset, size)
    members, seen, position, total = [], set(), 0, 0
    for index in range(entries):
        if position + _CENTRAL_HEADER.size > size:
            raise _Damaged(f"its central directory ends after {index} of {entries} entries")
        (magic, _, _, flags, method, _, _, crc, compressed_size, file_size, name_length,
         extra_length, comment_length, _, _, _, header_offset) = _CENTRAL_HEADER.unpack_from(
            directory, position)
        if magic != b"PK\x01\x02":
            raise _Damaged(f"central directory entry {index} is damaged")
        if (name_length > _MAX_NAME_BYTES or extra_length > _MAX_FIELD_BYTES
                or comment_length > _MAX_FIELD_BYTES):
            raise _Damaged(f"central directory entry {index} has an oversized name or field")
        position += _CENTRAL_HEADER.size
        end = position + name_length + extra_length + comment_length
        if end > size:
            raise _Damaged(f"central directory entry {index} runs past the directory")
        raw_name = directory[position:position + name_length]
        extra = directory[position + name_length:position + name_length + extra_length]
        position = end
        name = _member_name(raw_name, flags)
        key = _check_member_name(name, seen)

        wide = [v == 0xFFFFFFFF for v in (file_size, compressed_size, header_offset)]
        if any(wide):
            values = iter(_zip64_values(extra, sum(wide)))
            if wide[0]:
                file_size = next(values)
            if wide[1]:
                compressed_size = next(values)
            if wide[2]:
                header_offset = next(values)

        if flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION | _FLAG_MASKED_DIRECTORY):
            raise _Damaged(f"member {name!r} is encrypted, which is not supported")
        if method not in (_STORED, _DEFLATED):
            method_name = _METHOD_NAMES.get(method, "unknown")
            raise _Damaged(f"member {name!r} uses compression method {method} ({method_name}); "
                           "only stored and deflate are supported")
        if method == _STORED and compressed_size != file_size:
            raise _Damaged(f"member {name!r} is stored uncompressed but its sizes differ "
                           f"({compressed_size} and {file_size} bytes)")
        if method == _DEFLATED and file_size > compressed_size * _MAX_DEFLATE_RATIO + 64:
            raise _Damaged(f"member {name!r} claims to expand {compressed_size} compressed bytes "
                           f"to {file_size}, more than deflate can")
        if file_size > limits.max_member_bytes:
            raise _Damaged(f"member {name!r} is {file_size} bytes, more than the limit of "
                           f"{limits.max_member_bytes}")
        total += file_size
        if total > limits.max_total_bytes:
            raise _Damaged(f"its members hold more than the limit of {limits.max_total_bytes} "
                           "bytes in total")
        member = _Member()
        member.name, member.key, member.flags, member.method = name, key, flags, method
        member.crc, member.compressed_size, member.size = crc, compressed_size, file_size
        member.header_offset, member.raw_name = header_offset, raw_name
        members.append(member)
    if position != size:
        raise _Damaged(f"its central directory has {size - position} bytes after its last entry")
    _locate_member_data(source, members, offset)
    return members


def _locate_member_data(source, members: list, directory_offset: int) -> None:
    """Set each member's data offset from its local header; members must not overlap."""
    for member in members:
        if member.header_offset + _LOCAL_HEADER.size > directory_offset:
            raise _Damaged(f"member {member.name!r} starts outside the archive's data area")
        local = _LOCAL_HEADER.unpack(source.read_at(member.header_offset, _LOCAL_HEADER.size))
        magic, _, flags, method = local[0], local[1], local[2], local[3]
        name_length, extra_length = local[9], local[10]
        if magic != _ZIP_MAGIC:
            raise _Damaged(f"member {member.name!r} has a damaged local header")
        name_offset = member.header_offset + _LOCAL_HEADER.size
        if source.read_at(name_offset, name_length) != member.raw_name:
            raise _Damaged(f"member {member.name!r} has a different name in its local header")
        if method != member.method or (flags & _FLAG_ENCRYPTED) != (member.flags & _FLAG_ENCRYPTED):
            raise _Damaged(f"member {member.name!r}: its local header disagrees with the "
                           "central directory")
        member.data_offset = name_offset + name_length + extra_length
        if member.data_offset + member.compressed_size > directory_offset:
            raise _Damaged(f"member {member.name!r} runs past the end of the archive's data "
                           f"({member.compressed_size} bytes from byte {member.data_offset})")
    ordered = sorted(members, key=lambda m: m.header_offset)
    for before, after in zip(ordered, ordered[1:]):
        if before.data_offset + before.compressed_size > after.header_offset:
            raise _Damaged(f"members {before.name!r} and {after.name!r} overlap")


class _MemberReader:
    """The uncompressed bytes of one member, read in order, never more than declared."""

    def __init__(self, source, member: _Member) -> None:
        self._source, self._member = source, member
        self._position = member.data_offset
        self._compressed_left = member.compressed_size
        self._produced = 0
        self._crc = 0
        self._inflater = zlib.decompressobj(-15) if member.method == _DEFLATED else None
        self._pending = b""

    def _inflate(self, max_length: int) -> bytes:
        inflater = self._inflater
        while not inflater.eof:
            if not self._pending and self._compressed_left:
                take = min(self._compressed_left, _CHUNK)
                self._pending = self._source.read_at(self._position, take)
                self._position += take
                self._compressed_left -= take
            try:
                piece = inflater.decompress(self._pending, max_length)
            except zlib.error as exc:
                raise _Damaged(f"member {self._member.name!r} has damaged compressed data "
                               f"({exc})") from None
            self._pending = inflater.unconsumed_tail
            if piece or (not self._pending and not self._compressed_left):
                return piece
        return b""

    def readinto(self, out: memoryview) -> None:
        n = out.nbytes
        if self._produced + n > self._member.size:
            raise _Damaged(f"member {self._member.name!r} is shorter than its .npy header says")
        if self._inflater is None:
            self._source.readinto_at(self._position, out)
            self._position += n
            self._crc = zlib.crc32(out, self._crc)
        else:
            filled = 0
            while filled < n:
                piece = self._inflate(min(n - filled, 4 * _CHUNK))
                if not piece:
                    raise _Damaged(f"member {self._member.name!r} decompresses to "
                                   f"{self._produced + filled} bytes, fewer than the "
                                   f"{self._member.size} declared")
                out[filled:filled + len(piece)] = piece
                self._crc = zlib.crc32(piece, self._crc)
                filled += len(piece)
        self._produced += n

    def read(self, n: int) -> bytes:
        out = bytearray(n)
        self.readinto(memoryview(out))
        return bytes(out)

    def finish(self) -> None:
        """Check that the member ends where declared and that its CRC matches."""
        name = self._member.name
        if self._produced != self._member.size:
            raise _Damaged(f"member {name!r} holds {self._member.size} bytes but its .npy "
                           f"header accounts for {self._produced}")
        if self._inflater is not None:
            if self._inflate(1):
                raise _Damaged(f"member {name!r} decompresses to more than the "
                               f"{self._member.size} bytes declared")
            if not self._inflater.eof:
                raise _Damaged(f"member {name!r} has a truncated compressed stream")
            if self._inflater.unused_data or self._pending or self._compressed_left:
                raise _Damaged(f"member {name!r} has bytes after its compressed stream")
        if self._crc != self._member.crc:
            raise _Damaged(f"member {name!r} fails its CRC check (the data is damaged: "
                           f"checksum {self._crc:08x}, expected {self._member.crc:08x})")


# ---------------------------------------------------------------------------
# One .npy member.

_MAX_NDIM = 64
_HEADER_TEXT = re.compile(r"[ -~\t\n\r]*\Z")


def _parse_npy_header(text: str, name: str) -> dict:
    if _HEADER_TEXT.match(text) is None:
        raise _Damaged(f"member {name!r} has non-printable characters in its .npy header")
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > 4:
        raise _Damaged(f"member {name!r} has a .npy header nested {deepest} deep")
    try:
        header = ast.literal_eval(text.strip())
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError, OverflowError):
        raise _Damaged(f"member {name!r} has a malformed .npy header") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise _Damaged(f"member {name!r} has a .npy header without exactly the keys "
                       "'descr', 'fortran_order' and 'shape'")
    return header


def _read_npy(reader: _MemberReader, member: _Member, limits: ArchiveLimits,
              descrs: Dict[str, np.dtype]) -> np.ndarray:
    name = member.name
    if member.size < 10:
        raise _Damaged(f"member {name!r} is too short ({member.size} bytes) to be a .npy array")
    prefix = reader.read(8)
    if prefix[:6] != _NPY_MAGIC:
        raise _Damaged(f"member {name!r} is not a .npy array (no .npy magic number)")
    version = (prefix[6], prefix[7])
    if version == (1, 0):
        (header_length,) = struct.unpack("<H", reader.read(2))
        prefix_length = 10
    elif version in ((2, 0), (3, 0)):
        if member.size < 12:
            raise _Damaged(f"member {name!r} is too short ({member.size} bytes) to be a .npy array")
        (header_length,) = struct.unpack("<I", reader.read(4))
        prefix_length = 12
    else:
        raise _Damaged(f"member {name!r} has unsupported .npy format version "
                       f"{version[0]}.{version[1]}")
    if header_length > limits.max_header_bytes:
        raise _Damaged(f"member {name!r} has a {header_length}-byte .npy header, more than "
                       f"the limit of {limits.max_header_bytes}")
    if prefix_length + header_length > member.size:
        raise _Damaged(f"member {name!r} is shorter ({member.size} bytes) than its .npy header")
    raw_header = reader.read(header_length)
    try:
        text = raw_header.decode("utf-8" if version == (3, 0) else "latin-1")
    except UnicodeDecodeError:
        raise _Damaged(f"member {name!r} has a .npy header that is not valid UTF-8") from None
    header = _parse_npy_header(text, name)

    descr, fortran_order, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str):
        raise _Damaged(f"member {name!r} holds a structured array, which is not supported")
    if descr not in descrs:
        if "O" in descr:
            raise _Damaged(f"member {name!r} holds Python objects (descr {descr!r}), which are "
                           "never unpickled")
        allowed = ", ".join(limits.allowed_dtypes)
        raise _Damaged(f"member {name!r} has dtype {descr!r}, expected one of {allowed}")
    dtype = descrs[descr]
    if not isinstance(fortran_order, bool):
        raise _Damaged(f"member {name!r} has fortran_order {fortran_order!r}, expected True "
                       "or False")
    if (not isinstance(shape, tuple) or len(shape) > _MAX_NDIM
            or not all(type(d) is int and 0 <= d < 1 << 63 for d in shape)):
        raise _Damaged(f"member {name!r} has shape {shape!r}, expected a tuple of at most "
                       f"{_MAX_NDIM} non-negative integers")
    count = 1
    for dim in shape:
        count *= dim   # exact Python ints: each factor < 2**63 and at most 64 of them
    data_bytes = count * dtype.itemsize
    held = member.size - prefix_length - header_length
    if data_bytes != held:
        raise _Damaged(f"member {name!r} declares shape {shape} of {dtype.name} "
                       f"({data_bytes} bytes) but holds {held} bytes")

    try:
        flat = np.empty(count, dtype=dtype)
    except MemoryError:
        raise MemoryError(f"member {name!r} needs {data_bytes} bytes of memory for shape "
                          f"{shape}, which is not available") from None
    reader.readinto(memoryview(flat.view(np.uint8)))
    reader.finish()
    if not dtype.isnative:
        flat.byteswap(inplace=True)
        flat = flat.view(dtype.newbyteorder("="))
    if fortran_order:
        return np.ascontiguousarray(flat.reshape(shape[::-1]).T)
    return flat.reshape(shape)


# ---------------------------------------------------------------------------
# Public API.

_CONVERTED_ERRORS = (struct.error, zlib.error, zipfile.BadZipFile, EOFError, OverflowError,
                     ValueError, KeyError, IndexError, UnicodeDecodeError, RecursionError,
                     RuntimeError, NotImplementedError, SyntaxError, AttributeError, TypeError)


def _open_source(source, limits: ArchiveLimits, opened: list):
    """A random-access source for `source`; files this opens go in `opened`."""
    stream_limit = limits.max_total_bytes + 64 * 1024 * 1024
    if isinstance(source, (str, os.PathLike)):
        stream = open(source, "rb")
        opened.append(stream)
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode):
            return _FileSource(stream, 0, info.st_size)
        return _stream_source(stream, stream_limit)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _BufferSource(source)
    if _is_seekable(source):
        base = source.tell()
        source.seek(0, os.SEEK_END)
        end = source.tell()
        source.seek(base)
        return _FileSource(source, base, max(0, end - base))
    return _stream_source(source, stream_limit)


def _stream_source(stream, limit: int) -> _BufferSource:
    # Check the magic number before reading the rest of a stream that may be endless.
    head = _read_exactly_or_less(stream, len(_NPY_MAGIC))
    if head and not _starts_like_zip(head):
        return _BufferSource(head)
    return _BufferSource(head + _read_stream_fully(stream, limit - len(head)))


def _read_exactly_or_less(stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not isinstance(chunk, (bytes, bytearray)):
            raise _SourceTypeError("source: expected a file opened in binary mode, "
                                   f"whose read() returns bytes, got {type(chunk).__name__}")
        if not chunk:
            break
        data += chunk
    return data


def _starts_like_zip(head: bytes) -> bool:
    return head.startswith(_ZIP_MAGIC) or head.startswith(_EMPTY_ZIP_MAGIC)


def _check_magic(source) -> bool:
    """True for an archive with members, False for an empty one; _Damaged otherwise."""
    if source.size == 0:
        raise _Damaged("it is empty, expected an .npz archive")
    head = source.read_at(0, min(source.size, 6))
    if head.startswith(_ZIP_MAGIC):
        return True
    if head.startswith(_EMPTY_ZIP_MAGIC):
        return False
    if head.startswith(_NPY_MAGIC):
        raise _Damaged("it is a single .npy array, expected an .npz archive")
    raise _Damaged("it is not a zip archive, expected an .npz archive")


def read_npz(source, limits: ArchiveLimits = _DEFAULT_LIMITS,
             what: str = "model file") -> Dict[str, np.ndarray]:
    """The arrays of an .npz archive, keyed by member name without '.npy'.

    `source` is a path, bytes-like data or a readable binary file object.
    Arrays come back C-contiguous, writeable and in native byte order.
    Raises ValueError "<source>: not a valid <what>: <problem>" for anything
    damaged, forged or outside `limits`; OSError for I/O problems.
    """
    if not isinstance(limits, ArchiveLimits):
        raise TypeError(f"limits: expected ArchiveLimits, got {type(limits).__name__}")
    name = _source_name(source)
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        if not hasattr(source, "read"):
            raise TypeError("source: expected a path, bytes or a binary file opened for "
                            f"reading, got {type(source).__name__}")
        if isinstance(source, io.TextIOBase):
            raise TypeError("source: expected a file opened in binary mode ('rb'), got a "
                            "text file")
        if getattr(source, "closed", False):
            raise ValueError(f"{name}: the file is closed")
    opened: list = []
    try:
        source_bytes = _open_source(source, limits, opened)
        if not _check_magic(source_bytes):
            entries, _, _ = _directory_location(source_bytes, limits)
            if entries:
                raise _Damaged("it starts like an empty zip archive but lists members")
            return {}
        members = _read_directory(source_bytes, limits)
        descrs = limits.descr_table()
        arrays = {}
        for member in members:
            arrays[member.key] = _read_npy(_MemberReader(source_bytes, member), member,
                                           limits, descrs)
        return arrays
    except _Damaged as exc:
        raise ValueError(f"{name}: not a valid {what}: {exc}") from None
    except OSError:
        raise
    except MemoryError as exc:
        if str(exc):
            raise MemoryError(f"{name}: {exc}") from None
        raise ValueError(f"{name}: not a valid {what}: it declares sizes too large to "
                         "read") from None
    except _SourceTypeError:
        raise
    except _CONVERTED_ERRORS as exc:
        raise ValueError(f"{name}: not a valid {what}: unreadable ({type(exc).__name__}: "
                         f"{exc})") from None
    finally:
        for stream in opened:
            stream.close()


def _check_arrays_for_writing(arrays, limits: ArchiveLimits) -> None:
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays: expected a dict of numpy arrays, got {type(arrays).__name__}")
    if len(arrays) > limits.max_members:
        raise ValueError(f"arrays: {len(arrays)} arrays, more than the limit of "
                         f"{limits.max_members}")
    descrs = limits.descr_table()
    total = 0
    for key, array in arrays.items():
        if not isinstance(key, str):
            raise TypeError(f"arrays: keys must be str, got {type(key).__name__} ({key!r})")
        if not _is_plain_name(key):
            raise ValueError(f"arrays: key {key!r} is not allowed (expected a non-empty name "
                             "without path separators or control characters)")
        if not isinstance(array, np.ndarray):
            raise TypeError(f"arrays[{key!r}]: expected a numpy array, got {type(array).__name__}")
        if array.dtype.str not in descrs:
            raise TypeError(f"arrays[{key!r}]: expected dtype {', '.join(limits.allowed_dtypes)}, "
                            f"got {array.dtype}")
        if array.nbytes > limits.max_member_bytes:
            raise ValueError(f"arrays[{key!r}]: {array.nbytes} bytes, more than the limit of "
                             f"{limits.max_member_bytes}")
        total += array.nbytes
    if total > limits.max_total_bytes:
        raise ValueError(f"arrays: {total} bytes in total, more than the limit of "
                         f"{limits.max_total_bytes}")


def _write_zip(stream, arrays: Mapping[str, np.ndarray]) -> None:
    with zipfile.ZipFile(stream, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            # As numpy does: the member's size is not known before it is written.
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def write_npz(dest, arrays: Mapping[str, np.ndarray], *,
              limits: ArchiveLimits = _DEFAULT_LIMITS) -> None:
    """Write `arrays` as an uncompressed .npz archive that numpy.load reads.

    `dest` is a path (written atomically) or a writable binary file object.
    Keys are plain names (no path separators); each array's dtype must be one
    of limits.allowed_dtypes (object arrays are refused with TypeError).
    """
    _check_arrays_for_writing(arrays, limits)
    if isinstance(dest, (str, bytes, os.PathLike)):
        write_atomic(dest, lambda stream: _write_zip(stream, arrays))
    elif hasattr(dest, "write"):
        _write_zip(dest, arrays)
    else:
        raise TypeError("dest: expected a path or a binary file opened for writing, "
                        f"got {type(dest).__name__}")


# ---------------------------------------------------------------------------
# JSON headers.

_MAX_INT_DIGITS = 30
# A whole string, a bracket, or an unterminated string's opening quote.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.DOTALL)


class _JsonProblem(Exception):
    pass


def _reject_constant(name: str):
    raise _JsonProblem(f"contains {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise _JsonProblem(f"contains the number {shown}, outside the float range")
    return value


def _bounded_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > _MAX_INT_DIGITS:
        raise _JsonProblem(f"contains an integer with {digits} digits, more than "
                           f"{_MAX_INT_DIGITS}")
    return int(text)


def _nesting_depth_exceeds(text: str, max_depth: int) -> bool:
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif token in "]}":
            depth -= 1
            if depth < 0:
                return False   # unbalanced: json.loads reports it
        elif token == '"':
            return False       # unterminated string: json.loads reports it
    return False


def parse_json_header(data, source_name: str, max_bytes: int = 1 << 20,
                      max_depth: int = 64) -> object:
    """Parse UTF-8 JSON text from an untrusted file.

    Raises ValueError naming `source_name` for text over `max_bytes`, nesting
    deeper than `max_depth`, invalid UTF-8 or JSON, NaN/Infinity, numbers
    outside the float range and integers of more than 30 digits.
    """
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"data: expected bytes, got {type(data).__name__}") from None
    if view.nbytes > max_bytes:
        raise ValueError(f"{source_name}: the JSON header is {view.nbytes} bytes, more than the "
                         f"limit of {max_bytes}")
    raw = view.tobytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source_name}: the JSON header is not valid UTF-8 (byte "
                         f"{raw[exc.start]:#04x} at offset {exc.start})") from None
    if _nesting_depth_exceeds(text, max_depth):
        raise ValueError(f"{source_name}: the JSON header is nested more than {max_depth} "
                         "levels deep")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except _JsonProblem as exc:
        raise ValueError(f"{source_name}: the JSON header {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source_name}: the JSON header is not valid JSON: {exc.msg} "
                         f"(line {exc.lineno}, column {exc.colno})") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ValueError(f"{source_name}: the JSON header cannot be read "
                         f"({type(exc).__name__}: {exc})") from None


def _child_path(path: str, key) -> str:
    if not path:
        return key if isinstance(key, str) else f"[{key!r}]"
    return f"{path}[{key!r}]"


def dump_json_header(obj, max_depth: int = 64) -> bytes:
    """UTF-8 JSON text for `obj`, which parse_json_header reads back equal.

    Raises TypeError naming the key path of a value JSON cannot hold
    (arrays, sets, non-str keys, NaN or infinite floats) and ValueError for
    nesting deeper than `max_depth` or integers of more than 30 digits.
    """
    stack = [(obj, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        where = path or "the header"
        if isinstance(value, (dict, list, tuple)):
            if depth + 1 > max_depth:
                raise ValueError(f"{where}: nested more than {max_depth} levels deep")
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise TypeError(f"{where}: expected str keys, got {type(key).__name__} "
                                        f"({key!r})")
                    stack.append((item, _child_path(path, key), depth + 1))
            else:
                for index, item in enumerate(value):
                    stack.append((item, _child_path(path, index), depth + 1))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise TypeError(f"{where}: expected finite numbers, got {value!r}")
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(int(value)) >= 10 ** _MAX_INT_DIGITS:
                raise ValueError(f"{where}: expected integers of at most {_MAX_INT_DIGITS} "
                                 "digits, got a longer one")
        elif not (value is None or isinstance(value, (str, bool))):
            raise TypeError(f"{where}: expected JSON-serialisable values, got "
                            f"{type(value).__name__}")
    return json.dumps(obj, allow_nan=False).encode("utf-8")
