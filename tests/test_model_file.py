"""The model file: save/load round trips (weights, optimizer state, metadata),
files written by layernet 0.1.0 (format version 1), and clear ValueErrors for
damaged, foreign or newer files. Loading never unpickles.

Damaged files are made here from a good one: by rewriting the .npz with numpy, by
cutting its bytes, or by writing other kinds of files at the path.
"""

import json
import os
import pickle

import numpy as np
import pytest

import layernet as ln

DTYPES = [np.float32, np.float64]


def _net(dtype=np.float32, loss="mse", seed=0):
    layers = [ln.Dense(3, 6, "relu"), ln.Dense(6, 4, "sigmoid"), ln.Dense(4, 3)]
    return ln.Network(layers, dtype=dtype, seed=seed, loss=loss)


def _data(dtype=np.float32, n=14, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)).astype(dtype), rng.standard_normal((n, 3)).astype(dtype)


def _params(net):
    return [(layer.W.copy(), layer.B.copy()) for layer in net.layers]


def _assert_same_params(a, b):
    assert len(a.layers) == len(b.layers)
    for i, (la, lb) in enumerate(zip(a.layers, b.layers)):
        np.testing.assert_array_equal(la.W, lb.W, err_msg=f"W{i}")
        np.testing.assert_array_equal(la.B, lb.B, err_msg=f"B{i}")
        assert la.W.dtype == lb.W.dtype


def _read_npz(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _key(i, name):
    """The member holding layer i's tensor `name` (format version 2)."""
    return f"layer{i}_{name}"


def _header(arrays):
    return json.loads(arrays["header"].tobytes().decode("utf-8"))


def _write_npz(path, arrays, header=None):
    arrays = dict(arrays)
    if header is not None:
        text = header if isinstance(header, str) else json.dumps(header)
        arrays["header"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as f:  # a file object, so numpy does not add ".npz"
        np.savez(f, **arrays)


@pytest.fixture
def saved(tmp_path):
    """A trained float64 network saved with its Adam state and metadata; (net, path, arrays)."""
    net = _net(np.float64, seed=1)
    X, Y = _data(np.float64)
    net.fit(X, Y, epochs=2, batch_size=5, optimizer=ln.Adam(lr=0.01))
    path = tmp_path / "good.npz"
    net.save(str(path), include_optimizer=True, metadata={"run": "a"})
    return net, str(path), _read_npz(path)


# ---------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_round_trip_weights_and_structure(tmp_path, dtype, loss):
    net = _net(dtype, loss=loss, seed=4)
    path = tmp_path / "model.npz"
    net.save(path)  # a pathlib.Path is accepted
    loaded = ln.load(path)
    assert isinstance(loaded, ln.Network)
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.loss_name == loss
    assert [l.activation for l in loaded.layers] == ["relu", "sigmoid", "identity"]
    assert [(l.n_in, l.n_out) for l in loaded.layers] == [(3, 6), (6, 4), (4, 3)]
    _assert_same_params(net, loaded)
    X, _ = _data(dtype)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.metadata == {}
    assert loaded.optimizer is None
    # the layout the contract describes
    arrays = _read_npz(path)
    assert set(arrays) == {"header"} | {_key(i, p) for i in range(3) for p in "WB"}
    header = _header(arrays)
    assert header["format"] == "layernet-model" and header["version"] == 2
    assert header["dtype"] == np.dtype(dtype).name and header["loss"] == {"name": loss}
    assert header["layers"] == [{"kind": "dense", "n_in": 3, "n_out": 6, "activation": "relu"},
                                {"kind": "dense", "n_in": 6, "n_out": 4, "activation": "sigmoid"},
                                {"kind": "dense", "n_in": 4, "n_out": 3, "activation": "identity"}]
    assert header["optimizer"] is None
    np.testing.assert_array_equal(arrays[_key(1, "W")], net.layers[1].W)


def test_save_without_optimizer_leaves_it_out(tmp_path):
    net = _net(np.float64)
    X, Y = _data(np.float64)
    net.fit(X, Y, epochs=1, batch_size=7, optimizer=ln.Adam())
    path = str(tmp_path / "noopt.npz")
    net.save(path)  # include_optimizer defaults to False
    assert not any(k.startswith("opt") for k in _read_npz(path))
    assert ln.load(path).optimizer is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_opt", [
    lambda: ln.Adam(lr=0.003, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.01),
    lambda: ln.SGD(lr=0.02, momentum=0.7, nesterov=True, weight_decay=0.001),
    lambda: ln.SGD(lr=0.02),
], ids=["adam", "nesterov", "plain-sgd"])
def test_optimizer_state_round_trip(tmp_path, dtype, make_opt):
    X, Y = _data(dtype, seed=3)
    net = _net(dtype, seed=2)
    opt = make_opt()
    net.fit(X, Y, epochs=2, batch_size=4, optimizer=opt, seed=1)
    path = str(tmp_path / "opt.npz")
    net.save(path, include_optimizer=True)
    loaded = ln.load(path)
    lo = loaded.optimizer
    assert type(lo) is type(opt)
    for attr in ("lr", "weight_decay", "momentum", "nesterov", "beta1", "beta2", "eps", "step"):
        if hasattr(opt, attr):
            assert getattr(lo, attr) == getattr(opt, attr), attr
    if isinstance(opt, ln.Adam):
        assert lo.step == 8
    keys = _read_npz(path)
    if isinstance(opt, ln.Adam) or opt.momentum:
        assert any(k.startswith("opt0_layer") for k in keys)
    # the state itself: both copies continue identically, bit for bit
    for n, o in ((net, opt), (loaded, lo)):
        n.fit(X, Y, epochs=2, batch_size=4, optimizer=o, seed=2)
    _assert_same_params(net, loaded)


