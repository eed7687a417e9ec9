"""Property fuzzing of layernet's public API, driven by hypothesis.

Every public entry point is called with random shapes, dtypes, byte orders,
memory layouts, special values and hyper-parameters. Each call is checked
against layernet's contract:

* the only exceptions a user may see are ValueError, TypeError,
  FloatingPointError and OSError (numpy's AxisError, a ValueError and an
  IndexError at once, does not count), MemoryError only for requests that
  really are too large, and RuntimeError only for concurrent training;
* no silent misread: a call gives what it gives for an explicitly converted,
  native, C-contiguous copy of the same values (its "twin"), bit for bit
  (1 ulp where the library's own conversion rounds twice), and accepts no
  value it would have to alter (a complex number, a finite value beyond the
  dtype's range); files a save wrote load back equal;
* a call that raised leaves the network's parameters, optimizer (object,
  hyper-parameters, step and state), loss, metadata, epochs trained and
  train_step counter as they were.

Usage:  python tests/fuzz_driver.py [--examples N] [--seed S] [--groups a,b,...]
prints a JSON summary on stdout. The groups run in a worker process so that
a segfault or abort is counted as a crash (with the call that caused it) and
the remaining groups still run.

Environment: LAYERNET_FUZZ_EXAMPLES, examples per group (default 120, about
15 s of CPU; a thorough run is LAYERNET_FUZZ_EXAMPLES=2000, a few minutes);
LAYERNET_FUZZ_SEED, the base seed (other values explore other inputs);
LAYERNET_FUZZ_TIMEOUT, seconds one worker may run (a hang counts as a crash).
"""
from __future__ import annotations

import argparse
import copy
import functools
import io
import json
import math
import operator
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from decimal import Decimal
from fractions import Fraction

import numpy as np

DEFAULT_EXAMPLES = 120
MAX_EXAMPLES_KEPT = 5          # examples stored per category and key
GROUPS = ("construct", "network", "predict", "loss_eval", "gradients", "train_step", "fit",
          "params", "save_load", "load_junk", "copy", "summary")

# ---------------------------------------------------------------------------
# Contract: which exceptions a user may see
# ---------------------------------------------------------------------------

_ALLOWED = (ValueError, TypeError, FloatingPointError, OSError)
_FORBIDDEN = (OverflowError, KeyError, IndexError, AttributeError, ZeroDivisionError,
              RecursionError, NotImplementedError, SystemError, np.exceptions.AxisError,
              LookupError, AssertionError, UnboundLocalError, NameError)


def undocumented(exc: BaseException, huge: bool) -> bool:
    """True when `exc` is outside the contract for a call. huge: the call asks
    for more memory than any machine has (a batch of 10**12 rows, a layer of
    2**40 x 2**10), so MemoryError is allowed."""
    if isinstance(exc, MemoryError):
        return not huge
    if type(exc) is RuntimeError:
        return "already training" not in str(exc)
    if isinstance(exc, _FORBIDDEN):
        return True
    return not isinstance(exc, _ALLOWED)


def _type_name(exc: BaseException) -> str:
    t = type(exc)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


# ---------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------

