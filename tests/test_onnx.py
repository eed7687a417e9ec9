"""ONNX export and import (layernet.onnx), checked by onnx's own checker and
by onnxruntime: the exported graph computes what net.predict and
net.predict_proba compute, for every activation, loss and dtype; load reads
it (and graphs written by hand or by torch.onnx) back into the same network;
unsupported graphs fail naming the node.

Differences are measured relative to the largest magnitude of the expected
output (onnxruntime's Sigmoid is accurate to a unit of the output's scale,
not of each tiny element). Run with -s to print the largest per dtype.
"""
import math
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle as O  # noqa: E402

import layernet as ln  # noqa: E402
from child_python import child_env  # noqa: E402
import layernet.onnx as lo  # noqa: E402

DTYPES = [np.float32, np.float64]
ACTIVATIONS = list(ln.ACTIVATIONS)
LOSSES = ["mse", "mse_sum", "mae", "huber", "cross_entropy", "binary_cross_entropy"]
CLASSIFICATION = ("cross_entropy", "binary_cross_entropy")
WORST: dict[str, float] = {}


def tol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


def rel(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def note(dtype, diff, kind="vs predict"):
    key = f"{np.dtype(dtype).name} {kind}"
    WORST[key] = max(WORST.get(key, 0.0), diff)


@pytest.fixture(scope="module", autouse=True)
def report_worst():
    yield
    print("\nlargest ONNX differences:", {k: f"{v:.3g}" for k, v in sorted(WORST.items())})


def session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def run(model, X):
    """{output name: array} from onnxruntime."""
    s = session(model)
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {"inputs": X})))


def make_net(dtype, activation, loss="mse", n_in=5, n_out=3, seed=0):
    """Three Dense layers with `activation` (the last too) and random biases."""
    net = ln.Network([ln.Dense(n_in, 16, activation), ln.Dense(16, 12, activation),
                      ln.Dense(12, n_out, activation)], dtype=dtype, seed=seed, loss=loss)
    rng = np.random.default_rng(seed + 100)
    for layer in net.layers:
        layer.B = rng.normal(0, 0.5, layer.n_out)
    return net


def softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def inputs(n, n_in, dtype, seed=1):
    return (np.random.default_rng(seed).standard_normal((n, n_in)) * 2).astype(dtype)


# ---------------------------------------------------------------------------
# Export: the checker and onnxruntime agree with predict
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("batch", [1, 1000])
def test_onnxruntime_matches_predict(dtype, activation, loss, batch):
    net = make_net(dtype, activation, loss)
    output = "both" if loss in CLASSIFICATION else "auto"
    model = lo.to_onnx(net, output=output)
    onnx.checker.check_model(model, full_check=True)
    X = inputs(batch, net.n_in, dtype)
    got = run(model, X)
    assert got["outputs"].dtype == dtype and got["outputs"].shape == (batch, net.n_out)
    diff = rel(got["outputs"], net.predict(X))
    if loss in CLASSIFICATION:
        assert set(got) == {"outputs", "probabilities"}
        diff = max(diff, rel(got["probabilities"], net.predict_proba(X)))
    else:
        assert set(got) == {"outputs"}
    note(dtype, diff)
    assert diff <= tol(dtype), diff


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss,transform", [("cross_entropy", "Softmax"),
                                            ("binary_cross_entropy", "Sigmoid")])
def test_output_choices(dtype, loss, transform):
    net = make_net(dtype, "tanh", loss)
    X = inputs(50, net.n_in, dtype)
    auto = lo.to_onnx(net)
    assert [o.name for o in auto.graph.output] == ["probabilities"]
    assert auto.graph.node[-1].op_type == transform
    if transform == "Softmax":
        assert helper.get_attribute_value(auto.graph.node[-1].attribute[0]) == -1
    assert rel(run(auto, X)["probabilities"], net.predict_proba(X)) <= tol(dtype)
    raw = lo.to_onnx(net, output="raw")
    assert [o.name for o in raw.graph.output] == ["outputs"]
    assert rel(run(raw, X)["outputs"], net.predict(X)) <= tol(dtype)
    proba = lo.to_onnx(net, output="probabilities")
    assert [o.name for o in proba.graph.output] == ["probabilities"]