def test_optimizer_state_matters_for_the_round_trip(tmp_path):
    """Guard: with fresh optimizer state, continuing gives different weights, so the
    bit-identity above really exercises the saved moments."""
    X, Y = _data(np.float64, seed=3)
    net = _net(np.float64, seed=2)
    net.fit(X, Y, epochs=2, batch_size=4, optimizer=ln.Adam(lr=0.01), seed=1)
    path = str(tmp_path / "a.npz")
    net.save(path)  # without the optimizer
    loaded = ln.load(path)
    net.fit(X, Y, epochs=1, batch_size=4, seed=2)  # resumes its own Adam
    loaded.fit(X, Y, epochs=1, batch_size=4, optimizer=ln.Adam(lr=0.01), seed=2)
    assert not np.array_equal(net.layers[0].W, loaded.layers[0].W)


def test_metadata_round_trip(tmp_path):
    md = {"name": "réseau ✓", "epochs": 12, "score": 0.8125, "ok": True, "none": None,
          "nested": {"list": [1, 2.5, "x"], "empty": {}}}
    net = _net()
    path = str(tmp_path / "md.npz")
    net.save(path, metadata=md)
    assert net.metadata == md
    loaded = ln.load(path)
    assert loaded.metadata == md
    assert _header(_read_npz(path))["metadata"] == md
    # saved again without metadata=, the loaded metadata is kept
    path2 = str(tmp_path / "md2.npz")
    loaded.save(path2)
    assert ln.load(path2).metadata == md


def test_unserialisable_metadata_fails_without_touching_the_file(tmp_path):
    net = _net()
    path = tmp_path / "keep.npz"
    net.save(str(path), metadata={"v": 1})
    before = path.read_bytes()
    with pytest.raises((TypeError, ValueError), match="metadata"):
        net.save(str(path), metadata={"bad": object()})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.npz"]  # no temporary file left behind


def test_save_is_exact_path_and_leaves_no_temporaries(tmp_path):
    net = _net(np.float64)
    path = tmp_path / "model.bin"  # not ".npz": the file must still be exactly here
    net.save(str(path))
    net.save(str(path))  # overwriting works
    assert sorted(os.listdir(tmp_path)) == ["model.bin"]
    _assert_same_params(net, ln.load(str(path)))


# ---------------------------------------------------------------------------
# files written by layernet 0.1.0 (format version 1)
# ---------------------------------------------------------------------------

V1 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "v1")


def _v1_expected():
    with open(os.path.join(V1, "expected.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("name,dtype", [("mse_f32", np.float32), ("xent_adam_f64", np.float64),
                                        ("sgd_momentum_f32", np.float32)])
