"""The model file: one .npz holding a JSON header and the parameter arrays.

Keys: "header" (UTF-8 JSON as uint8), "W0", "B0", "W1", ... and, when the
optimizer is included, "opt_<layer>_<k>" for its state buffers (k = 0..3:
first-moment W, B, second-moment W, B). The header holds the format name and
version, dtype, loss, layers, epochs trained, optimizer and user metadata.

Files are written to a temporary file in the same directory and renamed into
place, so a crash never leaves a half-written model. Loading never unpickles
(allow_pickle=False) and checks every array against the header.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ._files import write_atomic

FORMAT_NAME = "layernet-model"
FORMAT_VERSION = 1


def save(net, path, include_optimizer: bool = False, metadata: dict | None = None) -> None:
    """Write `net` to `path` atomically. `metadata` (JSON-able) replaces net.metadata."""
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata: expected a dict, got {type(metadata).__name__}")
        net.metadata = dict(metadata)
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "dtype": net.dtype.name,
        "loss": net.loss_name,
        "layers": [{"n_in": l.n_in, "n_out": l.n_out, "activation": l.activation}
                   for l in net.layers],
        "epochs_trained": net.epochs_trained,
        "optimizer": None,
        "metadata": net.metadata,
    }
    arrays = {}
    for i, layer in enumerate(net.layers):
        arrays[f"W{i}"] = layer.W
        arrays[f"B{i}"] = layer.B
    opt = net.optimizer
    if include_optimizer and opt is not None:
        header["optimizer"] = opt.config()
        for i, bufs in enumerate(opt.state or []):
            for k, buf in enumerate(bufs):
                if buf is not None:
                    arrays[f"opt_{i}_{k}"] = buf
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata: expected JSON-serialisable values ({exc})") from None
    arrays["header"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    write_atomic(path, lambda f: np.savez(f, **arrays))


def _bad(path, problem: str) -> ValueError:
    return ValueError(f"{path}: not a valid layernet model file: {problem}")


def read_header(path) -> tuple[dict, dict]:
    """(header, arrays) of a model file, validated; arrays is a dict of ndarrays."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":   # every .npz is a zip archive
        kind = "a single .npy array" if magic.startswith(b"\x93NUM") else "not a zip archive"
        raise _bad(path, f"it is {kind}, expected an .npz archive written by Network.save")
    try:
        npz = np.load(path, allow_pickle=False)
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "not a valid layernet" in str(exc):
            raise
        raise _bad(path, f"unreadable contents ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise _bad(path, f"damaged or not an .npz file ({type(exc).__name__}: {exc})") from None
    if "header" not in arrays:
        raise _bad(path, "no 'header' entry (is it a layernet model?)")
    raw = arrays.pop("header")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _bad(path, "the header is not UTF-8 bytes")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _bad(path, f"the header's format is {header.get('format') if isinstance(header, dict) else None!r}, "
                         f"expected {FORMAT_NAME!r}")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise _bad(path, f"format version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: written by a newer layernet (model format version {version}); "
                         f"this version reads up to {FORMAT_VERSION}: upgrade layernet")
    _check_header(path, header)
    return header, arrays


def _check_header(path, header: dict) -> None:
    if header.get("dtype") not in ("float32", "float64"):
        raise _bad(path, f"dtype {header.get('dtype')!r} is not float32 or float64")
    layers = header.get("layers")
    if not isinstance(layers, list) or not layers:
        raise _bad(path, "the header has no layer list")
    for i, spec in enumerate(layers):
        if (not isinstance(spec, dict) or not isinstance(spec.get("n_in"), int)
                or not isinstance(spec.get("n_out"), int) or spec["n_in"] < 1 or spec["n_out"] < 1):
            raise _bad(path, f"layer {i} is malformed: {spec!r}")
    if not isinstance(header.get("metadata", {}), dict):
        raise _bad(path, "metadata is not a JSON object")


def _array(path, arrays: dict, key: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
    if key not in arrays:
        raise _bad(path, f"array {key!r} is missing")
    a = arrays[key]
    if a.shape != shape:
        raise _bad(path, f"array {key!r} has shape {a.shape}, expected {shape}")
    if a.dtype != dtype:
        raise _bad(path, f"array {key!r} has dtype {a.dtype}, expected {dtype}")
    return a


def load(path):
    """Read a model written by Network.save. Raises ValueError naming the
    problem for truncated, corrupted, foreign or newer-version files."""
    from .layers import Dense
    from .network import Network
    from .optimizers import Optimizer

    header, arrays = read_header(path)
    dtype = np.dtype(header["dtype"])
    try:
        layers = [Dense(s["n_in"], s["n_out"], s.get("activation")) for s in header["layers"]]
        net = Network(layers, dtype=dtype, loss=header.get("loss", "mse"))
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"the header describes an invalid network ({exc})") from None
    for i, layer in enumerate(net.layers):
        layer.W[...] = _array(path, arrays, f"W{i}", (layer.n_in, layer.n_out), dtype)
        layer.B[...] = _array(path, arrays, f"B{i}", (layer.n_out,), dtype)
    net.metadata = dict(header.get("metadata") or {})
    epochs = header.get("epochs_trained", 0)
    net.epochs_trained = epochs if isinstance(epochs, int) and epochs >= 0 else 0
    config = header.get("optimizer")
    if config is not None:
        try:
            opt = Optimizer.from_config(dict(config))
        except (TypeError, ValueError) as exc:
            raise _bad(path, f"the optimizer entry is invalid ({exc})") from None
        state = []
        for i, layer in enumerate(net.layers):
            bufs = []
            for k in range(4):
                if k // 2 < opt.n_state:
                    shape = (layer.n_in, layer.n_out) if k % 2 == 0 else (layer.n_out,)
                    bufs.append(_array(path, arrays, f"opt_{i}_{k}", shape, dtype).copy())
                else:
                    bufs.append(None)
            state.append(tuple(bufs))
        opt.state = state if opt.n_state else None
        net.optimizer = opt
    return net