def test_regression_output_is_raw_and_has_no_probabilities():
    net = make_net(np.float32, "relu", "huber")
    assert [o.name for o in lo.to_onnx(net).graph.output] == ["outputs"]
    for output in ("probabilities", "both"):
        with pytest.raises(ValueError, match=r"output: .*needs a classification loss.*'huber'"):
            lo.to_onnx(net, output=output)


def test_bad_arguments():
    net = make_net(np.float32, "relu")
    with pytest.raises(ValueError, match=r"output: expected one of 'auto', 'raw'.* got 'logits'"):
        lo.to_onnx(net, output="logits")
    with pytest.raises(ValueError, match=r"opset: expected an integer from 13 to \d+ .*, got 12"):
        lo.to_onnx(net, opset=12)
    with pytest.raises(ValueError, match=r"opset: .*got '17'"):
        lo.to_onnx(net, opset="17")
    with pytest.raises(TypeError, match=r"net: expected a layernet Network, got list"):
        lo.to_onnx([net])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_dimension_is_dynamic_and_io_in_the_model_dtype(dtype):
    net = make_net(dtype, "gelu", "cross_entropy")
    model = lo.to_onnx(net, output="both")
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert value.type.tensor_type.elem_type == elem
        assert dims[0].dim_param == "batch" and not dims[0].HasField("dim_value")
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 5
    assert all(numpy_helper.to_array(t).dtype == dtype for t in model.graph.initializer)
    s = session(model)
    for n in (1, 7, 1000):
        assert s.run(None, {"inputs": inputs(n, 5, dtype)})[0].shape == (n, 3)


@pytest.mark.parametrize("opset,ir_version", [(None, 8), (13, 8), (17, 8), (19, 9), (21, 10)])
def test_opset_and_ir_version(opset, ir_version):
    net = make_net(np.float64, "gelu")
    model = lo.to_onnx(net) if opset is None else lo.to_onnx(net, opset=opset)
    declared = {o.domain: o.version for o in model.opset_import}
    assert declared == {"": opset or 17}
    assert model.ir_version == ir_version
    assert model.producer_name == "layernet" and model.producer_version == ln.__version__
    onnx.checker.check_model(model, full_check=True)
    X = inputs(20, net.n_in, np.float64)
    assert rel(run(model, X)["outputs"], net.predict(X)) <= 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
