"""The model file: one .npz holding a JSON header and the network's arrays.

Format version 2 (written now). Members:
  "header"                 UTF-8 JSON as uint8: format name and version, the
                           layernet version, dtype, loss config, layer specs,
                           epochs trained, optimizer config (or null) and
                           user metadata
  "layer<i>_<name>"        layer i's tensor <name> (Dense: W, B)
  "opt<k>_layer<i>_<name>" the optimizer's state tensor k for that parameter
Version 1 files (Dense layers only: "W<i>", "B<i>", "opt_<i>_<k>") are still
read.

Files are written atomically (layernet._files) and read as hostile input
(layernet._archive): bounded work and memory, nothing unpickled, and every
declared shape checked against the file before anything is built. A
problem is a ValueError naming the file and what is wrong.

This module is pure format: it imports network.py only inside load, and
Network calls it for save, to_bytes and pickling.
"""
from __future__ import annotations

import io
import os

import numpy as np

from . import __version__
from ._archive import dump_json_header, parse_json_header, read_npz, write_npz
from .layers import Dense, layer_from_spec
from .losses import loss_from_config
from .optimizers import Optimizer

FORMAT_NAME = "layernet-model"
FORMAT_VERSION = 2
#: layers a file may declare (a bound on the work a hostile header can ask for)
MAX_LAYERS = 10_000


def _member(i: int, name: str) -> str:
    return f"layer{i}_{name}"


def _state_member(k: int, i: int, name: str) -> str:
    return f"opt{k}_layer{i}_{name}"


def _contents(net, include_optimizer: bool, metadata: dict) -> dict:
    """The archive's arrays, header first; refuses what load would refuse."""
    epochs = net.epochs_trained
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or not 0 <= epochs < 2**62:
        raise ValueError(f"epochs_trained: expected an integer >= 0, got {epochs!r}")
    for i, layer in enumerate(net.layers):
        if layer.built:
            for name, a in {**layer.parameters(), **layer.constants()}.items():
                if not np.all(np.isfinite(a)):
                    raise ValueError(f"layers[{i}].{name}: holds inf or nan; a model file keeps "
                                     f"finite parameters only")
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "layernet_version": __version__,
        "dtype": net.dtype.name,
        "loss": net.loss_function.config(),
        "layers": [layer.spec() for layer in net.layers],
        "epochs_trained": int(epochs),
        "classes": net.classes,
        "optimizer": None,
        "metadata": metadata,
    }
    arrays = {}
    for i, layer in enumerate(net.layers):
        if layer.built:
            for name, a in {**layer.parameters(), **layer.constants()}.items():
                arrays[_member(i, name)] = a
    opt = net.optimizer
    if include_optimizer and opt is not None:
        header["optimizer"] = opt.config()
        states = iter(opt.state or [])
        for i, layer in enumerate(net.layers):
            for name in layer.param_names:
                tensors = next(states, None)
                for k, a in enumerate(tensors or []):
                    arrays[_state_member(k, i, name)] = a
    try:
        text = dump_json_header(header)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"metadata: {exc}") from None
    return {"header": np.frombuffer(text, dtype=np.uint8), **arrays}


def _checked_metadata(net, metadata) -> dict:
    metadata = net.metadata if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata: expected a dict, got {type(metadata).__name__}")
    return dict(metadata)


def save(net, dest, include_optimizer: bool = False, metadata: dict | None = None) -> None:
    """Write `net` to `dest`: a path (written atomically) or a writable binary
    file object. `metadata` (JSON-able) replaces net.metadata once the file is
    written; a failed save leaves the network as it was."""
    meta = _checked_metadata(net, metadata)
    if not isinstance(dest, (str, bytes, os.PathLike)) and not hasattr(dest, "write"):
        raise TypeError(f"path: expected a file name or a writable binary file object, got "
                        f"{type(dest).__name__}")
    write_npz(dest, _contents(net, include_optimizer, meta))
    net.metadata = meta


def to_bytes(net, include_optimizer: bool = True, metadata: dict | None = None) -> bytes:
    """The model file's bytes."""
    buffer = io.BytesIO()
    write_npz(buffer, _contents(net, include_optimizer, _checked_metadata(net, metadata)))
    return buffer.getvalue()