def test_version_1_files_still_load(name, dtype):
    """The fixtures were saved by layernet 0.1.0, with the predictions it gave."""
    expected = _v1_expected()
    X = np.array(expected["X"])
    net = ln.load(os.path.join(V1, name + ".npz"))
    assert _header(_read_npz(os.path.join(V1, name + ".npz")))["version"] == 1
    assert net.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(net.predict(X), expected[name], rtol=rtol, atol=rtol)


def test_version_1_metadata_and_loss():
    net = ln.load(os.path.join(V1, "mse_f32.npz"))
    assert net.metadata == {"note": "written by layernet 0.1.0"}
    assert net.loss_name == "mse" and net.optimizer is None
    assert [l.activation for l in net.layers] == ["relu", "sigmoid", "identity"]
    assert ln.load(os.path.join(V1, "xent_adam_f64.npz")).loss_name == "cross_entropy"


@pytest.mark.parametrize("name,dtype,opt", [("xent_adam_f64", np.float64, ln.Adam),
                                            ("sgd_momentum_f32", np.float32, ln.SGD)])
def test_version_1_optimizer_state_resumes(name, dtype, opt):
    """One more epoch from the file's optimizer state (moments or velocity)
    gives what layernet 0.1.0 gave when it continued training."""
    expected = _v1_expected()
    X = np.array(expected["X"])
    rng = np.random.default_rng(7)      # the fixture script's draws, in its order
    rng.standard_normal((16, 3))         # X
    rng.standard_normal((16, 2))         # the regression targets
    y = rng.integers(0, 3, 16)
    y1 = rng.standard_normal(16)
    net = ln.load(os.path.join(V1, name + ".npz"))
    assert isinstance(net.optimizer, opt) and net.optimizer.step > 0
    assert net.optimizer.state is not None
    if opt is ln.Adam:
        net.fit(X, y, epochs=1, batch_size=5, seed=3)
    else:
        net.fit(X, y1, epochs=1, batch_size=8, seed=4)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(net.predict(X), expected[name + "_next"], rtol=rtol, atol=rtol)


# ---------------------------------------------------------------------------
# bad files
# ---------------------------------------------------------------------------


def test_corrupted_header_json(saved, tmp_path):
    _, _, arrays = saved
    path = str(tmp_path / "badjson.npz")
    _write_npz(path, arrays, header='{"format": "layernet-model", "version": 1, "dtype": ')
    with pytest.raises(ValueError, match="(?i)json"):
        ln.load(path)


@pytest.mark.parametrize("header", ["[1, 2, 3]", "null", '"layernet-model"'])
def test_header_not_an_object(saved, tmp_path, header):
    _, _, arrays = saved
    path = str(tmp_path / "notobj.npz")
    _write_npz(path, arrays, header=header)
    with pytest.raises(ValueError):
        ln.load(path)


def test_header_not_utf8(saved, tmp_path):
    _, _, arrays = saved
    arrays = dict(arrays)
    arrays["header"] = np.frombuffer(b"\xff\xfe\x00{", dtype=np.uint8)
    path = str(tmp_path / "latin.npz")
    _write_npz(path, arrays)
    with pytest.raises(ValueError):
        ln.load(path)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(saved, tmp_path, fraction):
    _, good, _ = saved
    data = open(good, "rb").read()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match="(?i)truncat|damaged|corrupt|not a valid|incomplete"):
        ln.load(str(path))


def test_flipped_byte_inside_an_array(saved, tmp_path):
    """A damaged member (CRC mismatch) is a ValueError too, not a zipfile error."""
    _, good, _ = saved
    data = bytearray(open(good, "rb").read())
    pos = data.find(b"layer0_W.npy")
    assert pos > 0
    # flip a byte well inside layer 0's W (after its local header and .npy header)
    data[pos + 200] ^= 0xFF
    path = tmp_path / "flip.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        ln.load(str(path))