def test_graph_uses_the_documented_ops(dtype):
    ops = {a: [n.op_type for n in lo.to_onnx(make_net(dtype, a)).graph.node] for a in ACTIVATIONS}
    dense = ["Gemm"] if dtype == np.float32 else ["MatMul", "Add"]
    assert ops["identity"] == dense * 3
    for activation, op in [("relu", "Relu"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh")]:
        assert ops[activation] == (dense + [op]) * 3
    if dtype == np.float32:
        assert ops["leaky_relu"] == ["Gemm", "LeakyRelu"] * 3
        assert ops["softplus"] == ["Gemm", "Softplus"] * 3
        assert ops["silu"] == ["Gemm", "Sigmoid", "Mul"] * 3
    else:
        assert ops["leaky_relu"] == ["MatMul", "Add", "Mul", "Max"] * 3
        assert ops["silu"] == ["MatMul", "Add", "Neg", "Exp", "Add", "Div"] * 3
        # What onnxruntime cannot run in double: Softplus, Erf (no kernels);
        # Gemm and Sigmoid-times-input, which onnxruntime 1.16 fuses into
        # FusedGemm and QuickGelu (float kernels only)
        used = {op for v in ops.values() for op in v}
        assert not {"Softplus", "Erf", "LeakyRelu", "Gemm"} & used
    # gelu without Erf in both dtypes (1 + Erf(x / sqrt 2) cancels below 0)
    assert "Erf" not in ops["gelu"] and ops["gelu"][-2:] == ["Where", "Mul"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_nodes_hold_the_weights_and_biases(dtype):
    net = make_net(dtype, "relu")
    graph = lo.to_onnx(net).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    if dtype == np.float32:
        gemms = [n for n in graph.node if n.op_type == "Gemm"]
        assert all(not node.attribute for node in gemms)   # alpha = beta = 1, no transposes
        pairs = [(node.input[1], node.input[2]) for node in gemms]
    else:
        adds = {n.input[0]: n for n in graph.node if n.op_type == "Add"}
        pairs = [(n.input[1], adds[n.output[0]].input[1])
                 for n in graph.node if n.op_type == "MatMul"]
    assert len(pairs) == 3
    for layer, (w, b) in zip(net.layers, pairs):
        np.testing.assert_array_equal(arrays[w], layer.W)
        np.testing.assert_array_equal(arrays[b], layer.B)


@pytest.mark.parametrize("dtype", DTYPES)
def test_standardize_and_dropout(dtype):
    rng = np.random.default_rng(3)
    mean, std = rng.normal(0, 3, 5), rng.uniform(0.5, 4, 5)
    net = ln.Network([ln.Standardize(mean, std), ln.Dense(5, 10, "relu"), ln.Dropout(0.5),
                      ln.Dense(10, 4, "tanh"), ln.Dropout(0.2), ln.Dense(4, 2)],
                     dtype=dtype, seed=4, loss="cross_entropy")
    model = lo.to_onnx(net, output="both")
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert ops[:2] == ["Sub", "Div"] and "Dropout" not in ops
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(arrays[model.graph.node[0].input[1]], mean.astype(dtype))
    np.testing.assert_array_equal(arrays[model.graph.node[1].input[1]], std.astype(dtype))
    X = (rng.normal(0, 3, (300, 5)) + mean).astype(dtype)
    got = run(model, X)
    # The oracle: standardize by hand, then the Dense layers with numpy
    H = (X.astype(np.float64) - mean) / std
    for layer in (net.layers[1], net.layers[3], net.layers[5]):
        H = O.act(layer.activation, H @ layer.W.astype(np.float64) + layer.B)
    diff = max(rel(got["outputs"], net.predict(X)), rel(got["outputs"], H),
               rel(got["probabilities"], net.predict_proba(X)))
    note(dtype, diff)
    assert diff <= tol(dtype)


# ---------------------------------------------------------------------------
# The double-precision activation graphs, element by element
# ---------------------------------------------------------------------------

GRID = np.concatenate([np.linspace(-40, 40, 16001), -np.logspace(-12, 1.6, 400),
                       np.logspace(-12, 1.6, 400), [0.0, -0.0]])


def single_unit(dtype, activation):
    net = ln.Network([ln.Dense(1, 1, activation)], dtype=dtype)
    net.layers[0].W = [[1.0]]
    net.layers[0].B = [0.0]
    return net


@pytest.mark.parametrize("dtype,activation", [(np.float64, "gelu"), (np.float64, "softplus"),
                                              (np.float64, "leaky_relu"), (np.float64, "silu"),
                                              (np.float32, "gelu")])
def test_replacement_graphs_are_accurate_element_by_element(dtype, activation):
    """The forms written instead of Erf (both dtypes), Softplus, LeakyRelu
    and x * Sigmoid(x) (double): each element within the dtype's tolerance of its own
    value, not only of the output's scale (the oracle uses math.erfc and
    numpy's logaddexp). float32 gets 2e-5: t^2 in float32 carries a relative
    error of t^2 eps into exp(-t^2), as it does in the C engine."""
    net = single_unit(dtype, activation)
    X = GRID.astype(dtype).reshape(-1, 1)
    got = run(lo.to_onnx(net), X)["outputs"][:, 0].astype(np.float64)
    want = O.act(activation, X[:, 0].astype(np.float64))
    tiny = np.finfo(dtype).tiny * 1e6   # below, the tail reaches subnormals
    normal = np.abs(want) > tiny
    limit = 2e-5 if dtype == np.float32 else 1e-12
    worst = float(np.max(np.abs(got[normal] - want[normal]) / np.abs(want[normal])))
    note(dtype, worst, "element-wise vs oracle")
    assert worst <= limit, worst
    assert np.all(np.abs(got[~normal]) <= tiny)
    # the C engine is within the same bound of the graph
    c = net.predict(X)[:, 0].astype(np.float64)
    assert float(np.max(np.abs(c[normal] - got[normal]) / np.abs(want[normal]))) <= 2 * limit


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_on_a_wide_grid(dtype, activation):
    net = single_unit(dtype, activation)
    X = GRID.astype(dtype).reshape(-1, 1)
    got = run(lo.to_onnx(net), X)["outputs"][:, 0]
    want = O.act(activation, X[:, 0].astype(np.float64))
    diff = rel(got, want)
    note(dtype, diff, "grid vs oracle")
    assert diff <= tol(dtype), diff


def test_float64_gelu_extremes():
    net = single_unit(np.float64, "gelu")
    got = run(lo.to_onnx(net), np.array([[np.inf], [1e300], [-1e300], [0.0]]))["outputs"][:, 0]
    assert got[0] == np.inf and got[1] == 1e300 and got[2] == 0 and got[3] == 0


# ---------------------------------------------------------------------------
# Saving, exporting a model file, importing
# ---------------------------------------------------------------------------

def test_save_writes_the_model_atomically(tmp_path):
    net = make_net(np.float32, "silu", "cross_entropy")
    path = tmp_path / "model.onnx"
    lo.save(net, path)
    model = onnx.load(str(path))
    assert model == lo.to_onnx(net)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="output"):
        lo.save(net, path, output="nonsense")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]


def test_export_reads_a_model_file(tmp_path):
    net = make_net(np.float64, "gelu", "binary_cross_entropy")
    net.classes = None
    net.save(tmp_path / "model.npz")
    lo.export(tmp_path / "model.npz", tmp_path / "model.onnx", output="both")
    model = onnx.load(str(tmp_path / "model.onnx"))
    X = inputs(64, net.n_in, np.float64)
    got = run(model, X)
    assert rel(got["outputs"], net.predict(X)) <= 1e-12
    assert rel(got["probabilities"], net.predict_proba(X)) <= 1e-12
    with pytest.raises(FileNotFoundError):
        lo.export(tmp_path / "missing.npz", tmp_path / "other.onnx")
    assert not (tmp_path / "other.onnx").exists()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_round_trip(dtype, activation, tmp_path):
    """export -> onnxruntime -> load: the same layers, weights and predictions."""
    net = make_net(dtype, activation, "cross_entropy")
    net.classes = ["cat", "dog", "eel"]
    path = tmp_path / "net.onnx"
    lo.save(net, path, output="both")
    X = inputs(200, net.n_in, dtype)
    got = run(onnx.load(str(path)), X)
    back = lo.load(path)
    assert back.dtype == dtype and back.loss_name == "cross_entropy"
    assert back.classes == ["cat", "dog", "eel"]
    assert [(type(a), a.activation) for a in back.layers] == \
        [(type(a), a.activation) for a in net.layers]
    for a, b in zip(back.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    diff = max(rel(got["outputs"], back.predict(X)),
               rel(got["probabilities"], back.predict_proba(X)))
    note(dtype, diff)
    assert diff <= tol(dtype)
    # from bytes and from the ModelProto too
    np.testing.assert_array_equal(lo.load(path.read_bytes()).predict(X), net.predict(X))
    np.testing.assert_array_equal(lo.load(lo.to_onnx(net, output="raw")).predict(X),
                                  net.predict(X))


@pytest.mark.parametrize("loss", LOSSES)
def test_round_trip_keeps_the_loss(loss):
    net = make_net(np.float64, "relu", ln.Huber(0.3) if loss == "huber" else loss)
    for output in ("auto", "raw"):
        back = lo.load(lo.to_onnx(net, output=output))
        assert back.loss_function == net.loss_function
        assert [layer.activation for layer in back.layers] == ["relu"] * 3
        X = inputs(30, net.n_in, np.float64)
        np.testing.assert_array_equal(back.predict(X), net.predict(X))


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_of_standardize_and_dropout(dtype):
    rng = np.random.default_rng(8)
    net = ln.Network([ln.Standardize(rng.normal(size=4), rng.uniform(1, 2, 4)),
                      ln.Dense(4, 6, "softplus"), ln.Dropout(0.3), ln.Dense(6, 1)],
                     dtype=dtype, seed=2, loss="binary_cross_entropy")
    back = lo.load(lo.to_onnx(net))
    # Dropout is not in the graph (the identity in inference)
    assert [type(layer).__name__ for layer in back.layers] == ["Standardize", "Dense", "Dense"]
    np.testing.assert_array_equal(back.layers[0].mean, net.layers[0].mean)
    np.testing.assert_array_equal(back.layers[0].std, net.layers[0].std)
    X = inputs(40, 4, dtype)
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))