def from_bytes(data) -> "Network":  # noqa: F821
    """The network a model file's bytes hold (as load)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected the bytes of a model file, got {type(data).__name__}")
    return load(bytes(data))


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

class _Reader:
    """Reads one file's header and arrays and names the file in every error."""

    def __init__(self, source):
        if isinstance(source, (str, os.PathLike)):
            self.name = os.fsdecode(os.fspath(source))
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.name = "<model bytes>"
        else:
            self.name = str(getattr(source, "name", "<file object>"))
        if isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
            raise IsADirectoryError(f"{self.name}: is a directory, expected a model file (.npz)")
        if isinstance(source, (str, os.PathLike)) and not os.path.exists(source):
            raise FileNotFoundError(f"{self.name}: no such model file")
        self.arrays = read_npz(source, what="layernet model file")
        if "header" not in self.arrays:
            raise self.bad("no 'header' entry (is it a layernet model?)")
        raw = self.arrays.pop("header")
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise self.bad("the header is not UTF-8 bytes")
        header = parse_json_header(raw.tobytes(), self.name)
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            found = header.get("format") if isinstance(header, dict) else type(header).__name__
            raise self.bad(f"the header's format is {found!r}, expected {FORMAT_NAME!r}")
        version = header.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.bad(f"format version {version!r} is not a positive integer")
        if version > FORMAT_VERSION:
            raise ValueError(f"{self.name}: written by a newer layernet (model format version "
                             f"{version}); this version reads up to {FORMAT_VERSION}: upgrade layernet")
        self.header = header
        self.version = version

    def bad(self, problem: str) -> ValueError:
        return ValueError(f"{self.name}: not a valid layernet model file: {problem}")

    def array(self, key: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
        if key not in self.arrays:
            raise self.bad(f"array {key!r} is missing")
        a = self.arrays[key]
        if a.shape != tuple(shape):
            raise self.bad(f"array {key!r} has shape {a.shape}, expected {tuple(shape)}")
        if a.dtype != dtype:
            raise self.bad(f"array {key!r} has dtype {a.dtype}, expected {dtype}")
        if not np.all(np.isfinite(a)):
            raise self.bad(f"array {key!r} holds inf or nan")
        return a

    def field(self, key: str, kind: type, default=None):
        """The header's entry `key`, which must be a `kind` (not a bool)."""
        value = self.header.get(key, default)
        if isinstance(value, bool) or not isinstance(value, kind):
            shown = repr(value) if len(repr(value)) < 80 else f"a {type(value).__name__}"
            raise self.bad(f"the header's {key!r} is {shown}, expected a {kind.__name__}")
        return value

    def layers(self) -> list:
        specs = self.field("layers", list)
        if not specs or len(specs) > MAX_LAYERS:
            raise self.bad(f"the header declares {len(specs)} layers, expected 1 to {MAX_LAYERS}")
        layers = []
        for i, spec in enumerate(specs):
            if self.version == 1 and isinstance(spec, dict):
                spec = {"kind": "dense", **spec}
            try:
                layers.append(layer_from_spec(spec))
            except (TypeError, ValueError) as exc:
                raise self.bad(f"layer {i} is malformed ({exc})") from None
        # The widths must chain; shape-preserving layers learn theirs here
        width = None
        for i, layer in enumerate(layers):
            try:
                if width is None and layer.n_in is None:
                    raise ValueError("this kind of layer cannot come first")
                width = layer.connect(layer.n_in if width is None else width)
            except ValueError as exc:
                raise self.bad(f"layer {i}: {exc}") from None
        return layers

    def tensor_keys(self, i: int, name: str, k: int | None = None) -> str:
        """Where a tensor lives in this file's version."""
        if self.version >= 2:
            return _member(i, name) if k is None else _state_member(k, i, name)
        slot = {"W": 0, "B": 1}[name]
        return (f"{name}{i}" if k is None else f"opt_{i}_{2 * k + slot}")


def read(source):
    """(header, arrays) of a model file, its structure validated (see load)."""
    reader = _Reader(source)
    reader.layers()
    return reader.header, reader.arrays


def load(source):
    """The Network a model file holds: `source` is a path, the file's bytes,
    or a readable binary file object. Raises ValueError naming the problem
    for truncated, corrupted, foreign or newer-version files, and OSError
    for files that cannot be read."""
    from .network import Network

    reader = _Reader(source)
    dtype_name = reader.field("dtype", str)
    if dtype_name not in ("float32", "float64"):
        raise reader.bad(f"dtype {dtype_name!r} is not float32 or float64")
    dtype = np.dtype(dtype_name)
    layers = reader.layers()
    if reader.version == 1 and not all(isinstance(layer, Dense) for layer in layers):
        raise reader.bad("version 1 files hold Dense layers only")
    # Every declared tensor must be in the file, with its shape, before anything is built
    tensors = []
    for i, layer in enumerate(layers):
        for name, shape in {**layer.param_shapes(), **layer.const_shapes()}.items():
            tensors.append((i, name, reader.array(reader.tensor_keys(i, name), shape, dtype)))
    try:
        loss = loss_from_config(reader.header.get("loss", "mse"))
    except (TypeError, ValueError) as exc:
        raise reader.bad(f"the loss entry is invalid ({exc})") from None
    epochs = reader.field("epochs_trained", int, 0)
    if not 0 <= epochs < 2**62:
        raise reader.bad(f"epochs_trained is {epochs!r}")
    metadata = reader.field("metadata", dict, {})
    optimizer = None
    config = reader.header.get("optimizer")
    if config is not None:
        try:
            optimizer = Optimizer.from_config(config)
        except (TypeError, ValueError) as exc:
            raise reader.bad(f"the optimizer entry is invalid ({exc})") from None
    states = None
    if optimizer is not None and optimizer.n_state:
        states = []
        for i, layer in enumerate(layers):
            for name, shape in layer.param_shapes().items():
                states.append([reader.array(reader.tensor_keys(i, name, k), shape, dtype)
                               for k in range(optimizer.n_state)])
    try:
        net = Network(layers, dtype=dtype, loss=loss)
    except (TypeError, ValueError) as exc:
        raise reader.bad(f"the header describes an invalid network ({exc})") from None
    for i, name, a in tensors:
        layer = net.layers[i]
        target = layer.parameters().get(name)
        if target is None:
            target = layer.constants()[name]
        target[...] = a
    net.metadata = dict(metadata)
    net.epochs_trained = epochs
    classes = reader.header.get("classes")
    if classes is not None:
        try:
            net.classes = classes
        except (TypeError, ValueError) as exc:
            raise reader.bad(f"the class list is invalid ({exc})") from None
    if optimizer is not None:
        net._adopt_optimizer(optimizer, states)
    return net
