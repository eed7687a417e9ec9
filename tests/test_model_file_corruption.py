"""Loading damaged, forged and hostile model files.

Every variant is made from one real saved model (Dense, Dropout, Dense with
Adam state and metadata) and loaded three ways: from its path, from its bytes
and from a file object. Each load must either end in a ValueError (or an
OSError) that names the file, or give a network identical to the original:
same predictions bit for bit, weights, optimizer state, metadata, loss and
epochs. Each load must also stay cheap: under 2 s of CPU time, and under
50 MB of memory for files that declare enormous arrays. Nothing in a file is
ever unpickled.
"""
import io
import json
import pathlib
import pickle
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import layernet as ln

CPU_SECONDS_PER_LOAD = 2.0
PEAK_BYTES = 50 * 1024 * 1024
STREAM_NAME = "suspect-stream.npz"


class Original:
    """The model every variant starts from, and what loading it must give."""

    def __init__(self, net, data, probe):
        self.net, self.data, self.probe = net, data, probe
        self.prediction = net.predict(probe)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    rng = np.random.default_rng(11)
    net = ln.Network([ln.Dense(4, 6, "tanh"), ln.Dropout(0.25), ln.Dense(6, 3)],
                     dtype=np.float32, seed=3, loss="cross_entropy")
    X = rng.standard_normal((12, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 12)
    net.fit(X, labels, epochs=3, batch_size=4, optimizer=ln.Adam(lr=0.01), seed=0)
    path = tmp_path_factory.mktemp("original") / "model.npz"
    net.save(str(path), include_optimizer=True, metadata={"purpose": "corruption", "rows": 12})
    probe = rng.standard_normal((5, 4)).astype(np.float32)
    return Original(net, path.read_bytes(), probe)


# ---------------------------------------------------------------------------
# Loading and judging
# ---------------------------------------------------------------------------

def _difference(loaded, original: Original):
    """Where a loaded network differs from the original, or None."""
    net = original.net
    if loaded.dtype != net.dtype or loaded.loss_name != net.loss_name:
        return f"dtype/loss {loaded.dtype}/{loaded.loss_name}"
    if [repr(layer) for layer in loaded.layers] != [repr(layer) for layer in net.layers]:
        return f"layers {loaded.layers}"
    prediction = loaded.predict(original.probe)
    if prediction.dtype != original.prediction.dtype or not np.array_equal(
            prediction.view(np.uint32), original.prediction.view(np.uint32)):
        return "predictions differ"
    for a, b in zip(loaded.get_weights(), net.get_weights()):
        if not np.array_equal(a.view(np.uint32), b.view(np.uint32)):
            return "weights differ"
    if loaded.metadata != net.metadata or loaded.epochs_trained != net.epochs_trained:
        return f"metadata/epochs {loaded.metadata}/{loaded.epochs_trained}"
    ours, theirs = loaded.optimizer, net.optimizer
    if ours is None or ours.config() != theirs.config():
        return f"optimizer {ours!r}"
    for a, b in zip([x for t in ours.state for x in t], [x for t in theirs.state for x in t]):
        if not np.array_equal(a.view(np.uint32), b.view(np.uint32)):
            return "optimizer state differs"
    return None


def _sources(data: bytes, directory: pathlib.Path):
    """(kind, source, the name an error must carry) for the three ways to load."""
    path = directory / "suspect.npz"
    path.write_bytes(data)
    stream = io.BytesIO(data)
    stream.name = STREAM_NAME
    return [("path", str(path), str(path)), ("bytes", data, "bytes"),
            ("file object", stream, STREAM_NAME)]


def _load_one(source, measure_memory: bool):
    """(network or exception, CPU seconds, peak traced bytes or None)."""
    if measure_memory:
        tracemalloc.start()
    start = time.process_time()
    try:
        result = ln.load(source)
    except BaseException as exc:   # noqa: BLE001 - judged by the caller
        result = exc
    seconds = time.process_time() - start
    peak = None
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, seconds, peak


def _judge(data: bytes, directory, original: Original, *, must_refuse=False,
           measure_memory=False) -> list[str]:
    """Problems with loading `data` three ways (an empty list when all is well)."""
    problems = []
    for kind, source, name in _sources(data, directory):
        result, seconds, peak = _load_one(source, measure_memory)
        if seconds > CPU_SECONDS_PER_LOAD:
            problems.append(f"{kind}: took {seconds:.2f} s of CPU")
        if peak is not None and peak > PEAK_BYTES:
            problems.append(f"{kind}: peak memory {peak / 2**20:.1f} MB")
        if isinstance(result, ln.Network):
            if must_refuse:
                problems.append(f"{kind}: loaded")
            else:
                difference = _difference(result, original)
                if difference:
                    problems.append(f"{kind}: loaded a different network ({difference})")
        elif isinstance(result, (ValueError, OSError)) and not isinstance(
                result, (IndexError, KeyError, UnicodeError)):
            text = str(result) + " " + str(getattr(result, "filename", ""))
            if name not in text:
                problems.append(f"{kind}: {type(result).__name__} does not name the file "
                                f"({name!r}): {result}")
        else:
            problems.append(f"{kind}: {type(result).__name__}: {result}")
    return problems


def _check_all(variants, tmp_path, original, **kwargs):
    failures = []
    for label, data in variants:
        for problem in _judge(data, tmp_path, original, **kwargs):
            failures.append(f"{label}: {problem}")
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:40])