def test_final_sigmoid_activation_of_a_regression_net_stays_an_activation():
    net = make_net(np.float32, "sigmoid", "mse")
    back = lo.load(lo.to_onnx(net))
    assert back.loss_name == "mse" and back.layers[-1].activation == "sigmoid"
    # A classification net whose last activation is sigmoid: Sigmoid(Sigmoid(z))
    net = make_net(np.float32, "sigmoid", "binary_cross_entropy")
    back = lo.load(lo.to_onnx(net))
    assert back.loss_name == "binary_cross_entropy" and back.layers[-1].activation == "sigmoid"
    X = inputs(30, net.n_in, np.float32)
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))


def test_importing_layernet_imports_neither_onnx_nor_torch(tmp_path):
    # From an empty directory, with PYTHONPATH naming the package under test
    # (the installed one in CI, not the unbuilt source tree)
    code = ("import sys, layernet, layernet.onnx, layernet.interop; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=child_env(), check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------
# Importing graphs other writers make
# ---------------------------------------------------------------------------

def graph_model(nodes, initializers, n_in=3, n_out=2, elem=TensorProto.FLOAT, opset=17,
                outputs=("y",), input_name="x"):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(input_name, elem, ["n", n_in])],
        [helper.make_tensor_value_info(o, elem, ["n", n_out]) for o in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def weights(dtype, n_in=3, n_out=2, seed=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_in, n_out)).astype(dtype), rng.normal(size=n_out).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_load_matmul_add_with_constant_nodes_identity_and_dropout(dtype):
    W1, B1 = weights(dtype, 3, 4)
    W2, _ = weights(dtype, 4, 2, seed=6)
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    nodes = [
        helper.make_node("Constant", [], ["w1"], value=numpy_helper.from_array(W1)),
        helper.make_node("MatMul", ["x", "w1"], ["m1"]),
        helper.make_node("Add", ["b1", "m1"], ["a1"]),        # the bias first
        helper.make_node("Tanh", ["a1"], ["h1"]),
        helper.make_node("Identity", ["h1"], ["i1"]),
        helper.make_node("Dropout", ["i1", "ratio"], ["d1"]),
        helper.make_node("MatMul", ["d1", "w2"], ["y"]),       # no bias
    ]
    model = graph_model(nodes, {"b1": B1, "w2": W2, "ratio": np.float32(0.25)}, elem=elem)
    onnx.checker.check_model(model, full_check=True)
    net = lo.load(model)
    assert [repr(layer).split("(")[0] for layer in net.layers] == ["Dense", "Dropout", "Dense"]
    assert net.layers[0].activation == "tanh" and net.layers[1].rate == 0.25
    assert net.loss_name == "mse" and net.dtype == dtype
    X = inputs(100, 3, dtype)
    want = np.tanh(X.astype(np.float64) @ W1 + B1) @ W2
    assert rel(net.predict(X), want) <= tol(dtype)
    assert rel(session(model).run(None, {"x": X})[0], want) <= tol(dtype)