class Recorder:
    """Counts calls and keeps examples of every kind of contract violation."""

    def __init__(self, progress_path: str | None = None):
        self.calls = 0
        self.outcomes: dict[str, dict[str, int]] = {}
        self.undocumented: dict[str, dict] = {}
        self.misreads: list[dict] = []
        self.misread_count = 0
        self.state_changes: list[dict] = []
        self.state_change_count = 0
        self.notes: dict[str, dict] = {}   # informational, not failures
        self.driver_errors: list[str] = []
        self._progress_fd = (os.open(progress_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                             if progress_path else None)

    def progress(self, text: str) -> None:
        """The call about to run, for the crash report if it kills the process."""
        if self._progress_fd is not None:
            data = text.encode("utf-8", "backslashreplace")[:4000]
            os.lseek(self._progress_fd, 0, os.SEEK_SET)
            os.ftruncate(self._progress_fd, 0)
            os.write(self._progress_fd, data)

    def outcome(self, entry: str, what: str) -> None:
        per = self.outcomes.setdefault(entry, {})
        per[what] = per.get(what, 0) + 1

    def undocumented_exception(self, entry: str, desc: str, exc: BaseException) -> None:
        key = _type_name(exc)
        slot = self.undocumented.setdefault(key, {"count": 0, "examples": []})
        slot["count"] += 1
        if len(slot["examples"]) < MAX_EXAMPLES_KEPT and not any(
                e["entry"] == entry for e in slot["examples"]):
            slot["examples"].append({"entry": entry, "input": desc, "message": str(exc)[:300],
                                     "where": _where(exc)})

    def misread(self, entry: str, desc: str, problem: str) -> None:
        self.misread_count += 1
        kind = (entry, problem[:25])
        if sum(1 for m in self.misreads if (m["entry"], m["problem"][:25]) == kind) < 2 and len(
                self.misreads) < 4 * MAX_EXAMPLES_KEPT:
            self.misreads.append({"entry": entry, "input": desc, "problem": problem[:500]})

    def state_change(self, entry: str, desc: str, exc: BaseException, changed: list) -> None:
        self.state_change_count += 1
        kind = (entry, _type_name(exc), tuple(changed))
        if sum(1 for m in self.state_changes if m["kind"] == kind) < 2 and len(
                self.state_changes) < 4 * MAX_EXAMPLES_KEPT:
            self.state_changes.append({"kind": kind, "entry": entry, "input": desc,
                                       "exception": _type_name(exc),
                                       "message": str(exc)[:200], "changed": changed})

    def note(self, kind: str, entry: str, desc: str) -> None:
        slot = self.notes.setdefault(kind, {"count": 0, "examples": []})
        slot["count"] += 1
        if len(slot["examples"]) < MAX_EXAMPLES_KEPT and not any(
                e["entry"] == entry for e in slot["examples"]):
            slot["examples"].append({"entry": entry, "input": desc})

    def result(self) -> dict:
        return {"calls": self.calls, "outcomes": self.outcomes, "undocumented": self.undocumented,
                "misread_count": self.misread_count, "misreads": self.misreads,
                "state_change_count": self.state_change_count,
                "state_changes": self.state_changes, "notes": self.notes,
                "driver_errors": self.driver_errors}


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{os.path.basename(tb[-1].filename)}:{tb[-1].lineno} {tb[-1].name}" if tb else ""


class Outcome:
    __slots__ = ("ok", "value", "exc")

    def __init__(self, ok: bool, value=None, exc: BaseException | None = None):
        self.ok, self.value, self.exc = ok, value, exc

    def label(self) -> str:
        return "ok" if self.ok else _type_name(self.exc)


def call(rec: Recorder, entry: str, desc: str, fn, *, net=None, huge: bool = False,
         extra_state=None) -> Outcome:
    """Run fn() as one call of `entry`; record undocumented exceptions and, when
    it raised, any change to `net` (and to extra_state(), a snapshot function)."""
    before = snapshot(net) if net is not None else None
    extra_before = extra_state() if extra_state is not None else None
    rec.calls += 1
    rec.progress(f"{entry}: {desc}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fn()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        rec.outcome(entry, _type_name(exc))
        if undocumented(exc, huge):
            rec.undocumented_exception(entry, desc, exc)
        changed = []
        if net is not None:
            changed = snapshot_diff(before, snapshot(net))
        if extra_state is not None and extra_state() != extra_before:
            changed.append("files")
        if changed:
            partial = (entry == "fit" and isinstance(exc, FloatingPointError)
                       and "weights" in changed)
            if partial:   # documented: fit keeps the steps completed before the failure
                rec.note("fit_nonfinite_keeps_completed_steps", entry, desc)
            else:
                rec.state_change(entry, desc, exc, changed)
        return Outcome(False, exc=exc)
    rec.outcome(entry, "ok")
    return Outcome(True, value=value)


# ---------------------------------------------------------------------------
# Network state and value comparison
# ---------------------------------------------------------------------------

def snapshot(net) -> dict:
    opt = net.optimizer
    state = None
    if opt is not None and opt.state is not None:
        state = [[a.copy() for a in tensors] for tensors in opt.state]
    try:
        metadata = copy.deepcopy(net.metadata)
    except Exception:
        metadata = repr(net.metadata)
    return {"weights": net.get_weights(), "optimizer_object": id(opt),
            "optimizer_config": None if opt is None else repr(opt.config()),
            "optimizer_state": state, "loss": repr(net.loss_function.config()),
            "metadata": (id(net.metadata), metadata), "epochs_trained": net.epochs_trained,
            "train_steps": getattr(net, "_sgd_steps", None)}


def snapshot_diff(a: dict, b: dict) -> list[str]:
    changed = []
    for key in a:
        if key in ("weights", "optimizer_state"):
            if not same(a[key], b[key]):
                changed.append(key)
        elif key == "metadata":
            if a[key][0] != b[key][0] or not _plain_equal(a[key][1], b[key][1]):
                changed.append(key)
        elif a[key] != b[key]:
            changed.append(key)
    return changed


def _plain_equal(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return repr(a) == repr(b)


def _ordered(bits: np.ndarray, nbits: int) -> list[int]:
    """Floats' bit patterns as integers ordered like the floats (Python ints)."""
    sign = 1 << (nbits - 1)
    return [(-(int(b) & (sign - 1))) if int(b) & sign else int(b) for b in bits]


def same_array(a, b, ulps: int = 0) -> str | None:
    """None when a and b hold the same values bit for bit (NaN payloads aside),
    or within `ulps` units in the last place; else a description."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs {b.dtype}"
    if a.dtype.kind != "f":
        return None if np.array_equal(a, b) else "values differ"
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a != nan_b).any():
        return "NaN in different places"
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}.get(a.dtype.itemsize)
    if uint is None:
        return None if np.array_equal(a, b, equal_nan=True) else "values differ"
    ia, ib = a.view(uint)[~nan_a], b.view(uint)[~nan_b]
    differ = np.flatnonzero(ia != ib)
    if differ.size == 0:
        return None
    if ulps:
        oa = _ordered(ia[differ], a.dtype.itemsize * 8)
        ob = _ordered(ib[differ], a.dtype.itemsize * 8)
        worst = max(abs(x - y) for x, y in zip(oa, ob))
        if worst <= ulps:
            return None
        return f"{differ.size} values differ, by up to {worst} ulps"
    i = differ[0]
    return (f"{differ.size} of {ia.size} values differ bitwise, first "
            f"{a[~nan_a][i]!r} vs {b[~nan_b][i]!r}")


def same(a, b, ulps: int = 0) -> bool:
    return diff(a, b, ulps) is None


def diff(a, b, ulps: int = 0) -> str | None:
    """None when two results (arrays, floats, dicts, lists, None) are equal bit for bit."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return same_array(a, b, ulps)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, ulps)
            if d:
                return f"[{i}]: {d}"
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            d = diff(a[k], b[k], ulps)
            if d:
                return f"[{k!r}]: {d}"
        return None
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return None
        return None if (a == b and math.copysign(1, a) == math.copysign(1, b)) else f"{a!r} vs {b!r}"
    return None if _plain_equal(a, b) else f"{a!r} vs {b!r}"


# ---------------------------------------------------------------------------
# Inputs: arrays
# ---------------------------------------------------------------------------

FLOAT_SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 2.2e-308, 1e-45, 1e-40,
                  1e38, -1e38, 3.5e38, 1e300, -1e300, 65504.0, 70000.0, 1e5]
FLOAT_DTYPES = ["float32", "float64", "float16", "longdouble", ">f4", ">f8"]
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", ">i8"]
OTHER_DTYPES = ["bool", "complex64", "complex128", "object", "str", "bytes"]
LAYOUTS = ["c", "c", "c", "c", "fortran", "rows_strided", "cols_strided", "reversed", "offset",
           "offset", "offset", "unaligned", "readonly", "memmap", "matrix", "list", "tuple",
           "broadcast", "list_bigint", "list_bigint"]
BIG_INTS = [10**400, 2**64, -(2**64), 2**63, -(10**400)]
CLEAN_DTYPES = ["float64", "float32", "float16", "longdouble", ">f4", ">f8", "int64", "uint8",
                "int32", "bool", "complex128"]
#: per example: "clean" arguments have the right shape and finite values
PROFILE = {"clean": False}
SCRATCH = {"dir": None, "n": 0}


class Made:
    """One generated argument: the object passed, a description, and its twin
    (a native C-contiguous converted copy), None when no twin applies."""
    __slots__ = ("value", "desc", "twin", "kind", "overflow", "huge", "imag")

    def __init__(self, value, desc, kind="numeric", huge=False):
        self.value, self.desc, self.kind, self.huge = value, desc, kind, huge
        self.twin, self.overflow, self.imag = None, False, False


def _st():
    from hypothesis import strategies as st
    return st


def draw_from(data, options, label=None):
    return data.draw(_st().sampled_from(options), label=label)


def _float_values(data, rng, shape, specials=FLOAT_SPECIALS, scale=None):
    if scale is None:
        scale = draw_from(data, [1.0, 1.0, 1.0, 1e-3, 1e3, 1e-30, 1e20])
    values = rng.standard_normal(shape) * scale
    size = values.size
    if size and specials:
        for _ in range(draw_from(data, [0, 0, 0, 0, 1, 2, 3])):
            values.flat[data.draw(_st().integers(0, size - 1))] = draw_from(data, specials)
    return values


def _cast(values: np.ndarray, dtype_name: str, data, rng) -> np.ndarray:
    """values (float64) as dtype_name; integer and bool dtypes get their own values."""
    if dtype_name in ("str", "bytes"):
        return values.astype("U32" if dtype_name == "str" else "S32")
    if dtype_name == "object":
        return values.astype(object)
    dt = np.dtype(dtype_name)
    if dt.kind == "b":
        return rng.random(values.shape) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        how = draw_from(data, ["as_is", "small", "full"])
        if how == "as_is" and np.all(np.isfinite(values)) and np.all(values == np.rint(values)):
            return np.clip(values, info.min, info.max).astype(dt)
        if how != "full":
            ints = np.clip(np.rint(values * 2), max(info.min, -5), min(info.max, 5))
            return ints.astype(dt)
        return rng.integers(info.min, info.max, values.shape, dtype=dt.newbyteorder("="),
                            endpoint=True).astype(dt)
    if dt.kind == "c":
        imag = draw_from(data, [0.0, 1.0, 1.0])
        with np.errstate(all="ignore"):
            return (values + 1j * imag * np.ones_like(values)).astype(dt)
    with np.errstate(all="ignore"):
        return values.astype(dt)


def _nested_tuple(obj):
    return tuple(_nested_tuple(x) for x in obj) if isinstance(obj, list) else obj


def _layout(a: np.ndarray, layout: str):
    """a's values in another memory layout or container (same values)."""
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "rows_strided" and a.ndim >= 1:
        big = np.zeros((2 * a.shape[0],) + a.shape[1:], dtype=a.dtype)
        big[::2] = a
        return big[::2]
    if layout == "cols_strided" and a.ndim == 2:
        big = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
        big[:, ::2] = a
        return big[:, ::2]
    if layout == "reversed" and a.ndim >= 1:
        flipped = tuple(slice(None, None, -1) for _ in range(a.ndim))
        return a[flipped].copy()[flipped]
    if layout == "offset" and a.ndim >= 1 and a.dtype.kind != "O":
        big = np.zeros((a.shape[0] + 1,) + a.shape[1:], dtype=a.dtype)
        big[1:] = a
        return big[1:]
    if layout == "unaligned" and a.dtype.itemsize > 1 and a.dtype.kind not in "OUS":
        offset = 1 if a.dtype.itemsize <= 2 or a.size % 2 else a.dtype.itemsize // 2
        raw = bytearray(a.nbytes + offset)
        raw[offset:] = np.ascontiguousarray(a).tobytes()
        return np.frombuffer(raw, dtype=a.dtype, count=a.size, offset=offset).reshape(a.shape)
    if layout == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if layout == "memmap" and a.size and a.dtype.kind not in "OUS":
        SCRATCH["n"] += 1
        path = os.path.join(SCRATCH["dir"], f"m{SCRATCH['n'] % 50}.dat")
        m = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
        m[...] = a
        return m
    if layout == "matrix" and a.ndim == 2 and a.dtype.kind not in "OUS":
        return np.matrix(a)
    if layout == "list":
        return a.tolist()
    if layout == "list_bigint" and a.size:
        nested = a.tolist()
        inner = nested
        while isinstance(inner, list) and isinstance(inner[0], list):
            inner = inner[0]
        if isinstance(inner, list):
            inner[0] = BIG_INTS[a.size % len(BIG_INTS)]
            return nested
    if layout == "tuple":
        return _nested_tuple(a.tolist())
    if layout == "broadcast" and a.ndim >= 1 and a.shape[0] > 0:
        return np.broadcast_to(a[:1], a.shape)
    return a


def make_twin(m: Made, dtype) -> None:
    """Set m.twin: the value as a native C-contiguous array of `dtype` (or int64
    labels), when it is a real numeric array."""
    if m.huge:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(m.value)
    except Exception:
        m.kind = "other"
        return
    if arr.dtype.kind == "c":
        m.imag = bool(np.any(arr.imag != 0))
        m.kind = "complex"
        return
    if arr.dtype.kind not in "biuf":
        m.kind = "other"
        return
    target = np.dtype(dtype).newbyteorder("=")
    with np.errstate(all="ignore"):
        twin = np.ascontiguousarray(arr.astype(target))
    if arr.dtype.kind == "f" and target.kind == "f":
        m.overflow = bool(np.any(np.isfinite(arr) & ~np.isfinite(twin)))
    m.twin = twin


def make_array(data, rng, shape, dtype, name, values=None, *, allow_shape_change=True,
               dtypes=None, label_twin=False, optional=False) -> Made:
    """A random argument meant to hold `shape` values for a network of `dtype`;
    sometimes of the wrong shape, a scalar, None (unless `optional`: None is
    then a valid value) or a huge broadcast view."""
    clean = PROFILE["clean"]
    mode = "right"
    if allow_shape_change and not clean:
        modes = ["right"] * 8 + ["wrong_width", "zero_rows", "one_d", "three_d", "zero_d",
                                 "zero_cols", "rows_plus", "huge", "empty_list"]
        mode = draw_from(data, modes + ([] if optional else ["none"]), label=f"{name} shape")
    shape = tuple(shape)
    if mode == "none":
        return Made(None, f"{name}=None", kind="other")
    if mode == "empty_list":
        return Made([], f"{name}=[]", kind="other")
    if mode == "huge":
        cols = shape[1] if len(shape) == 2 else 1
        view = np.broadcast_to(np.zeros(cols, dtype=dtype), (10**12, cols)) if len(shape) == 2 \
            else np.broadcast_to(np.zeros(1, dtype=dtype), (10**12,))
        return Made(view, f"{name}=broadcast view of shape {view.shape}", huge=True)
    if mode == "wrong_width" and len(shape) == 2:
        shape = (shape[0], shape[1] + draw_from(data, [1, -1] if shape[1] > 1 else [1]))
        values = None
    elif mode == "zero_rows":
        shape = (0,) + shape[1:]
        values = None
    elif mode == "zero_cols" and len(shape) == 2:
        shape = (shape[0], 0)
        values = None
    elif mode == "rows_plus":
        shape = (shape[0] + 1,) + shape[1:]
        values = None
    elif mode == "one_d":
        shape = (shape[-1],) if len(shape) == 2 else (shape[0], 1)
        values = None
    elif mode == "three_d":
        shape = shape + (1,)
        values = None if values is None else values.reshape(shape)
    elif mode == "zero_d":
        scalar = draw_from(data, [1.5, 0, np.float64(2.0), np.float32(1.0), math.nan, "1.0", True])
        return Made(scalar, f"{name}=scalar {scalar!r}", kind="other")
    if values is None or values.shape != shape:
        values = _float_values(data, rng, shape, scale=1.0 if clean else None,
                               specials=[] if clean else FLOAT_SPECIALS)
    if draw_from(data, [True, False, False], label=f"{name} native dtype?"):
        dtype_name = np.dtype(dtype).name if not label_twin else "int64"
    elif clean:
        dtype_name = draw_from(data, dtypes or CLEAN_DTYPES, label=f"{name} dtype")
    else:
        category = draw_from(data, [FLOAT_DTYPES, INT_DTYPES, OTHER_DTYPES, ["complex128"]])
        dtype_name = draw_from(data, dtypes or category, label=f"{name} dtype")
    arr = _cast(values, dtype_name, data, rng)
    layout = draw_from(data, LAYOUTS[:-2] if clean else LAYOUTS, label=f"{name} layout")
    value = _layout(arr, layout)
    shown = np.array2string(np.asarray(arr).ravel()[:6], precision=3, threshold=6) \
        if arr.dtype.kind not in "OUS" else repr(arr.ravel()[:3].tolist())
    m = Made(value, f"{name}: {dtype_name} {layout} shape {shape} ({type(value).__name__}) "
                    f"values {shown}")
    make_twin(m, np.int64 if label_twin else dtype)
    if label_twin and m.twin is not None:
        arr64 = np.asarray(value)
        # labels have a twin only when every value is an integer
        if arr64.dtype.kind == "f" and not (np.all(np.isfinite(arr64))
                                             and np.all(arr64 == np.round(arr64))):
            m.twin = None
    return m


def targets(data, rng, net, rows: int, name="Y") -> Made:
    """Targets for net's loss: regression values, class labels or class-probability rows."""
    n_out = net.n_out
    if net.loss_name == "cross_entropy":
        style = draw_from(data, ["labels", "labels", "onehot", "soft", "junk_rows"], label="Y style")
        labels = rng.integers(0, n_out, rows)
        if style == "labels":
            values = labels.astype(np.float64)
            if rows and not PROFILE["clean"] and draw_from(data, [False, False, True]):
                values[data.draw(_st().integers(0, rows - 1))] = draw_from(
                    data, [-1.0, float(n_out), 0.5, math.nan, 1e300, -0.0, 2**63])
            return make_array(data, rng, (rows,), net.dtype, name, values,
                              dtypes=["int64", "int32", "uint8", "int8", "uint64", "float64",
                                      "float32", "float16", ">i8", "bool", "longdouble",
                                      "complex128", "str", "object"],
                              label_twin=True)
        if style == "onehot":
            values = np.eye(n_out)[labels]
        elif style == "soft":
            values = rng.dirichlet(np.ones(n_out), rows) if rows else np.zeros((0, n_out))
        else:
            values = _float_values(data, rng, (rows, n_out))
        return make_array(data, rng, (rows, n_out), net.dtype, name, values)
    shape = (rows, n_out) if n_out > 1 or draw_from(data, [True, False]) else (rows,)
    return make_array(data, rng, shape, net.dtype, name)


def weights_arg(data, rng, net, rows: int, name="sample_weight") -> Made | None:
    if draw_from(data, [True, True, False]):
        return None
    values = rng.random(rows) + 0.1
    if rows and not PROFILE["clean"] and draw_from(data, [False, False, True]):
        values[data.draw(_st().integers(0, rows - 1))] = draw_from(
            data, [0.0, -1.0, math.nan, math.inf, 1e38, 1e300, 5e-324, -0.0])
    if not PROFILE["clean"] and draw_from(data, [False, False, False, True]):
        values[:] = 0.0
    return make_array(data, rng, (rows,), net.dtype, name, values,
                      dtypes=FLOAT_DTYPES * 2 + ["int64", "uint8", "bool", "complex128",
                                                 "object", "str"], optional=True)


# ---------------------------------------------------------------------------
# Inputs: scalars and networks
# ---------------------------------------------------------------------------

JUNK = [None, "0.1", "abc", b"1", "", [0.1], (1,), {}, object(), 1 + 0j, 1j, Fraction(1, 3),
        Decimal("0.1"), np.array([0.1, 0.2]), np.array(0.1), np.float64("nan"), math.inf,
        -math.inf, math.nan, True, False, 2**63 - 1, 2**64, 10**400, -(10**400), -1, 0,
        np.int64(3), np.uint64(2**64 - 1), np.int8(-1), np.bool_(True), np.float16(0.5),
        np.longdouble("1e4000"), np.float32(0.1), -0.0, 5e-324, 1e308]


def scalar(data, valid, label, invalid=(), junk=True) -> object:
    """A hyper-parameter: one of `valid` or, less often (never in a clean
    example), one of `invalid` or (with `junk`) anything at all."""
    if PROFILE["clean"] or draw_from(data, [True, True, False], label=f"{label} valid?"):
        return draw_from(data, valid, label=label)
    return draw_from(data, list(invalid) + (JUNK if junk else []), label=label)


def _widths():
    return [1, 2, 3, 5, 7, 8, 9, 16, 17]


class NetSpec:
    """A recipe for a Network, so that identical twins can be built."""

    def __init__(self, layers, dtype, seed, loss):
        self.layers, self.dtype, self.seed, self.loss = layers, dtype, seed, loss

    def build(self):
        import layernet as ln
        layers = []
        for kind, a, b, act in self.layers:
            layers.append(ln.Dense(a, b, act) if kind == "dense" else ln.Dropout(a))
        return ln.Network(layers, dtype=self.dtype, seed=self.seed, loss=self.loss)

    def __repr__(self):
        return (f"Network({self.layers}, dtype={self.dtype}, seed={self.seed}, "
                f"loss={self.loss!r})")


def net_spec(data, acts) -> NetSpec:
    n = draw_from(data, [1, 1, 2, 2, 3], label="layers")
    widths = [draw_from(data, _widths(), label="width") for _ in range(n + 1)]
    loss = draw_from(data, ["mse", "mse", "mse_sum", "cross_entropy", "cross_entropy"])
    if loss == "cross_entropy" and widths[-1] < 2:
        widths[-1] = draw_from(data, [2, 3, 5, 9])
    layers = []
    for i in range(n):
        layers.append(("dense", widths[i], widths[i + 1], draw_from(data, list(acts) + [None])))
        if i < n - 1 and draw_from(data, [False, False, True]):
            layers.append(("dropout", draw_from(data, [0.0, 0.1, 0.5, 0.9]), None, None))
    dtype = draw_from(data, ["float32", "float64"])
    seed = draw_from(data, [0, 1, 12345, 2**64 - 1])
    return NetSpec(layers, dtype, seed, loss)


def optimizer_recipe(data, valid_only=False):
    """(description, factory) of an optimizer with random hyper-parameters."""
    import layernet as ln
    kind = draw_from(data, ["sgd", "adam"])
    pick = (lambda vals, label: draw_from(data, vals, label=label)) if valid_only else \
        (lambda vals, label: scalar(data, vals, label))
    if kind == "sgd":
        kwargs = {"lr": pick([0.01, 0.1, 1e-3, 0.0, 1e30, 1e300], "sgd lr"),
                  "momentum": pick([0.0, 0.9, 0.5, 1.0], "momentum"),
                  "weight_decay": pick([0.0, 1e-4, 1e300], "weight_decay"),
                  "clip_norm": pick([None, 1.0, 5e-324, 1e300], "clip_norm")}
        nesterov = pick([False, True], "nesterov")
        if valid_only and kwargs["momentum"] == 0.0:
            nesterov = False
        kwargs["nesterov"] = nesterov
        return f"SGD(**{kwargs!r})", lambda: ln.SGD(**kwargs)
    kwargs = {"lr": pick([1e-3, 0.01, 0.0, 1e30, 1e300], "adam lr"),
              "beta1": pick([0.9, 0.0, 0.999999], "beta1"),
              "beta2": pick([0.999, 0.0, 0.5], "beta2"),
              "eps": pick([1e-8, 5e-324, 1e300], "eps"),
              "weight_decay": pick([0.0, 1e-2], "weight_decay"),
              "clip_norm": pick([None, 1.0, 1e-30], "clip_norm")}
    return f"Adam(**{kwargs!r})", lambda: ln.Adam(**kwargs)


def native_data(net, rng, rows):
    X = rng.standard_normal((rows, net.n_in)).astype(net.dtype)
    if net.loss_name == "cross_entropy":
        Y = np.eye(net.n_out, dtype=net.dtype)[rng.integers(0, net.n_out, rows)]
    else:
        Y = rng.standard_normal((rows, net.n_out)).astype(net.dtype)
    return X, Y


def pretrain(data, rng, *nets):
    """Train identical nets identically (so they have an optimizer and state)."""
    if not draw_from(data, [False, True], label="pretrain"):
        return ""
    desc, factory = optimizer_recipe(data, valid_only=True)
    for net in nets:
        X, Y = native_data(net, np.random.default_rng(7), 6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                net.fit(X, Y, epochs=1, batch_size=4, optimizer=factory(), seed=3)
            except FloatingPointError:
                pass
    return f" after fit with {desc}"


# ---------------------------------------------------------------------------
# The twin check
# ---------------------------------------------------------------------------

def compare_with_twin(rec, entry, desc, out: Outcome, made: list, twin_call, ulps=0,
                      result=lambda v: v) -> None:
    """Check `out` (the call on the given arguments) against the same call on
    their twins, when every array argument has one."""
    made = [m for m in made if m is not None]
    if any(m.huge for m in made):
        return
    if out.ok:
        for m in made:
            if m.kind == "complex" and m.imag:
                rec.misread(entry, desc, f"{m.desc.split(':')[0]}: complex values with a non-zero "
                                         f"imaginary part were accepted (imaginary part dropped)")
                return
            if m.overflow:
                rec.misread(entry, desc, f"{m.desc.split(':')[0]}: finite values beyond the "
                                         f"network dtype's range were accepted (became inf)")
                return
        others = [m.desc.split(":")[0] for m in made if m.kind == "other"]
        if others:
            rec.note("accepted_non_numeric_dtype", entry, f"{desc} [non-numeric: {others}]")
            return
    if any(m.twin is None for m in made):
        return
    twin_out = twin_call()
    if twin_out is None:
        return
    if out.ok and twin_out.ok:
        d = diff(result(out.value), result(twin_out.value), ulps)
        if d:
            rec.misread(entry, desc, f"result differs from the native C-contiguous twin's: {d}")
    elif out.ok != twin_out.ok:
        if not out.ok and any(m.overflow for m in made) and isinstance(out.exc, ValueError):
            return
        if out.ok:
            rec.misread(entry, desc, f"accepted, but its native C-contiguous twin raised "
                                     f"{_type_name(twin_out.exc)}: {str(twin_out.exc)[:200]}")
        else:
            rec.misread(entry, desc, f"raised {_type_name(out.exc)}: {str(out.exc)[:200]}, but its "
                                     f"native C-contiguous twin was accepted")
    elif type(out.exc) is not type(twin_out.exc):
        rec.note("error_type_differs_from_twin", entry,
                 f"{desc} -> {_type_name(out.exc)} ({str(out.exc)[:120]}) vs twin "
                 f"{_type_name(twin_out.exc)} ({str(twin_out.exc)[:120]})")


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------

def group_construct(rec, data, rng):
    import layernet as ln
    which = draw_from(data, ["dense", "dropout", "sgd", "adam", "early", "checkpoint"])
    if which == "dense":
        n_in = scalar(data, [1, 3, 17, np.int64(4), np.uint8(2)], "n_in")
        n_out = scalar(data, [1, 2, 9, np.int32(5)], "n_out")
        act = draw_from(data, list(ln.ACTIVATIONS) + [None, "RELU", "Tanh", "soft max", "", 3,
                                                     b"relu", ["relu"], "identity "])
        desc = f"Dense({n_in!r}, {n_out!r}, {act!r})"
        out = call(rec, "Dense", desc, lambda: ln.Dense(n_in, n_out, act))
        if out.ok:
            layer = out.value
            if (isinstance(n_in, (bool, np.bool_)) or layer.n_in != operator.index(n_in)
                    or layer.n_out != operator.index(n_out)):
                rec.misread("Dense", desc, f"stored n_in={layer.n_in!r}, n_out={layer.n_out!r}")
        return
    if which == "dropout":
        rate = scalar(data, [0.0, 0.5, 0.9, 0.999999, np.float32(0.25)], "rate")
        desc = f"Dropout({rate!r})"
        out = call(rec, "Dropout", desc, lambda: ln.Dropout(rate))
        if out.ok:
            if isinstance(rate, (str, bytes, bool, np.bool_, Fraction, Decimal, np.ndarray)):
                rec.note("accepted_non_number_hyperparameter", "Dropout", desc)
            elif out.value.rate != float(rate):
                rec.misread("Dropout", desc, f"stored rate {out.value.rate!r}")
        return
    if which in ("sgd", "adam"):
        desc, factory = optimizer_recipe(data)
        out = call(rec, which.upper() if which == "sgd" else "Adam", desc, factory)
        if out.ok:
            opt = out.value
            for key, value in opt.config().items():
                if isinstance(value, float) and not math.isfinite(value):
                    rec.misread(type(opt).__name__, desc, f"stored non-finite {key}={value!r}")
        return
    if which == "early":
        monitor = scalar(data, ["loss", "val_loss", "accuracy", "val_accuracy", "foo_loss"],
                         "monitor")
        patience = scalar(data, [0, 1, 5, 2**64], "patience")
        min_delta = scalar(data, [0.0, 1e-3, 1e300], "min_delta")
        restore = scalar(data, [True, False], "restore_best")
        desc = f"EarlyStopping({monitor!r}, {patience!r}, {min_delta!r}, {restore!r})"
        call(rec, "EarlyStopping", desc, lambda: ln.EarlyStopping(monitor, patience, min_delta,
                                                                  restore))
        return
    path = scalar(data, ["ckpt.npz", "ckpt_{epoch}.npz", b"ckpt.npz", pathlib.Path("c.npz"),
                         "{epoch:03d}.npz", "{epoch[0]}.npz", "{0}.npz", "{", "}", "{other}",
                         "{epoch.real}.npz", "{epoch!z}"], "path")
    best = scalar(data, [True, False], "save_best_only")
    monitor = scalar(data, ["val_loss", "loss", "accuracy"], "monitor")
    desc = f"ModelCheckpoint({path!r}, {best!r}, {monitor!r})"
    out = call(rec, "ModelCheckpoint", desc, lambda: ln.ModelCheckpoint(path, best, monitor))
    if out.ok and isinstance(path, (str, bytes, os.PathLike)):
        expected = os.fsdecode(os.fspath(path))
        if out.value.path != expected:
            rec.misread("ModelCheckpoint", desc, f"will write to {out.value.path!r}, "
                                                 f"not to the path given ({expected!r})")


def group_network(rec, data, rng):
    import layernet as ln
    n = draw_from(data, [1, 2, 3] if PROFILE["clean"] else [0, 1, 2, 3])
    items, desc_items = [], []
    huge = False
    for i in range(n):
        choice = draw_from(data, ["dense", "dense", "dense", "dense", "dropout", "huge"]
                           + ([] if PROFILE["clean"] else ["junk", "huge", "reuse"]))
        if choice == "dense":
            a, b = draw_from(data, _widths()), draw_from(data, _widths())
            items.append(ln.Dense(a, b, draw_from(data, list(ln.ACTIVATIONS))))
            desc_items.append(f"Dense({a}, {b})")
        elif choice == "dropout":
            items.append(ln.Dropout(0.5))
            desc_items.append("Dropout(0.5)")
        elif choice == "huge":
            # every one needs far more than any machine's address space
            a, b = draw_from(data, [(2**31, 2**31), (2**40, 2**10), (2**62, 4), (2**63 - 1, 1),
                                    (2**64, 1), (10**400, 1), (1, 2**63 - 1), (2**24, 2**30)])
            try:
                items.append(ln.Dense(a, b))
            except (ValueError, TypeError):
                continue
            huge = True
            desc_items.append(f"Dense({_short(a)}, {_short(b)})")
        elif choice == "reuse" and items:
            items.append(items[-1])
            desc_items.append("the previous layer again")
        else:
            junk = draw_from(data, [None, 3, "dense", object(), ln.SGD(), ln.Dense])
            items.append(junk)
            desc_items.append(repr(junk))
    container = draw_from(data, ["list", "tuple", "generator", "single"]
                          + ([] if PROFILE["clean"] else ["none", "dict", "string"]))
    if container == "tuple":
        layers = tuple(items)
    elif container == "generator":
        layers = (x for x in items)
    elif container == "single":
        layers = items[0] if items else None
    elif container == "none":
        layers = None
    elif container == "dict":
        layers = {i: x for i, x in enumerate(items)}
    elif container == "string":
        layers = "dense"
    else:
        layers = list(items)
    dtype = scalar(data, ["float32", "float64", np.float32, np.float64, np.dtype("f4"), "f8"],
                   "dtype", [">f4", "float16", "int32", "f4,f4", "longdouble", "complex64",
                             "(2,)f4", ("f4", -1), {"names": ["a"], "formats": ["f4"],
                                                    "offsets": [-1]}])
    seed = scalar(data, [None, 0, 1, 2**64 - 1, np.uint64(2**64 - 1)], "seed")
    loss = scalar(data, ["mse", "mse_sum", "cross_entropy", ln.CrossEntropy(), ln.MSE()], "loss",
                  ["MSE", "huber", ""])
    desc = (f"Network({container} of [{', '.join(desc_items)}], dtype={dtype!r}, seed={seed!r}, "
            f"loss={loss!r})")
    layer_objs = [x for x in items if isinstance(x, ln.Layer)]
    built_before = [x.built for x in layer_objs]
    out = call(rec, "Network", desc, lambda: ln.Network(layers, dtype=dtype, seed=seed, loss=loss),
               huge=huge)
    if not out.ok:
        became_built = [i for i, (x, b) in enumerate(zip(layer_objs, built_before))
                        if x.built and not b]
        if became_built:
            rec.state_change("Network", desc, out.exc,
                             [f"layers {became_built} now belong to a network that was not made"])
        return
    net = out.value
    X = rng.standard_normal((3, net.n_in))
    pred = call(rec, "predict", f"{desc}; predict float64 (3, n_in)", lambda: net.predict(X),
                net=net)
    if pred.ok:
        expect = np.dtype(net.dtype)
        if pred.value.shape != (3, net.n_out) or pred.value.dtype != expect:
            rec.misread("Network", desc, f"predict gave {pred.value.shape} {pred.value.dtype}")


def _short(v):
    return f"{str(v)[:10]}...({len(str(v))} digits)" if isinstance(v, int) and abs(v) > 10**20 \
        else repr(v)


def _fresh_pair(data):
    import layernet as ln
    spec = net_spec(data, ln.ACTIVATIONS)
    return spec, spec.build(), spec.build()


def group_predict(rec, data, rng):
    spec, net, twin_net = _fresh_pair(data)
    rows = draw_from(data, [1, 2, 3, 4, 5, 7, 8, 13, 33])
    X = make_array(data, rng, (rows, net.n_in), net.dtype, "X")
    check = scalar(data, [True, False, np.bool_(False), 0, 1], "check_finite")
    proba = draw_from(data, [False, False, True])
    entry = "predict_proba" if proba else "predict"
    desc = f"{spec}.{entry}({X.desc}, check_finite={check!r})"

    def run(n, x):
        return (n.predict_proba(x, check_finite=check) if proba
                else n.predict(x, check_finite=check))
    out = call(rec, entry, desc, lambda: run(net, X.value), net=net, huge=X.huge)
    if out.ok:
        y = out.value
        if not isinstance(y, np.ndarray) or y.dtype != np.dtype(net.dtype) or not y.flags.c_contiguous:
            rec.misread(entry, desc, f"returned {type(y).__name__} {getattr(y, 'dtype', '')}")
    compare_with_twin(rec, entry, desc, out, [X],
                      lambda: call(rec, entry, desc + " [twin]", lambda: run(twin_net, X.twin),
                                   net=twin_net))


def _eval_args(data, rng, net):
    rows = draw_from(data, [1, 2, 3, 5, 8, 17])
    X = make_array(data, rng, (rows, net.n_in), net.dtype, "X")
    Y = targets(data, rng, net, rows)
    w = weights_arg(data, rng, net, rows)
    return X, Y, w


def _twin_value(m):
    return None if m is None else m.twin


def _value(m):
    return None if m is None else m.value


def group_loss_eval(rec, data, rng):
    spec, net, twin_net = _fresh_pair(data)
    pre = pretrain(data, rng, net, twin_net)
    X, Y, w = _eval_args(data, rng, net)
    entry = draw_from(data, ["loss", "evaluate"])
    desc = f"{spec}{pre}.{entry}({X.desc}; {Y.desc}; {w.desc if w else 'sample_weight=None'})"

    def run(n, x, y, sw):
        return n.loss(x, y, sample_weight=sw) if entry == "loss" else n.evaluate(x, y, sample_weight=sw)
    out = call(rec, entry, desc, lambda: run(net, X.value, Y.value, _value(w)), net=net,
               huge=X.huge or Y.huge or bool(w and w.huge))
    compare_with_twin(rec, entry, desc, out, [X, Y, w],
                      lambda: call(rec, entry, desc + " [twin]",
                                   lambda: run(twin_net, X.twin, Y.twin, _twin_value(w)),
                                   net=twin_net))


def group_gradients(rec, data, rng):
    spec, net, twin_net = _fresh_pair(data)
    pre = pretrain(data, rng, net, twin_net)
    X, Y, w = _eval_args(data, rng, net)
    desc = f"{spec}{pre}.gradients({X.desc}; {Y.desc}; {w.desc if w else 'sample_weight=None'})"
    out = call(rec, "gradients", desc,
               lambda: net.gradients(X.value, Y.value, sample_weight=_value(w)), net=net,
               huge=X.huge or Y.huge or bool(w and w.huge))
    compare_with_twin(rec, "gradients", desc, out, [X, Y, w],
                      lambda: call(rec, "gradients", desc + " [twin]",
                                   lambda: twin_net.gradients(X.twin, Y.twin,
                                                              sample_weight=_twin_value(w)),
                                   net=twin_net))


def group_train_step(rec, data, rng):
    spec, net, twin_net = _fresh_pair(data)
    pre = pretrain(data, rng, net, twin_net)
    X, Y, w = _eval_args(data, rng, net)
    lr = scalar(data, [0.01, 0.1, 0.0, 1e-3, 1e30, 1e300, np.float32(0.05)], "lr")
    desc = (f"{spec}{pre}.train_step({X.desc}; {Y.desc}; lr={_short(lr)}; "
            f"{w.desc if w else 'sample_weight=None'})")

    def run(n, x, y, sw):
        loss = n.train_step(x, y, lr, sample_weight=sw)
        return {"loss": loss, "weights": n.get_weights()}
    out = call(rec, "train_step", desc, lambda: run(net, X.value, Y.value, _value(w)), net=net,
               huge=X.huge or Y.huge or bool(w and w.huge))
    compare_with_twin(rec, "train_step", desc, out, [X, Y, w],
                      lambda: call(rec, "train_step", desc + " [twin]",
                                   lambda: run(twin_net, X.twin, Y.twin, _twin_value(w)),
                                   net=twin_net))


def _callbacks(data):
    """(description, factory, checkpoint path) of a callbacks argument; the path
    is the one a ModelCheckpoint that saves every epoch was given, else None."""
    import layernet as ln
    choice = draw_from(data, ["none", "none", "empty", "early", "checkpoint", "both"]
                       + ([] if PROFILE["clean"] else ["junk", "string"]))
    if choice == "none":
        return "None", lambda: None, None
    if choice == "empty":
        return "[]", lambda: [], None
    if choice == "junk":
        return "[object()]", lambda: [object()], None
    if choice == "string":
        return "'abc'", lambda: "abc", None
    monitor = draw_from(data, ["loss", "val_loss", "accuracy", "val_accuracy"])
    patience = draw_from(data, [0, 1, 3])
    path = draw_from(data, ["ck_{epoch}.npz", "ck.npz", b"ckb_{epoch}.npz",
                            pathlib.Path("ckp.npz"), "missing_dir/ck.npz"])
    best = draw_from(data, [False, True])

    def make():
        cbs = []
        if choice in ("early", "both"):
            cbs.append(ln.EarlyStopping(monitor, patience=patience))
        if choice in ("checkpoint", "both"):
            cbs.append(ln.ModelCheckpoint(path, save_best_only=best, monitor=monitor))
        return cbs
    parts = []
    if choice in ("early", "both"):
        parts.append(f"EarlyStopping({monitor!r}, patience={patience})")
    if choice in ("checkpoint", "both"):
        parts.append(f"ModelCheckpoint({path!r}, save_best_only={best}, monitor={monitor!r})")
    every_epoch = path if choice in ("checkpoint", "both") and not best else None
    return f"[{', '.join(parts)}]", make, every_epoch


def _dir_listing():
    return sorted(os.listdir("."))


def _clean_cwd():
    for name in os.listdir("."):
        if os.path.isdir(name):
            shutil.rmtree(name, ignore_errors=True)
        else:
            try:
                os.unlink(name)
            except OSError:
                pass


def group_fit(rec, data, rng):
    import layernet as ln
    spec, net, twin_net = _fresh_pair(data)
    pre = pretrain(data, rng, net, twin_net)
    X, Y, w = _eval_args(data, rng, net)
    clean = PROFILE["clean"]
    # no huge epoch counts: fit would honour them
    epochs = scalar(data, [1, 1, 2, 3, np.int64(2), np.uint8(1)], "epochs",
                    [0, -1, -(2**64), -(10**400), True, False, 1.0, math.inf, math.nan, "2", None,
                     np.float64(1.0), [1], object()], junk=False)
    batch_size = scalar(data, [1, 2, 3, 32, 2**63 - 1, 2**64, 10**400, np.int32(4)], "batch_size")
    lr = scalar(data, [None, None, None, 0.01, 0.0, 1e30, np.float32(0.05)], "lr",
                [math.nan, -1.0, 10**400, True, "0.1"])
    opt_choice = draw_from(data, ["none", "recipe"] if clean else ["none", "none", "recipe", "junk"])
    if clean and opt_choice == "recipe":
        lr = None
    if opt_choice == "recipe":
        opt_desc, opt_factory = optimizer_recipe(data, valid_only=draw_from(data, [True, False]))
    elif opt_choice == "junk":
        junk = draw_from(data, ["adam", object(), ln.Adam])
        opt_desc, opt_factory = repr(junk), (lambda: junk)
    else:
        opt_desc, opt_factory = "None", (lambda: None)
    loss = scalar(data, [None, None, None, "mse", "mse_sum", "cross_entropy", ln.MSE()], "loss",
                  ["huber", 5])
    val_choice = draw_from(data, ["none", "none", "tuple", "triple"] + ([] if clean else ["junk"]))
    vrows = draw_from(data, [1, 3])
    val_made = []
    if val_choice in ("tuple", "triple"):
        Xv = make_array(data, rng, (vrows, net.n_in), net.dtype, "Xv")
        Yv = targets(data, rng, net, vrows, "Yv")
        val_made = [Xv, Yv]
        if val_choice == "triple":
            wv = weights_arg(data, rng, net, vrows, "wv") or make_array(
                data, rng, (vrows,), net.dtype, "wv", np.ones(vrows), allow_shape_change=False)
            val_made.append(wv)
    val_junk = draw_from(data, [[1], "abc", (1, 2, 3, 4), 5]) if val_choice == "junk" else None
    split = scalar(data, [0.0, 0.0, 0.25, 0.5, 0.99, np.float32(0.5)], "validation_split",
                   [1.0, -0.1])
    cb_desc, cb_factory, checkpoint_path = _callbacks(data)
    shuffle = scalar(data, [True, False, np.bool_(False)], "shuffle")
    seed = scalar(data, [0, 1, 2**64 - 1, np.uint64(5)], "seed")
    verbose = scalar(data, [0, 0, 0, 2], "verbose", [3, -1, True, None])
    desc = (f"{spec}{pre}.fit({X.desc}; {Y.desc}; epochs={epochs!r}, batch_size={_short(batch_size)}, "
            f"lr={_short(lr)}, optimizer={opt_desc}, loss={loss!r}, validation_data="
            f"{[m.desc for m in val_made] if val_made else val_junk!r}, validation_split={split!r}, "
            f"callbacks={cb_desc}, shuffle={shuffle!r}, seed={_short(seed)}, verbose={verbose!r}, "
            f"{w.desc if w else 'sample_weight=None'})")
    huge = any(m is not None and m.huge for m in [X, Y, w] + val_made)

    def run(n, x, y, sw, val):
        if val_choice == "junk":
            vd = val_junk
        elif val:
            vd = tuple(val)
        else:
            vd = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            history = n.fit(x, y, epochs=epochs, batch_size=batch_size, lr=lr,
                            optimizer=opt_factory(), loss=loss, validation_data=vd,
                            validation_split=split, callbacks=cb_factory(), shuffle=shuffle,
                            seed=seed, verbose=verbose, sample_weight=sw)
        opt = n.optimizer
        return {"history": history.history, "epochs": history.epochs,
                "weights": n.get_weights(), "epochs_trained": n.epochs_trained,
                "optimizer": None if opt is None else (opt.config(), opt.state)}

    _clean_cwd()
    devnull = open(os.devnull, "w")
    saved_err, sys.stderr = sys.stderr, devnull   # progress bars
    try:
        out = call(rec, "fit", desc, lambda: run(net, X.value, Y.value, _value(w),
                                                 [m.value for m in val_made]),
                   net=net, huge=huge)
        if out.ok and checkpoint_path is not None and out.value["epochs"]:
            expected = os.fsdecode(os.fspath(checkpoint_path)).format(
                epoch=out.value["epochs"][-1] + 1)
            if not os.path.exists(expected):
                rec.misread("fit", desc, f"ModelCheckpoint({checkpoint_path!r}) did not write "
                                         f"{expected!r}; the directory holds {_dir_listing()}")
        if seed is not None:
            compare_with_twin(
                rec, "fit", desc, out, [X, Y, w] + val_made,
                lambda: call(rec, "fit", desc + " [twin]",
                             lambda: run(twin_net, X.twin, Y.twin, _twin_value(w),
                                         [m.twin for m in val_made]), net=twin_net))
    finally:
        sys.stderr = saved_err
        devnull.close()
        _clean_cwd()


def group_params(rec, data, rng):
    import layernet as ln
    spec, net, twin_net = _fresh_pair(data)
    pre = pretrain(data, rng, net, twin_net)
    dense = [i for i, layer in enumerate(net.layers) if isinstance(layer, ln.Dense)]
    which = draw_from(data, ["set_weights", "set_weights", "W", "B", "get_weights", "unbuilt"])
    if which == "get_weights":
        out = call(rec, "get_weights", f"{spec}{pre}.get_weights()", net.get_weights, net=net)
        if out.ok:
            before = net.get_weights()
            for a in out.value:
                a[...] = 123.0
            if not same(before, net.get_weights()):
                rec.misread("get_weights", repr(spec), "the returned arrays share memory with the "
                                                       "network")
        return
    if which == "unbuilt":
        layer = ln.Dense(2, 3)
        attr = draw_from(data, ["W", "B"])
        call(rec, f"layer.{attr} (layer not in a network)", f"Dense(2, 3).{attr}",
             lambda: getattr(layer, attr))
        call(rec, f"layer.{attr} = ... (layer not in a network)", f"Dense(2, 3).{attr} = zeros",
             lambda: setattr(layer, attr, np.zeros((2, 3) if attr == "W" else (3,))))
        return
    if which in ("W", "B"):
        i = draw_from(data, dense)
        layer, twin_layer = net.layers[i], twin_net.layers[i]
        shape = layer.W.shape if which == "W" else layer.B.shape
        m = make_array(data, rng, shape, net.dtype, which)
        if draw_from(data, [False, False, True]) and which == "W" and shape[0] != shape[1]:
            m = make_array(data, rng, shape[::-1], net.dtype, "W transposed",
                           allow_shape_change=False)
        entry = f"layer.{which} ="
        desc = f"{spec}{pre}.layers[{i}].{which} = {m.desc}"
        ulps = _double_rounding_ulps(m, net.dtype)

        def run(n, lay, v):
            setattr(lay, which, v)
            return n.get_weights()
        out = call(rec, entry, desc, lambda: run(net, layer, m.value), net=net, huge=m.huge)
        compare_with_twin(rec, entry, desc, out, [m],
                          lambda: call(rec, entry, desc + " [twin]",
                                       lambda: run(twin_net, twin_layer, m.twin), net=twin_net),
                          ulps=ulps)
        return
    shapes = [a.shape for a in net.get_weights()]
    made = [make_array(data, rng, s, net.dtype, f"weights[{k}]",
                       allow_shape_change=draw_from(data, [False, False, False, True]))
            for k, s in enumerate(shapes)]
    count = draw_from(data, ["right"] * 5 + ["fewer", "more", "not_a_list", "generator"])
    values = [m.value for m in made]
    if count == "fewer":
        values, made = values[:-1], made[:-1]
    elif count == "more":
        values = values + [np.zeros(2)]
    container = values
    if count == "not_a_list":
        container = draw_from(data, [None, 5, "abc", np.zeros(3)])
    elif count == "generator":
        container = (v for v in values)
    desc = f"{spec}{pre}.set_weights({count}: {'; '.join(m.desc for m in made)})"
    ulps = max([_double_rounding_ulps(m, net.dtype) for m in made] or [0])

    def run(n, ws):
        n.set_weights(ws)
        return n.get_weights()
    out = call(rec, "set_weights", desc, lambda: run(net, container), net=net,
               huge=any(m.huge for m in made))
    if count == "right" or count == "generator":
        compare_with_twin(rec, "set_weights", desc, out, made,
                          lambda: call(rec, "set_weights", desc + " [twin]",
                                       lambda: run(twin_net, [m.twin for m in made]),
                                       net=twin_net), ulps=ulps)


def _double_rounding_ulps(m: Made, dtype) -> int:
    """1 when converting m's values to dtype through float64 may round twice."""
    try:
        src = np.asarray(m.value).dtype
    except Exception:
        return 0
    if np.dtype(dtype) != np.float32:
        return 0
    if (src.kind == "f" and src.itemsize > 8) or (src.kind in "iu" and src.itemsize == 8):
        return 1
    return 0


# Save and load -----------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _metadata_strategy():
    """Built once: hypothesis validates a recursive strategy on its first use."""
    st = _st()
    leaves = (st.none() | st.booleans() | st.integers(-(10**40), 10**40)
              | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8))
    return st.recursive(leaves, lambda children: st.lists(children, max_size=3)
                        | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=8)


def _json_normal(obj):
    return json.loads(json.dumps(obj, allow_nan=False))


def _deep(n):
    d = {}
    for _ in range(n):
        d = {"a": d}
    return d


def _metadata_arg(data):
    choice = draw_from(data, ["none", "json", "json", "bad"])
    if choice == "none":
        return None
    if choice == "json":
        value = data.draw(_metadata_strategy())
        return value if draw_from(data, [True, True, False]) else {"m": value}
    return draw_from(data, [[1, 2], {"a": np.float64(1.0)}, {"a": np.int64(1)}, {1: 2},
                            {"a": (1, 2)}, {"a": {1, 2}}, {"a": b"x"}, {"a": math.nan},
                            {"a": 10**40}, _deep(100), _deep(64), _deep(63), "text",
                            {"a": np.zeros(2)}, {"a": "\ud800"}, {"a": "\x00"}])


def _net_equal(a, b) -> str | None:
    """Where loaded network b differs from a, or None."""
    checks = [("dtype", a.dtype, b.dtype), ("loss", a.loss_name, b.loss_name),
              ("layers", [repr(x) for x in a.layers], [repr(x) for x in b.layers]),
              ("epochs_trained", a.epochs_trained, b.epochs_trained)]
    for name, x, y in checks:
        if x != y:
            return f"{name}: {x!r} vs {y!r}"
    d = diff(a.get_weights(), b.get_weights())
    if d:
        return f"weights {d}"
    X = np.random.default_rng(0).standard_normal((4, a.n_in))
    d = diff(a.predict(X), b.predict(X))
    if d:
        return f"predictions {d}"
    return None


def _optimizer_equal(a, b) -> str | None:
    if (a is None) != (b is None):
        return f"optimizer {a!r} vs {b!r}"
    if a is None:
        return None
    if a.config() != b.config():
        return f"optimizer config {a.config()} vs {b.config()}"
    d = diff(a.state or [], b.state or [])
    return f"optimizer state {d}" if d else None


def _file_state(path):
    def state():
        names = sorted(n for n in os.listdir(".") if n != os.path.basename(path))
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError:
            content = None
        return names, content
    return state


def _poke_nonfinite(data, net) -> str:
    """Sometimes write a nan or inf into a weight in place (a documented way to
    change a network)."""
    if PROFILE["clean"] or not draw_from(data, [False, False, False, True]):
        return ""
    value = draw_from(data, [math.nan, math.inf])
    net.layers[0].W[0, 0] = value
    return f"; net.layers[0].W[0, 0] = {value}"


def group_save_load(rec, data, rng):
    import layernet as ln
    spec, net, _ = _fresh_pair(data)
    pre = pretrain(data, rng, net)
    set_attr = draw_from(data, ["none", "none", "none", "metadata", "epochs"])
    attr_desc = ""
    if set_attr == "metadata":
        value = _metadata_arg(data)
        net.metadata = value
        attr_desc = f"; net.metadata = {value!r}"[:300]
    elif set_attr == "epochs":
        value = draw_from(data, [-1, 1.5, True, 2**62, 2**64, 10**40, "3", None, np.int64(3)])
        net.epochs_trained = value
        attr_desc = f"; net.epochs_trained = {value!r}"
    attr_desc += _poke_nonfinite(data, net)
    dest_kind = draw_from(data, ["str", "str", "bytes", "pathlib", "bytesio", "bytesio", "textio",
                                 "int", "none", "missing_dir", "directory", "closed", "existing"])
    include = scalar(data, [True, False, 1, 0], "include_optimizer")
    metadata = _metadata_arg(data)
    _clean_cwd()
    path = "model.npz"
    dest = {"str": path, "existing": path, "bytes": os.fsencode(path),
            "pathlib": pathlib.Path(path), "missing_dir": "nope/model.npz", "directory": ".",
            "int": 3, "none": None, "textio": io.StringIO()}.get(dest_kind)
    if dest_kind in ("bytesio", "closed"):
        dest = io.BytesIO()
        if dest_kind == "closed":
            dest.close()
    if dest_kind == "existing":
        with open(path, "wb") as f:
            f.write(b"the user's old file")
    desc = (f"{spec}{pre}{attr_desc}; save({dest_kind}, include_optimizer={include!r}, "
            f"metadata={metadata!r})")[:1500]
    expected_meta = net.metadata if metadata is None else metadata
    out = call(rec, "save", desc, lambda: net.save(dest, include_optimizer=include,
                                                   metadata=metadata),
               net=net, extra_state=_file_state(path))
    leftovers = [n for n in os.listdir(".") if n.endswith(".layernet-tmp")]
    if leftovers:
        rec.misread("save", desc, f"temporary files left behind: {leftovers}")
    if not out.ok:
        _clean_cwd()
        return
    if dest_kind in ("bytesio",):
        sources = [("bytes", dest.getvalue()), ("BytesIO", io.BytesIO(dest.getvalue()))]
    elif dest_kind in ("str", "existing", "bytes", "pathlib"):
        sources = [("path", path), ("pathlib", pathlib.Path(path))]
        with open(path, "rb") as f:
            raw = f.read()
        sources += [("bytes", raw), ("BytesIO", io.BytesIO(raw))]
    else:
        rec.misread("save", desc, f"save to {dest_kind} succeeded")
        return
    for kind, source in sources:
        loaded = call(rec, "load", f"{desc}; load({kind})", lambda: ln.load(source))
        if not loaded.ok:
            rec.misread("save", desc, f"save succeeded but load({kind}) of the file raised "
                                      f"{_type_name(loaded.exc)}: {str(loaded.exc)[:200]}")
            continue
        other = loaded.value
        problem = _net_equal(net, other)
        if problem is None:
            want = net.optimizer if include else None
            problem = _optimizer_equal(want, other.optimizer)
        if problem is None:
            try:
                want_meta = _json_normal(expected_meta)
            except Exception:
                want_meta = "<not JSON>"
            if other.metadata != want_meta:
                problem = f"metadata {other.metadata!r} vs {want_meta!r}"
        if problem:
            rec.misread("load", f"{desc}; load({kind})", f"the loaded network differs: {problem}")
    _clean_cwd()


def group_load_junk(rec, data, rng):
    import layernet as ln
    st = _st()
    choice = draw_from(data, ["none", "int", "empty_str", "missing", "dir", "empty_bytes",
                              "binary", "zip_magic", "text_io", "closed", "ndarray", "memoryview",
                              "text_file", "npy", "empty_zip", "float"])
    source, desc = None, choice
    closers = []
    if choice == "int":
        source = 5
    elif choice == "float":
        source = 1.5
    elif choice == "empty_str":
        source = ""
    elif choice == "missing":
        source = "no_such_model.npz"
    elif choice == "dir":
        source = "."
    elif choice == "empty_bytes":
        source = b""
    elif choice == "binary":
        source = data.draw(st.binary(max_size=300))
        desc = f"bytes {source[:40]!r}"
    elif choice == "zip_magic":
        source = b"PK\x03\x04" + data.draw(st.binary(max_size=200))
        desc = f"bytes {source[:40]!r}"
    elif choice == "text_io":
        source = io.StringIO("hello")
    elif choice == "closed":
        source = io.BytesIO(b"PK")
        source.close()
    elif choice == "ndarray":
        source = np.zeros(16, np.uint8)
    elif choice == "memoryview":
        source = memoryview(np.zeros(4, np.float64))
    elif choice == "text_file":
        with open("t.txt", "w") as f:
            f.write("x")
        source = open("t.txt", "r")
        closers.append(source)
    elif choice == "npy":
        buf = io.BytesIO()
        np.save(buf, np.zeros(3))
        source = buf.getvalue()
    elif choice == "empty_zip":
        buf = io.BytesIO()
        import zipfile
        zipfile.ZipFile(buf, "w").close()
        source = buf.getvalue()
    call(rec, "load", f"load({desc})", lambda: ln.load(source))
    for f in closers:
        f.close()


def group_copy(rec, data, rng):
    spec, net, _ = _fresh_pair(data)
    pre = pretrain(data, rng, net)
    attr_desc = ""
    if draw_from(data, [False, True]):
        value = _metadata_arg(data)
        net.metadata = value
        attr_desc = f"; net.metadata = {value!r}"[:300]
    if draw_from(data, [False, False, True]):
        value = draw_from(data, [-1, 1.5, 2**62, 5])
        net.epochs_trained = value
        attr_desc += f"; net.epochs_trained = {value!r}"
    attr_desc += _poke_nonfinite(data, net)
    how = draw_from(data, ["copy", "deepcopy", "pickle"])
    desc = f"{spec}{pre}{attr_desc}; {how}"
    fn = {"copy": lambda: copy.copy(net), "deepcopy": lambda: copy.deepcopy(net),
          "pickle": lambda: pickle.loads(pickle.dumps(net))}[how]
    out = call(rec, how, desc, fn, net=net)
    if not out.ok:
        if isinstance(out.exc, ValueError) and "not a valid layernet model file" in str(out.exc):
            rec.misread(how, desc, f"the copy could not read what the network wrote: "
                                   f"{str(out.exc)[:200]}")
        return
    other = out.value
    problem = _net_equal(net, other) or _optimizer_equal(net.optimizer, other.optimizer)
    if problem is None and _json_normal(net.metadata) != other.metadata:
        problem = f"metadata {net.metadata!r} vs {other.metadata!r}"
    if problem:
        rec.misread(how, desc, f"the copy differs: {problem}")
        return
    X, Y = native_data(net, np.random.default_rng(1), 4)
    steps = [call(rec, "train_step", f"{desc}; train_step on {name}",
                  lambda n=n: n.train_step(X, Y, 1e-3), net=n)
             for name, n in (("original", net), ("copy", other))]
    if all(o.ok for o in steps) and diff(steps[0].value, steps[1].value):
        rec.note("copy_trains_differently", how, f"{desc}: train_step loss {steps[0].value!r} on "
                                                 f"the original, {steps[1].value!r} on the copy")
    before = net.get_weights()
    other.layers[0].B[...] += 1.0
    if not same(before, net.get_weights()):
        rec.misread(how, desc, "the copy shares parameters with the original")


def group_summary(rec, data, rng):
    spec, net, _ = _fresh_pair(data)
    dest = draw_from(data, ["stringio", "stringio", "none", "int", "str", "bytesio"])
    target = {"stringio": io.StringIO(), "none": None, "int": 5, "str": "out.txt",
              "bytesio": io.BytesIO()}[dest]
    desc = f"{spec}.summary(file={dest})"
    saved_out, sys.stdout = sys.stdout, io.StringIO()
    try:
        out = call(rec, "summary", desc, lambda: net.summary(file=target), net=net)
    finally:
        sys.stdout = saved_out
    if out.ok and dest == "stringio":
        total = sum(layer.n_in * layer.n_out + layer.n_out for layer in net.layers
                    if type(layer).__name__ == "Dense")
        if f"Total params: {total:,}" not in target.getvalue():
            rec.misread("summary", desc, f"no 'Total params: {total:,}' in {target.getvalue()!r}")
    call(rec, "repr", f"repr({spec})", lambda: repr(net))


GROUP_FUNCTIONS = {name: globals()[f"group_{name}"] for name in GROUPS}


# ---------------------------------------------------------------------------
# Running: a worker runs groups; the parent restarts it after a crash
# ---------------------------------------------------------------------------

def run_group(rec: Recorder, name: str, examples: int, base_seed: int) -> None:
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st
    fn = GROUP_FUNCTIONS[name]

    @seed(base_seed * 1000003 + zlib.crc32(name.encode()))
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate],
              print_blob=False)
    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def property_of_group(data, seed):
        rng = np.random.default_rng(seed)
        PROFILE["clean"] = data.draw(st.booleans())
        try:
            fn(rec, data, rng)
        except Exception:   # hypothesis's own control flow derives from BaseException
            if len(rec.driver_errors) < 5:
                rec.driver_errors.append(f"{name}: {traceback.format_exc()[-1500:]}")

    property_of_group()