# ---------------------------------------------------------------------------
# Building variants
# ---------------------------------------------------------------------------

def _members(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return buffer.getvalue()


def _npy(array: np.ndarray, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _forged_npy(descr: str, shape: tuple, payload: bytes) -> bytes:
    """A .npy whose header declares `shape` whatever the payload holds."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape})
    pad = 64 - (10 + len(text) + 1) % 64
    header = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def _header(data: bytes) -> dict:
    raw = np.load(io.BytesIO(_members(data)["header.npy"]), allow_pickle=False)
    return json.loads(raw.tobytes())


def _with_header_text(data: bytes, text: str) -> bytes:
    members = _members(data)
    members["header.npy"] = _npy(np.frombuffer(text.encode("utf-8"), dtype=np.uint8))
    return _zip(members)


def _with_header(data: bytes, change) -> bytes:
    header = _header(data)
    change(header)
    return _with_header_text(data, json.dumps(header))


def _with_raw_value(data: bytes, change, raw: str) -> bytes:
    """The header with a value JSON cannot produce: `change` stores a marker, replaced by `raw`."""
    marker = "__RAW_VALUE__"
    header = _header(data)
    change(header, marker)
    return _with_header_text(data, json.dumps(header).replace(f'"{marker}"', raw))


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_the_original_loads_identically_from_every_source(tmp_path, original):
    assert _judge(original.data, tmp_path, original) == []
    assert _header(original.data)["optimizer"]["kind"] == "adam"


def test_every_truncation(tmp_path, original):
    n = len(original.data)
    lengths = sorted(set(range(0, n, max(1, n // 64))) | set(range(max(0, n - 64), n)))
    assert len(lengths) > 100
    _check_all([(f"first {k} of {n} bytes", original.data[:k]) for k in lengths], tmp_path,
               original, must_refuse=True)


def test_single_bit_flips(tmp_path, original):
    rng = np.random.default_rng(20240611)
    n = len(original.data)
    variants = []
    for position in rng.integers(0, n, 320):
        bit = int(rng.integers(0, 8))
        data = bytearray(original.data)
        data[position] ^= 1 << bit
        variants.append((f"bit {bit} of byte {position}", bytes(data)))
    _check_all(variants, tmp_path, original)


def test_byte_overwrites(tmp_path, original):
    rng = np.random.default_rng(7)
    n = len(original.data)
    variants = []
    for _ in range(120):
        position = int(rng.integers(0, n))
        length = int(rng.choice([1, 1, 2, 4, 8, 32]))
        fill = rng.choice(["zeros", "ones", "random"])
        data = bytearray(original.data)
        end = min(n, position + length)
        if fill == "zeros":
            data[position:end] = bytes(end - position)
        elif fill == "ones":
            data[position:end] = b"\xff" * (end - position)
        else:
            data[position:end] = rng.integers(0, 256, end - position, dtype=np.uint8).tobytes()
        variants.append((f"{fill} over bytes {position}..{end}", bytes(data)))
    _check_all(variants, tmp_path, original)


class _Tripwire:
    """Unpickling this creates a file: evidence that a loader unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_foreign_members(tmp_path, original):
    members = _members(original.data)
    W = np.load(io.BytesIO(members["layer0_W.npy"]))
    tripwire = tmp_path / "unpickled"
    pickled = np.empty(1, dtype=object)
    pickled[0] = _Tripwire(str(tripwire))

    def replaced(name, content):
        return _zip({**members, name: content})
    refused = [
        ("a text member", _zip({**members, "notes.txt": b"hello"})),
        ("a pickled object array", _zip({**members, "extra.npy": _npy(pickled, True)})),
        ("W as a pickled object array", replaced("layer0_W.npy", _npy(pickled, True))),
        ("the header as a pickled object array", replaced("header.npy", _npy(pickled, True))),
        ("a raw pickle named like an array", replaced("layer0_W.npy", pickle.dumps(pickled))),
        ("W as int64", replaced("layer0_W.npy", _npy(W.astype(np.int64)))),
        ("W as float64", replaced("layer0_W.npy", _npy(W.astype(np.float64)))),
        ("W as float16", replaced("layer0_W.npy", _npy(W.astype(np.float16)))),
        ("W as complex64", replaced("layer0_W.npy", _npy(W.astype(np.complex64)))),
        ("W as a structured array", replaced("layer0_W.npy",
                                             _npy(np.zeros(W.shape, "f4,f4")))),
        ("W transposed", replaced("layer0_W.npy", _npy(np.ascontiguousarray(W.T)))),
        ("the header as int64", replaced("header.npy", _npy(
            np.load(io.BytesIO(members["header.npy"])).astype(np.int64)))),
        ("no header", _zip({k: v for k, v in members.items() if k != "header.npy"})),
        ("a member outside the archive", _zip({**members, "../evil.npy": _npy(W)})),
        ("an absolute member name", _zip({**members, "/tmp/evil.npy": _npy(W)})),
        ("a directory entry", _zip({**members, "sub/": b""})),
        ("a missing Adam state", _zip({k: v for k, v in members.items()
                                       if k != "opt1_layer2_B.npy"})),
    ]
    _check_all(refused, tmp_path, original, must_refuse=True)
    harmless = [("an unrelated float32 array", _zip({**members, "unrelated.npy": _npy(W)})),
                ("deflated members", _zip(members, zipfile.ZIP_DEFLATED))]
    _check_all(harmless, tmp_path, original)
    assert not tripwire.exists(), "a loader unpickled an object from the file"


def _first_layers(n_in, n_out):
    def change(header):
        header["layers"][0].update(n_in=n_in, n_out=n_out)
        header["layers"][2].update(n_in=n_out)
    return change


def test_oversized_declarations_cost_little(tmp_path, original):
    members = _members(original.data)
    tiny = b"\x00" * 16
    variants = [
        ("layers of 30000 x 30000", _with_header(original.data, _first_layers(30000, 30000))),
        ("layers of 10**6 x 10**6", _with_header(original.data, _first_layers(10**6, 10**6))),
        ("layers of 2**62 x 4", _with_header(original.data, _first_layers(2**62, 4))),
        ("a member of shape (2**40,)", _zip({**members, "layer0_W.npy":
                                             _forged_npy("<f4", (2**40,), tiny)})),
        ("a member of shape (30000, 30000)", _zip({**members, "layer0_W.npy":
                                                   _forged_npy("<f4", (30000, 30000), tiny)})),
        ("a member of shape (2**62, 2**62)", _zip({**members, "layer0_W.npy":
                                                   _forged_npy("<f8", (2**62, 2**62), tiny)})),
        ("both the header and the member at 30000 x 30000",
         _zip({**_members(_with_header(original.data, _first_layers(30000, 30000))),
               "layer0_W.npy": _forged_npy("<f4", (30000, 30000), tiny)})),
        ("10001 layers declared", _with_header(original.data, lambda h: h.__setitem__(
            "layers", h["layers"] + [{"kind": "dropout", "rate": 0.5}] * 9998))),
    ]
    _check_all(variants, tmp_path, original, must_refuse=True, measure_memory=True)


@pytest.mark.parametrize("raw", [
    "Infinity", "-Infinity", "NaN", "1e400", "-1", "1.5", "true", "null", '"3"', "[]",
    "1" * 400, "4611686018427387904", "-" + "9" * 400,
])
def test_optimizer_step_values(tmp_path, original, raw):
    data = _with_raw_value(original.data, lambda h, m: h["optimizer"].__setitem__("step", m), raw)
    _check_all([(f"step {raw[:20]}", data)], tmp_path, original, must_refuse=True)


@pytest.mark.parametrize("key,raw", [
    ("lr", "1" * 400), ("lr", "-" + "1" * 400), ("lr", "1e400"), ("lr", "Infinity"),
    ("lr", "NaN"), ("lr", '"0.01"'), ("lr", "-0.01"), ("lr", "true"), ("lr", "null"),
    ("beta1", "1.0"), ("beta2", "-0.5"), ("eps", "0"), ("weight_decay", "-1"),
    ("clip_norm", "0"), ("clip_norm", "-Infinity"), ("kind", '"rmsprop"'), ("kind", '["adam"]'),
    ("kind", "null"), ("kind", '"ADAM"'), ("surprise", "1"),
])
def test_optimizer_section_values(tmp_path, original, key, raw):
    data = _with_raw_value(original.data, lambda h, m: h["optimizer"].__setitem__(key, m), raw)
    _check_all([(f"optimizer {key}={raw[:20]}", data)], tmp_path, original, must_refuse=True)


@pytest.mark.parametrize("raw", ['"adam"', "[]", "1", "true", '"null"'])
def test_optimizer_section_of_the_wrong_type(tmp_path, original, raw):
    data = _with_raw_value(original.data, lambda h, m: h.__setitem__("optimizer", m), raw)
    _check_all([(f"optimizer={raw}", data)], tmp_path, original, must_refuse=True)


@pytest.mark.parametrize("shape", ["lists", "objects", "unclosed", "in_layers"])
def test_json_nested_100000_deep(tmp_path, original, shape):
    depth = 100_000
    raw = {"lists": "[" * depth + "]" * depth,
           "objects": '{"a": ' * depth + "1" + "}" * depth,
           "unclosed": "[" * depth}[shape] if shape != "in_layers" else None
    if shape == "in_layers":
        data = _with_raw_value(original.data, lambda h, m: h["layers"].append(m),
                               "[" * depth + "]" * depth)
    else:
        data = _with_raw_value(original.data, lambda h, m: h.__setitem__("metadata", m), raw)
    _check_all([(f"nested {shape}", data)], tmp_path, original, must_refuse=True,
               measure_memory=True)


def _v1(header_changes) -> dict:
    header = {"format": "layernet-model", "version": 1, "dtype": "float32", "loss": "mse",
              "layers": [{"n_in": 4, "n_out": 6, "activation": "tanh"},
                         {"n_in": 6, "n_out": 3, "activation": "identity"}],
              "epochs_trained": 0, "optimizer": None, "metadata": {}}
    header.update(header_changes)
    return header


@pytest.mark.parametrize("changes", [
    {"layers": "nonsense"}, {"layers": None}, {"layers": []}, {"layers": [1, 2]},
    {"layers": [{"n_in": "x", "n_out": 3}]}, {"layers": [{"kind": "dropout", "rate": 0.5}]},
    {"layers": [{"n_in": 4, "n_out": 6, "activation": "tanh"}, {"kind": "dropout", "rate": 0.5},
                {"n_in": 6, "n_out": 3}]},
    {"layers": [{"n_in": 4, "n_out": 5}, {"n_in": 6, "n_out": 3}]},
    {"dtype": "float16"}, {"dtype": 32}, {"loss": "nonsense"}, {"loss": 5},
    {"optimizer": {"kind": "adam", "lr": 0.01, "step": 3}},   # its state arrays are missing
    {"version": 0}, {"version": -1}, {"version": 1.5}, {"version": "1"}, {"version": True},
    {"version": 3}, {"version": 10**29}, {"format": "something-else"}, {"format": None},
    {"epochs_trained": -5}, {"metadata": [1, 2]},
], ids=lambda c: json.dumps(c)[:40])
def test_version_1_headers_with_nonsense(tmp_path, original, changes):
    W = [np.load(io.BytesIO(_members(original.data)[f"layer{i}_W.npy"])) for i in (0, 2)]
    B = [np.load(io.BytesIO(_members(original.data)[f"layer{i}_B.npy"])) for i in (0, 2)]
    members = {"header.npy": _npy(np.frombuffer(json.dumps(_v1(changes)).encode(), np.uint8)),
               "W0.npy": _npy(W[0]), "B0.npy": _npy(B[0]), "W1.npy": _npy(W[1]),
               "B1.npy": _npy(B[1])}
    _check_all([(f"version 1 with {changes}", _zip(members))], tmp_path, original,
               must_refuse=True)
    # the same file without the nonsense loads, with the original's parameters
    members["header.npy"] = _npy(np.frombuffer(json.dumps(_v1({})).encode(), np.uint8))
    loaded = ln.load(_zip(members))
    np.testing.assert_array_equal(loaded.layers[1].W, W[1])


@pytest.mark.parametrize("where,value", [
    ("kind", "conv2d"), ("kind", "Dense"), ("kind", ""), ("kind", 5), ("kind", None),
    ("kind", ["dense"]), ("activation", "swish"), ("activation", ""), ("activation", 5),
    ("activation", ["tanh"]), ("activation", "tanh "), ("n_in", 0), ("n_in", -4),
    ("n_in", 4.0), ("n_in", True), ("n_in", "4"), ("n_in", 10**29), ("n_out", None),
])
def test_unknown_or_invalid_layer_entries(tmp_path, original, where, value):
    data = _with_header(original.data, lambda h: h["layers"][0].__setitem__(where, value))
    _check_all([(f"layers[0].{where}={value!r}", data)], tmp_path, original, must_refuse=True)


@pytest.mark.parametrize("rate", [1.0, -0.1, 2, "0.25x", None, [0.25], True])
def test_invalid_dropout_rates(tmp_path, original, rate):
    data = _with_header(original.data, lambda h: h["layers"][1].__setitem__("rate", rate))
    _check_all([(f"dropout rate {rate!r}", data)], tmp_path, original, must_refuse=True)


@pytest.mark.parametrize("loss", ["hinge", "", 5, None, [], {"name": "hinge"},
                                  {"name": ["mse"]}, {"name": "cross_entropy", "delta": 1.0},
                                  {"nom": "mse"}, "mse_sum "])
def test_unknown_losses(tmp_path, original, loss):
    data = _with_header(original.data, lambda h: h.__setitem__("loss", loss))
    _check_all([(f"loss {loss!r}", data)], tmp_path, original, must_refuse=True)


def test_a_loss_that_does_not_fit_the_network(tmp_path, original):
    def one_output(header):
        header["layers"][2]["n_out"] = 1
    members = _members(_with_header(original.data, one_output))
    members["layer2_W.npy"] = _npy(np.zeros((6, 1), np.float32))
    members["layer2_B.npy"] = _npy(np.zeros(1, np.float32))
    members = {k: v for k, v in members.items() if not k.startswith("opt")}
    data = _with_header(_zip(members), lambda h: h.__setitem__("optimizer", None))
    _check_all([("cross_entropy on one output", data)], tmp_path, original, must_refuse=True)


@pytest.mark.parametrize("kind", ["rmsprop", "", 5, None, ["adam"], "Adam"])
def test_unknown_optimizer_kinds(tmp_path, original, kind):
    data = _with_header(original.data, lambda h: h["optimizer"].__setitem__("kind", kind))
    _check_all([(f"optimizer kind {kind!r}", data)], tmp_path, original, must_refuse=True)


@pytest.mark.parametrize("raw", ["-1", "-" + "9" * 20, "4611686018427387904", str(2**63),
                                 str(10**29), "1" + "0" * 40, "1.5", "1e3", "true", '"3"',
                                 "null", "[]", "Infinity"])
def test_invalid_epochs_trained(tmp_path, original, raw):
    data = _with_raw_value(original.data, lambda h, m: h.__setitem__("epochs_trained", m), raw)
    _check_all([(f"epochs_trained {raw[:20]}", data)], tmp_path, original, must_refuse=True)


@pytest.mark.parametrize("epochs", [0, 7, 2**62 - 1])
def test_valid_epochs_trained_are_read_exactly(tmp_path, original, epochs):
    data = _with_header(original.data, lambda h: h.__setitem__("epochs_trained", epochs))
    for kind, source, _ in _sources(data, tmp_path):
        loaded = ln.load(source)
        assert loaded.epochs_trained == epochs, kind
        np.testing.assert_array_equal(loaded.predict(original.probe), original.prediction)


@pytest.mark.parametrize("metadata", ["text", [1], 5, None, True])
def test_metadata_that_is_not_an_object(tmp_path, original, metadata):
    data = _with_header(original.data, lambda h: h.__setitem__("metadata", metadata))
    _check_all([(f"metadata {metadata!r}", data)], tmp_path, original, must_refuse=True)


def test_paths_that_cannot_be_read(tmp_path, original):
    model = tmp_path / "model.npz"
    model.write_bytes(original.data)
    for path in [tmp_path, tmp_path / "missing.npz", model / "inside.npz",
                 str(tmp_path / "nul\0byte.npz")]:
        with pytest.raises((OSError, ValueError)) as caught:
            ln.load(path)
        shown = str(path).split("\0")[0]
        assert shown in str(caught.value) + str(getattr(caught.value, "filename", "")), path