def test_load_gemm_with_transposed_weights_alpha_beta_and_softmax_axis_1():
    W, B = weights(np.float32, 3, 4)
    nodes = [helper.make_node("Gemm", ["x", "wt", "b"], ["g"], transB=1, alpha=2.0, beta=0.5),
             helper.make_node("LeakyRelu", ["g"], ["h"]),      # alpha defaults to 0.01
             helper.make_node("Softmax", ["h"], ["y"], axis=1)]
    model = graph_model(nodes, {"wt": W.T.copy(), "b": B}, n_out=4)
    net = lo.load(model)
    assert net.loss_name == "cross_entropy" and net.layers[0].activation == "leaky_relu"
    X = inputs(50, 3, np.float32)
    Z = 2 * (X.astype(np.float64) @ W) + 0.5 * B
    assert rel(net.predict_proba(X), softmax(O.act("leaky_relu", Z))) <= 1e-5
    assert rel(net.predict_proba(X), session(model).run(None, {"x": X})[0]) <= 1e-5


def test_load_gelu_written_with_a_multiplication_and_other_grouping():
    W, B = weights(np.float64, 3, 2)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["z"]),
             helper.make_node("Mul", ["z", "half"], ["zh"]),
             helper.make_node("Mul", ["inv_sqrt2", "z"], ["s"]),
             helper.make_node("Erf", ["s"], ["e"]),
             helper.make_node("Add", ["one", "e"], ["p"]),
             helper.make_node("Mul", ["p", "zh"], ["y"])]
    model = graph_model(nodes, {"w": W, "b": B, "half": np.float64(0.5), "one": np.float64(1.0),
                                "inv_sqrt2": np.float64(math.sqrt(0.5))},
                        elem=TensorProto.DOUBLE)
    net = lo.load(model)
    assert net.layers[0].activation == "gelu"
    X = inputs(80, 3, np.float64)
    assert rel(net.predict(X), O.act("gelu", X @ W + B)) <= 1e-12