def worker(groups: list[str], examples: int, base_seed: int, results_path: str,
           progress_path: str, scratch: str) -> None:
    """Run `groups` in the directory `scratch` (which the parent removes)."""
    SCRATCH["dir"] = scratch
    os.chdir(scratch)
    _clean_cwd()
    try:
        for name in groups:
            rec = Recorder(progress_path)
            start = time.perf_counter()
            run_group(rec, name, examples, base_seed)
            result = rec.result()
            result["group"] = name
            result["seconds"] = round(time.perf_counter() - start, 2)
            with open(results_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(result, default=repr) + "\n")
    finally:
        os.chdir("/")


def merge(results: list[dict], crashes: list[dict]) -> dict:
    summary = {"calls": 0, "crashes": len(crashes), "crash_examples": crashes,
               "undocumented_exception_types": 0, "undocumented": {}, "misreads": 0,
               "misread_examples": [], "state_changing_failures": 0,
               "state_change_examples": [], "driver_errors": [], "notes": {}, "groups": {}}
    for r in results:
        summary["calls"] += r["calls"]
        summary["groups"][r["group"]] = {"calls": r["calls"], "seconds": r["seconds"],
                                         "outcomes": r["outcomes"]}
        for key, slot in r["undocumented"].items():
            into = summary["undocumented"].setdefault(key, {"count": 0, "examples": []})
            into["count"] += slot["count"]
            into["examples"].extend(slot["examples"][:MAX_EXAMPLES_KEPT - len(into["examples"])])
        summary["misreads"] += r["misread_count"]
        summary["misread_examples"] += r["misreads"]
        summary["state_changing_failures"] += r["state_change_count"]
        summary["state_change_examples"] += r["state_changes"]
        summary["driver_errors"] += r["driver_errors"]
        for key, slot in r["notes"].items():
            into = summary["notes"].setdefault(key, {"count": 0, "examples": []})
            into["count"] += slot["count"]
            into["examples"].extend(slot["examples"][:MAX_EXAMPLES_KEPT - len(into["examples"])])
    summary["undocumented_exception_types"] = len(summary["undocumented"])
    return summary