@pytest.mark.parametrize("fmt", ["keras-model", None, "LAYERNET-MODEL"])
def test_foreign_format(saved, tmp_path, fmt):
    _, _, arrays = saved
    header = _header(arrays)
    if fmt is None:
        del header["format"]
    else:
        header["format"] = fmt
    path = str(tmp_path / "foreign.npz")
    _write_npz(path, arrays, header=header)
    with pytest.raises(ValueError, match="format") as exc:
        ln.load(path)
    if fmt is not None:
        assert fmt in str(exc.value)


def test_npz_without_header(tmp_path):
    path = str(tmp_path / "plain.npz")
    _write_npz(path, {_key(0, "W"): np.zeros((3, 6)), _key(0, "B"): np.zeros(6)})
    with pytest.raises(ValueError, match="header"):
        ln.load(path)


@pytest.mark.parametrize("kind", ["npy", "text", "empty"])
def test_not_an_npz_at_all(tmp_path, kind):
    path = tmp_path / "other.npz"
    if kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.arange(5.0))
    elif kind == "text":
        path.write_text("W0,B0\n1,2\n")
    else:
        path.write_bytes(b"")
    with pytest.raises(ValueError):
        ln.load(str(path))


@pytest.mark.parametrize("version", [3, 17])
def test_newer_version(saved, tmp_path, version):
    _, _, arrays = saved
    header = _header(arrays)
    header["version"] = version
    path = str(tmp_path / "newer.npz")
    _write_npz(path, arrays, header=header)
    with pytest.raises(ValueError, match="version") as exc:
        ln.load(path)
    assert str(version) in str(exc.value)


@pytest.mark.parametrize("version", [0, -1, "1", 1.5])
def test_invalid_version(saved, tmp_path, version):
    _, _, arrays = saved
    header = _header(arrays)
    header["version"] = version
    path = str(tmp_path / "badver.npz")
    _write_npz(path, arrays, header=header)
    with pytest.raises(ValueError, match="version"):
        ln.load(path)


def test_missing_array(saved, tmp_path):
    _, _, arrays = saved
    arrays = dict(arrays)
    del arrays[_key(1, "W")]
    path = str(tmp_path / "missing.npz")
    _write_npz(path, arrays)
    with pytest.raises(ValueError, match=_key(1, "W")):
        ln.load(path)


def test_array_shape_disagrees_with_header(saved, tmp_path):
    _, _, arrays = saved
    arrays = dict(arrays)
    arrays[_key(2, "B")] = np.zeros(5)
    path = str(tmp_path / "shape.npz")
    _write_npz(path, arrays)
    with pytest.raises(ValueError, match=_key(2, "B") + ".*shape"):
        ln.load(path)


def test_missing_optimizer_state_array(saved, tmp_path):
    _, _, arrays = saved
    arrays = dict(arrays)
    opt_keys = sorted(k for k in arrays if k.startswith("opt"))
    assert opt_keys  # the fixture saved Adam's moments
    del arrays[opt_keys[-1]]
    path = str(tmp_path / "noopt.npz")
    _write_npz(path, arrays)
    with pytest.raises(ValueError, match=opt_keys[-1]):
        ln.load(path)


class _Marker:
    """Unpickling this creates a file: proof that a loader unpickled."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_load_never_unpickles(saved, tmp_path):
    _, _, arrays = saved
    marker = tmp_path / "UNPICKLED"
    arrays = dict(arrays)
    obj = np.empty(1, dtype=object)
    obj[0] = _Marker(str(marker))
    arrays[_key(0, "W")] = obj
    path = str(tmp_path / "pickled.npz")
    with open(path, "wb") as f:
        np.savez(f, **arrays)  # object arrays are stored pickled
    with pytest.raises(ValueError):
        ln.load(path)
    assert not marker.exists()
    # a bare pickle at the path
    path2 = tmp_path / "bare.npz"
    path2.write_bytes(pickle.dumps(_Marker(str(marker))))
    with pytest.raises(ValueError):
        ln.load(str(path2))
    assert not marker.exists()


def test_good_fixture_loads(saved):
    """The fixture's file itself is fine, so the failures above come from the damage."""
    net, path, _ = saved
    loaded = ln.load(path)
    _assert_same_params(net, loaded)
    assert loaded.metadata == {"run": "a"}
    assert isinstance(loaded.optimizer, ln.Adam) and loaded.optimizer.step == 6