def test_load_float32_gelu_with_value_float_constants():
    W, B = weights(np.float32, 3, 2)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["z"]),
             helper.make_node("Constant", [], ["sqrt2"], value_float=math.sqrt(2)),
             helper.make_node("Constant", [], ["one"], value_float=1.0),
             helper.make_node("Constant", [], ["half"], value_floats=[0.5]),
             helper.make_node("Div", ["z", "sqrt2"], ["s"]),
             helper.make_node("Erf", ["s"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["p"]),
             helper.make_node("Mul", ["z", "p"], ["zp"]),
             helper.make_node("Mul", ["zp", "half"], ["y"])]
    model = graph_model(nodes, {"w": W, "b": B})
    onnx.checker.check_model(model, full_check=True)
    net = lo.load(model)
    assert net.layers[0].activation == "gelu"
    X = inputs(80, 3, np.float32)
    assert rel(net.predict(X), O.act("gelu", X.astype(np.float64) @ W + B)) <= 1e-5


TORCH_MODULES = {
    "relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyReLU",
    "softplus": "Softplus", "silu": "SiLU", "gelu": "GELU", "identity": "Identity"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_load_graphs_exported_by_torch(dtype, activation, tmp_path):
    torch = pytest.importorskip("torch", reason="torch.onnx writes the foreign graphs here")
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    torch.manual_seed(0)
    act = getattr(torch.nn, TORCH_MODULES[activation])
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), act(), torch.nn.Linear(8, 8), act(),
                                 torch.nn.Linear(8, 3), torch.nn.Softmax(dim=-1))
    module = module.to(torch_dtype).eval()
    path = tmp_path / "torch.onnx"
    with pytest.warns(DeprecationWarning):   # the TorchScript exporter, kept for this test
        torch.onnx.export(module, (torch.zeros(1, 4, dtype=torch_dtype),), str(path),
                          dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["p"], dynamic_axes={"x": {0: "n"}, "p": {0: "n"}})
    net = lo.load(path)
    assert net.dtype == dtype and net.loss_name == "cross_entropy"
    assert [layer.activation for layer in net.layers] == [activation, activation, "identity"]
    X = inputs(300, 4, dtype)
    with torch.no_grad():
        want = module(torch.from_numpy(X)).numpy()
    diff = rel(net.predict_proba(X), want)
    note(dtype, diff, "torch.onnx graphs vs torch")
    assert diff <= tol(dtype)