def parent(groups: list[str], examples: int, base_seed: int, timeout: float) -> dict:
    work = tempfile.mkdtemp(prefix="layernet-fuzz-run-")
    # memory-backed when possible: save syncs every file it writes
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    scratch = tempfile.mkdtemp(prefix="layernet-fuzz-", dir=shm)
    results_path = os.path.join(work, "results.jsonl")
    progress_path = os.path.join(work, "progress.txt")
    crashes: list[dict] = []
    remaining = list(groups)
    try:
        while remaining:
            open(results_path, "a").close()
            done_before = _read_results(results_path)
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", ",".join(remaining),
                   "--examples", str(examples), "--seed", str(base_seed),
                   "--results", results_path,
                   "--progress", progress_path, "--scratch", scratch]
            try:
                proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      timeout=timeout)
                code, err = proc.returncode, proc.stderr.decode("utf-8", "replace")
            except subprocess.TimeoutExpired as exc:
                code = "timeout"
                err = (exc.stderr or b"").decode("utf-8", "replace")
            finished = [r["group"] for r in _read_results(results_path)[len(done_before):]]
            remaining = [g for g in remaining if g not in finished]
            if code == 0 and not remaining:
                break
            if not remaining:   # a failure after the last group: report it anyway
                crashes.append({"group": None, "returncode": code, "stderr": err[-2000:]})
                break
            try:
                with open(progress_path, encoding="utf-8") as f:
                    last_call = f.read()
            except OSError:
                last_call = ""
            crashes.append({"group": remaining[0], "returncode": code,
                            "signal": -code if isinstance(code, int) and code < 0 else None,
                            "last_call": last_call[:3000], "stderr": err[-3000:]})
            remaining = remaining[1:]
        return merge(_read_results(results_path), crashes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _read_results(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int,
                        default=int(os.environ.get("LAYERNET_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("LAYERNET_FUZZ_SEED", 0)),
                        help="base seed (each group's hypothesis seed derives from it)")
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--worker")
    parser.add_argument("--results")
    parser.add_argument("--progress")
    parser.add_argument("--scratch")
    args = parser.parse_args(argv)
    if args.worker:
        import faulthandler
        faulthandler.enable()
        worker(args.worker.split(","), args.examples, args.seed, args.results, args.progress,
               args.scratch)
        return 0
    groups = [g for g in args.groups.split(",") if g]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown groups {unknown}; known: {', '.join(GROUPS)}")
    timeout = float(os.environ.get("LAYERNET_FUZZ_TIMEOUT", max(300, 2 * args.examples)))
    # the worker runs in a scratch directory: keep the import path of this process
    entries = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(entries)
    summary = parent(groups, args.examples, args.seed, timeout)
    summary["examples_per_group"] = args.examples
    summary["seed"] = args.seed
    json.dump(summary, sys.stdout, indent=1, default=repr)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