# ---------------------------------------------------------------------------
# What load refuses, and how it says so
# ---------------------------------------------------------------------------

def dense_then(node, extra=None, n_out=2, elem=TensorProto.FLOAT):
    dtype = np.float32 if elem == TensorProto.FLOAT else np.float64
    W, B = weights(dtype, 3, n_out)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="dense")] + \
        ([node] if not isinstance(node, list) else node)
    return graph_model(nodes, {"w": W, "b": B, **(extra or {})}, n_out=n_out, elem=elem)


@pytest.mark.parametrize("model,pattern", [
    (dense_then(helper.make_node("Elu", ["z"], ["y"], name="my_elu")),
     r"node 'my_elu' \(op Elu\) is not supported"),
    (dense_then(helper.make_node("LeakyRelu", ["z"], ["y"], name="steep", alpha=0.2)),
     r"node 'steep' \(op LeakyRelu\) is not supported"),
    (dense_then([helper.make_node("Div", ["z", "c"], ["d"], name="wrong_scale"),
                 helper.make_node("Erf", ["d"], ["e"], name="erf"),
                 helper.make_node("Add", ["e", "one"], ["a"], name="plus"),
                 helper.make_node("Mul", ["z", "a"], ["m"], name="times"),
                 helper.make_node("Mul", ["m", "half"], ["y"], name="half")],
                {"c": np.float32(1.7), "one": np.float32(1), "half": np.float32(0.5)}),
     r"node 'wrong_scale' \(op Div\)"),
    (dense_then(helper.make_node("Softmax", ["z"], ["y"], name="sm0", axis=0)),
     r"node 'sm0' \(op Softmax\) is not supported: a final Softmax must be over the last axis"),
    (dense_then(helper.make_node("Relu", ["z"], ["y"], name="ms", domain="com.microsoft")),
     r"node 'ms' \(op Relu\) is in domain 'com.microsoft'"),
    (dense_then([helper.make_node("Dropout", ["z", "r", "train"], ["y"], name="drop")],
                {"r": np.float32(0.5), "train": np.array(True)}),
     r"node 'drop' \(op Dropout\) is not supported: its training_mode is not a constant false"),
    (dense_then([helper.make_node("Relu", ["z"], ["y"], name="relu"),
                 helper.make_node("Neg", ["c"], ["unused"], name="stray")], {"c": np.float32(1)}),
     r"node 'stray' \(op Neg\) is not supported: it is not on the chain"),
    (dense_then([helper.make_node("Relu", ["z"], ["y"], name="relu"),
                 helper.make_node("Neg", ["x"], ["unused"], name="fork")]),
     r"tensor 'x' is read by 2 nodes \(node 'dense' \(op Gemm\), node 'fork' \(op Neg\)\)"),
    (dense_then([helper.make_node("Relu", ["z"], ["r"], name="relu"),
                 helper.make_node("Sub", ["r", "c"], ["y"], name="shift")],
                {"c": np.float32(1)}),
     r"node 'shift' \(op Sub\) is not supported: a Sub of a constant must be followed by a Div"),
    (dense_then(helper.make_node("Relu", ["z"], ["y"])),
     None),
])
def test_load_names_the_unsupported_node(model, pattern):
    if pattern is None:   # the control: the same graph with a supported node loads
        assert lo.load(model).layers[0].activation == "relu"
        return
    with pytest.raises(ValueError, match=pattern):
        lo.load(model)


def test_load_refuses_other_graphs():
    W, B = weights(np.float32)
    gemm = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="dense")
    two_inputs = graph_model([gemm], {"w": W, "b": B})
    two_inputs.graph.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 3]))
    with pytest.raises(ValueError, match=r"expected one graph input, got 2 \('x', 'x2'\)"):
        lo.load(two_inputs)
    integer = graph_model([gemm], {"w": W, "b": B}, elem=TensorProto.INT64)
    with pytest.raises(ValueError, match=r"input 'x' has element type INT64, expected FLOAT or "
                                         r"DOUBLE"):
        lo.load(integer)
    mixed = graph_model([gemm], {"w": W.astype(np.float64), "b": B})
    with pytest.raises(ValueError, match=r"node 'dense' \(op Gemm\): its B matrix 'w' has dtype "
                                         r"float64, expected float32"):
        lo.load(mixed)
    wide = graph_model([gemm], {"w": W, "b": B}, n_in=5)
    with pytest.raises(ValueError, match=r"node 'dense' \(op Gemm\) takes 3 inputs, the layer "
                                         r"before it gives 5"):
        lo.load(wide)
    old = graph_model([gemm], {"w": W, "b": B}, opset=8)
    with pytest.raises(ValueError, match=r"opset 9 or newer, got 8"):
        lo.load(old)
    nan = graph_model([gemm], {"w": np.full_like(W, np.nan), "b": B})
    with pytest.raises(ValueError, match=r"'w' holds inf or nan"):
        lo.load(nan)
    external = graph_model([gemm], {"w": W, "b": B})
    tensor = external.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/passwd")
    with pytest.raises(ValueError, match=r"initializer 'w' is stored as external data"):
        lo.load(external)
    extra_output = graph_model([helper.make_node("Gemm", ["x", "w", "b"], ["z"]),
                                helper.make_node("Relu", ["z"], ["y"])], {"w": W, "b": B},
                               outputs=("y", "z"))
    with pytest.raises(ValueError, match=r"graph output 'z' is also read by node #1 "
                                         r"\(unnamed\) \(op Relu\)"):
        lo.load(extra_output)
    twice = graph_model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="one"),
                         helper.make_node("Relu", ["x"], ["y"], name="two")], {"w": W, "b": B})
    with pytest.raises(ValueError, match=r"tensor 'y' is written twice \(by node 'two' \(op Relu\)"):
        lo.load(twice)
    cycle = graph_model([helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="dense"),
                         helper.make_node("Relu", ["z"], ["x"], name="back")], {"w": W, "b": B})
    with pytest.raises(ValueError, match=r"node 'back' \(op Relu\) writes the graph input 'x'"):
        lo.load(cycle)
    loop = graph_model([helper.make_node("Add", ["x", "r"], ["a"], name="join"),
                        helper.make_node("Gemm", ["a", "w", "b"], ["z"], name="dense"),
                        helper.make_node("Relu", ["z"], ["r"], name="back")], {"w": W, "b": B})
    with pytest.raises(ValueError, match=r"node 'join' \(op Add\) is not supported"):
        lo.load(loop)
    mismatched = lo.to_onnx(make_net(np.float32, "relu", "cross_entropy"))
    helper.set_model_props(mismatched, {lo.LOSS_KEY: '{"name": "mse"}'})
    with pytest.raises(ValueError, match=r"ends with Softmax, but metadata 'layernet.loss' names "
                                         r"loss 'mse'"):
        lo.load(mismatched)
    bad_loss = lo.to_onnx(make_net(np.float32, "relu"))
    helper.set_model_props(bad_loss, {lo.LOSS_KEY: "{"})
    with pytest.raises(ValueError, match=r"metadata 'layernet.loss' is not a valid loss"):
        lo.load(bad_loss)


def test_load_sources(tmp_path):
    with pytest.raises(ValueError, match=r"<ONNX bytes>: not an ONNX model"):
        lo.load(b"\xff\x00 definitely not protobuf")
    (tmp_path / "junk.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match=r"junk.onnx: not an ONNX model \(no graph\)"):
        lo.load(tmp_path / "junk.onnx")
    with pytest.raises(FileNotFoundError):
        lo.load(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match=r"source: expected a path, the bytes of an ONNX file or "
                                        r"an onnx.ModelProto, got int"):
        lo.load(3)
