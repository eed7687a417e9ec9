"""ONNX export and import of layernet networks.

    import layernet.onnx
    layernet.onnx.save(net, "model.onnx")          # or to_onnx(net) for the ModelProto
    net2 = layernet.onnx.load("model.onnx")

The exported graph has one input "inputs" of shape (batch, n_in) and, by
default, one output: "probabilities" (the loss's output transform, Softmax
over the last axis or Sigmoid) for a classification loss, "outputs" (the raw
outputs, what net.predict returns) otherwise; output="both" gives both.
Initializers, inputs and outputs are in the network's dtype. The opset is
pinned (17 by default) and the IR version is 8; the files run in
onnxruntime 1.16 (the oldest checked) and newer.

Layers become standard operators:
  Dense        float32: Gemm(inputs, W, B); float64: MatMul(inputs, W), Add(B);
               then its activation
  Standardize  Sub(mean), then Div(std)
  Dropout      nothing (it is the identity in inference)

Activations:
  relu, sigmoid, tanh   Relu, Sigmoid, Tanh
  leaky_relu            float32: LeakyRelu(alpha=0.01)
                        float64: Max(x, Mul(x, 0.01))
  softplus              float32: Softplus
                        float64: Relu(x) + log1p(exp(-|x|)), with log1p(q)
                        written q log(1 + q) / ((1 + q) - 1), and q where
                        1 + q rounds to 1
  silu                  float32: Mul(x, Sigmoid(x))
                        float64: Div(x, 1 + exp(-x))
  gelu                  x Phi(x), Phi from exp(-t^2) erfcx(t) with
                        t = |x| / sqrt 2 and erfcx a fitted polynomial
                        (below); the usual 0.5 x (1 + Erf(x / sqrt 2))
                        cancels for x < 0 (in float32 it is 1e-4 off at
                        x = -3.5 and 5% off at x = -5)
The float64 forms avoid what onnxruntime cannot run in double: its CPU
provider has no double Softplus or Erf, LeakyRelu's alpha is a float32
attribute, and onnxruntime 1.16's optimizer fuses Gemm + Relu/Sigmoid/Tanh
into FusedGemm and x * Sigmoid(x) into QuickGelu, which have no double
kernels there.

The model's metadata_props keep the loss ("layernet.loss", JSON) and the
class labels ("layernet.classes"), so load rebuilds the same network.

load reads graphs of these shapes, whoever wrote them: Gemm, or MatMul with
an optional Add, per Dense; the activation patterns above (and the Erf form
of gelu in either dtype, with Div or Mul by the constant, as exporters such
as torch.onnx write it); Sub then Div for standardization; Dropout and
Identity nodes; and an optional final Softmax or Sigmoid, which sets the
loss (cross_entropy or binary_cross_entropy) unless the metadata names a
loss for which a final Sigmoid is the last layer's activation. Anything else
is a ValueError naming the node. Files are read as untrusted input: external
data is refused, and every tensor is checked before it is used.

onnx is imported inside the functions: importing layernet does not import it.
"""
from __future__ import annotations

import json
import math
import os
from typing import Callable

import numpy as np

DEFAULT_OPSET = 17
#: the oldest opset written: Softmax's axis means the last axis from 13 on
MIN_OPSET = 13
#: the IR version written (that of ONNX 1.12, which introduced opset 17), or
#: the one a newer opset needs
IR_VERSION = 8
#: the oldest opset load reads (Erf appeared in opset 9)
MIN_IMPORT_OPSET = 9

INPUT_NAME = "inputs"
RAW_NAME = "outputs"
PROBA_NAME = "probabilities"
OUTPUT_CHOICES = ("auto", "raw", "probabilities", "both")
LOSS_KEY = "layernet.loss"
CLASSES_KEY = "layernet.classes"

LEAKY_SLOPE = 0.01
# Files above protobuf's 2 GiB limit need external data, which this module does not write
_MAX_BYTES = 2**31 - 2**24

# erfcx(t) = exp(t^2) erfc(t) for t >= 0, as a degree-22 polynomial in
# u = (t - 3) / (t + 3), lowest power first. Fitted by Chebyshev interpolation
# at 60 nodes in 50-digit arithmetic, truncated to degree 22 and converted to
# powers of u; relative error below 4e-15 for every t >= 0 (tests/test_onnx.py
# checks the graph against math.erfc). In float32 the graph is within 2e-5 of
# each value: t * t rounded to float32 carries t^2 eps into exp(-t^2).
_ERFCX_SHIFT = 3.0
_ERFCX_POLY = (
    0.17900115118138996, -0.32623356004303644, 0.24560380171232726, -0.15011593650084654,
    0.07166583719815157, -0.024392499316826917, 0.004269136329574221, 0.0007077464161369134,
    -0.0005970619166482283, 4.5255455972329074e-05, 6.405637095980165e-05,
    -1.286116774232076e-05, -7.97745375760794e-06, 2.1218568423294364e-06,
    1.2508572335122541e-06, -2.972782959631279e-07, -2.320136940092794e-07,
    3.238389487720839e-08, 4.4091453237287747e-08, -1.7224392307220836e-09,
    -6.996042527391528e-09, -8.365905097263794e-11, 6.39052805592391e-10)
# Beyond this t, exp(-t^2) is 0 in double; the clamp keeps u finite for t = inf
_ERFCX_T_MAX = 40.0


def _import_onnx():
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
    except ImportError:
        raise ImportError("layernet.onnx needs the onnx package: pip install 'layernet[onnx]' "
                          "(or pip install onnx)") from None
    return onnx


# ---------------------------------------------------------------------------
# The loss's output transform
# ---------------------------------------------------------------------------

_TRANSFORM_OPS = {"softmax": "Softmax", "sigmoid": "Sigmoid"}


def output_transform(loss) -> str | None:
    """'softmax', 'sigmoid' or None: what the loss's predict_proba applies."""
    return loss.output_transform


def loss_for_transform(transform: str):
    """The loss whose output transform is `transform` ('softmax' or 'sigmoid')."""
    from .losses import BinaryCrossEntropy, CrossEntropy
    return {"softmax": CrossEntropy, "sigmoid": BinaryCrossEntropy}[transform]()



# ---------------------------------------------------------------------------
# Graph pieces, written once and used both to export and to recognise
# ---------------------------------------------------------------------------

class _Builder:
    """Collects nodes as (op_type, inputs, output, attributes) and constants."""

    def __init__(self, dtype, prefix: str = ""):
        self.dtype = np.dtype(dtype)
        self.prefix = prefix
        self.nodes: list[tuple[str, list[str], str, dict]] = []
        self.consts: dict[str, np.ndarray] = {}
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{self.prefix}{stem}{self._count}"

    def const(self, value, name: str | None = None) -> str:
        name = name or self._name("c")
        self.consts[name] = np.array(value, dtype=self.dtype)
        return name

    def op(self, op_type: str, inputs: list[str], **attributes) -> str:
        output = self._name(op_type)
        self.nodes.append((op_type, list(inputs), output, attributes))
        return output


def _leaky_relu_op(g: _Builder, x: str) -> str:
    return g.op("LeakyRelu", [x], alpha=LEAKY_SLOPE)


def _leaky_relu_max(g: _Builder, x: str) -> str:
    return g.op("Max", [x, g.op("Mul", [x, g.const(LEAKY_SLOPE)])])


def _softplus_op(g: _Builder, x: str) -> str:
    return g.op("Softplus", [x])


def _softplus_stable(g: _Builder, x: str) -> str:
    q = g.op("Exp", [g.op("Neg", [g.op("Abs", [x])])])
    w = g.op("Add", [q, g.const(1.0)])
    d = g.op("Sub", [w, g.const(1.0)])
    log1p = g.op("Where", [g.op("Equal", [d, g.const(0.0)]), q,
                           g.op("Mul", [g.op("Log", [w]), g.op("Div", [q, d])])])
    return g.op("Add", [g.op("Relu", [x]), log1p])


def _silu(g: _Builder, x: str) -> str:
    return g.op("Mul", [x, g.op("Sigmoid", [x])])


def _silu_div(g: _Builder, x: str) -> str:
    # exp(-x) overflows to inf below -709, where x / inf = -0 is the right limit
    return g.op("Div", [x, g.op("Add", [g.op("Exp", [g.op("Neg", [x])]), g.const(1.0)])])


def _gelu_erf(g: _Builder, x: str, scale: str = "div", grouping: int = 0) -> str:
    """0.5 x (1 + Erf(x / sqrt 2)), as other exporters write it; scale and
    grouping give its equivalent forms."""
    if scale == "div":
        arg = g.op("Div", [x, g.const(math.sqrt(2.0))])
    else:
        arg = g.op("Mul", [x, g.const(math.sqrt(0.5))])
    one_plus = g.op("Add", [g.op("Erf", [arg]), g.const(1.0)])
    if grouping == 0:
        return g.op("Mul", [g.op("Mul", [x, one_plus]), g.const(0.5)])
    if grouping == 1:
        return g.op("Mul", [g.op("Mul", [x, g.const(0.5)]), one_plus])
    return g.op("Mul", [x, g.op("Mul", [one_plus, g.const(0.5)])])


def _gelu_erfc_poly(g: _Builder, x: str) -> str:
    """x Phi(x) with operators onnxruntime runs in both dtypes: h = erfc(t) / 2
    for t = |x| / sqrt 2, then Phi = h below 0 and 1 - h above (no
    cancellation in the lower tail)."""
    t = g.op("Min", [g.op("Mul", [g.op("Abs", [x]), g.const(math.sqrt(0.5))]),
                     g.const(_ERFCX_T_MAX)])
    u = g.op("Div", [g.op("Sub", [t, g.const(_ERFCX_SHIFT)]),
                     g.op("Add", [t, g.const(_ERFCX_SHIFT)])])
    poly = g.const(_ERFCX_POLY[-1])
    for coefficient in reversed(_ERFCX_POLY[:-1]):
        poly = g.op("Add", [g.op("Mul", [poly, u]), g.const(coefficient)])
    gauss = g.op("Exp", [g.op("Neg", [g.op("Mul", [t, t])])])
    half_erfc = g.op("Mul", [g.op("Mul", [gauss, poly]), g.const(0.5)])
    phi = g.op("Where", [g.op("Less", [x, g.const(0.0)]), half_erfc,
                         g.op("Sub", [g.const(1.0), half_erfc])])
    return g.op("Mul", [x, phi])


def _unary(op_type: str) -> Callable[[_Builder, str], str]:
    return lambda g, x: g.op(op_type, [x])


# What each activation exports as, per dtype
_EXPORT_FLOAT32 = {
    "relu": _unary("Relu"), "sigmoid": _unary("Sigmoid"), "tanh": _unary("Tanh"),
    "leaky_relu": _leaky_relu_op, "softplus": _softplus_op, "silu": _silu,
    "gelu": _gelu_erfc_poly,
}
_EXPORT_FLOAT64 = {**_EXPORT_FLOAT32, "leaky_relu": _leaky_relu_max, "softplus": _softplus_stable,
                   "silu": _silu_div}

# Every form load recognises, per activation
_IMPORT_FORMS: list[tuple[str, Callable[[_Builder, str], str]]] = [
    ("relu", _unary("Relu")), ("sigmoid", _unary("Sigmoid")), ("tanh", _unary("Tanh")),
    ("leaky_relu", _leaky_relu_op), ("leaky_relu", _leaky_relu_max),
    ("softplus", _softplus_op), ("softplus", _softplus_stable),
    ("silu", _silu), ("silu", _silu_div), ("gelu", _gelu_erfc_poly),
] + [("gelu", (lambda s, k: lambda g, x: _gelu_erf(g, x, s, k))(scale, grouping))
     for scale in ("div", "mul") for grouping in (0, 1, 2)]


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------

def _check_network(net) -> None:
    from .network import Network
    if not isinstance(net, Network):
        raise TypeError(f"net: expected a layernet Network, got {type(net).__name__}")


def _check_opset(opset, onnx) -> int:
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or \
            not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset: expected an integer from {MIN_OPSET} to {newest} (the newest this "
                         f"onnx package knows), got {opset!r}")
    return int(opset)


def _output_names(net, output) -> tuple[bool, bool]:
    """(write the raw outputs, write the probabilities) for `output`."""
    if output not in OUTPUT_CHOICES:
        raise ValueError(f"output: expected one of {', '.join(map(repr, OUTPUT_CHOICES))}, got "
                         f"{output!r}")
    has_transform = output_transform(net.loss_function) is not None
    if output in ("probabilities", "both") and not has_transform:
        raise ValueError(f"output: {output!r} needs a classification loss (cross_entropy or "
                         f"binary_cross_entropy), this network has loss={net.loss_name!r}; use "
                         f"'raw' or 'auto'")
    if output == "auto":
        return (not has_transform, has_transform)
    return (output in ("raw", "both"), output in ("probabilities", "both"))


def _build_graph(net) -> _Builder:
    """The network's layers as nodes, from INPUT_NAME to the raw outputs."""
    table = _EXPORT_FLOAT64 if net.dtype == np.float64 else _EXPORT_FLOAT32
    g = _Builder(net.dtype)
    current = INPUT_NAME
    for i, layer in enumerate(net.layers):
        g.prefix = f"layer{i}_"
        kind = layer.kind
        if kind == "dense":
            W, B = g.const(layer.W, f"layer{i}_W"), g.const(layer.B, f"layer{i}_B")
            if net.dtype == np.float64:
                current = g.op("Add", [g.op("MatMul", [current, W]), B])
            else:
                current = g.op("Gemm", [current, W, B])
            if layer.activation != "identity":
                current = table[layer.activation](g, current)
        elif kind == "standardize":
            current = g.op("Sub", [current, g.const(layer.mean, f"layer{i}_mean")])
            current = g.op("Div", [current, g.const(layer.std, f"layer{i}_std")])
        elif kind == "dropout":
            continue
        else:
            raise ValueError(f"net.layers[{i}]: ONNX export does not know layer kind {kind!r}")
    return g


def to_onnx(net, opset: int = DEFAULT_OPSET, output: str = "auto"):
    """The network as an onnx.ModelProto (see the module docstring for the graph).

    opset: the default-domain opset to declare (13 or newer; 17 by default);
    the IR version is 8, or the newer one the opset needs.
    output: "auto" (the probabilities for a classification loss, else the raw
    outputs), "raw" (the raw outputs only: logits for cross_entropy),
    "probabilities", or "both" (graph outputs "outputs" and "probabilities").
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    from . import __version__

    _check_network(net)
    opset = _check_opset(opset, onnx)
    write_raw, write_proba = _output_names(net, output)
    size = sum(int(a.nbytes) for layer in net.layers if layer.built
               for a in (*layer.parameters().values(), *layer.constants().values()))
    if size > _MAX_BYTES:
        raise ValueError(f"net: {size:,} bytes of parameters do not fit in an ONNX file without "
                         f"external data (at most {_MAX_BYTES:,})")
    g = _build_graph(net)
    elem_type = TensorProto.DOUBLE if net.dtype == np.float64 else TensorProto.FLOAT
    raw = g.nodes[-1][2]   # every network has a Dense or Standardize layer
    nodes = [(op, ins, RAW_NAME if out == raw else out, attrs) for op, ins, out, attrs in g.nodes]
    outputs = []
    if write_raw:
        outputs.append(helper.make_tensor_value_info(RAW_NAME, elem_type, ["batch", net.n_out]))
    if write_proba:
        transform = output_transform(net.loss_function)
        attrs = {"axis": -1} if transform == "softmax" else {}
        nodes.append((_TRANSFORM_OPS[transform], [RAW_NAME], PROBA_NAME, attrs))
        outputs.append(helper.make_tensor_value_info(PROBA_NAME, elem_type, ["batch", net.n_out]))
    graph = helper.make_graph(
        [helper.make_node(op, ins, [out], name=out, **attrs) for op, ins, out, attrs in nodes],
        "layernet",
        [helper.make_tensor_value_info(INPUT_NAME, elem_type, ["batch", net.n_in])],
        outputs,
        initializer=[numpy_helper.from_array(np.ascontiguousarray(a), name)
                     for name, a in g.consts.items()])
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="layernet",
                              ir_version=max(IR_VERSION, helper.find_min_ir_version_for(opsets)),
                              producer_version=__version__)
    model.doc_string = (f"layernet network: {net.n_in} inputs, {net.n_out} outputs, "
                        f"{len(net.layers)} layers, loss {net.loss_name}, {net.dtype}")
    meta = {LOSS_KEY: json.dumps(net.loss_function.config())}
    if net.classes is not None:
        meta[CLASSES_KEY] = json.dumps(net.classes)
    helper.set_model_props(model, meta)
    return model


def save(net, path, opset: int = DEFAULT_OPSET, output: str = "auto") -> None:
    """Write to_onnx(net, opset, output) to `path`, atomically."""
    from ._files import write_atomic
    data = to_onnx(net, opset, output).SerializeToString()
    write_atomic(path, lambda stream: stream.write(data))


def export(model_path, onnx_path, opset: int = DEFAULT_OPSET, output: str = "auto") -> None:
    """Read a layernet model file and write its ONNX form to onnx_path."""
    from .model_file import load as load_model
    save(load_model(model_path), onnx_path, opset, output)


# ---------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------

_ATTRIBUTE_DEFAULTS = {("LeakyRelu", "alpha"): 0.01}
_MISSING = object()     # an attribute neither given nor defaulted
_COMMUTATIVE = frozenset(["Add", "Mul", "Max", "Min", "Equal"])
_PATTERNS = ("Dense as Gemm or MatMul (+ Add), one of the activation patterns, Sub then Div, "
             "Dropout, Identity, a final Softmax or Sigmoid")


class _Graph:
    """An ONNX graph indexed for matching: constants, producers and consumers."""

    def __init__(self, model, source_name: str):
        self.source = source_name
        graph = model.graph
        opset = None
        for entry in model.opset_import:
            if entry.domain in ("", "ai.onnx"):
                opset = entry.version
        if opset is None or opset < MIN_IMPORT_OPSET:
            raise self.bad(f"expected the default ONNX domain at opset {MIN_IMPORT_OPSET} or "
                           f"newer, got {opset}")
        self.opset = opset
        if len(graph.sparse_initializer):
            raise self.bad(f"sparse initializer {graph.sparse_initializer[0].values.name!r} is not "
                           f"supported")
        self.consts: dict[str, np.ndarray] = {}
        for tensor in graph.initializer:
            self.consts[tensor.name] = self._array(tensor, f"initializer {tensor.name!r}")
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                value = self._constant(node)
                self.consts[node.output[0]] = value
            else:
                self.nodes.append(node)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        for k, node in enumerate(self.nodes):
            if node.domain not in ("", "ai.onnx"):
                raise self.bad(f"{self.describe(k)} is in domain {node.domain!r}; only standard "
                               f"ONNX operators are supported")
            for name in node.output:
                if name in self.producer or name in self.consts:
                    raise self.bad(f"tensor {name!r} is written twice (by {self.describe(k)} "
                                   f"and before it)")
                if name:
                    self.producer[name] = k
            for name in node.input:
                if name and name not in self.consts:
                    self.consumers.setdefault(name, []).append(k)
        inputs = [v for v in graph.input if v.name not in self.consts]
        if len(inputs) != 1:
            raise self.bad(f"expected one graph input, got {len(inputs)} "
                           f"({', '.join(repr(v.name) for v in inputs)})")
        self.input = inputs[0].name
        if self.input in self.producer:
            raise self.bad(f"{self.describe(self.producer[self.input])} writes the graph input "
                           f"{self.input!r}")
        self.dtype, self.n_in = self._input_type(inputs[0])
        self.outputs = [v.name for v in graph.output]
        if not self.outputs:
            raise self.bad("the graph has no outputs")
        self.metadata = {p.key: p.value for p in model.metadata_props}
        self.used: set[int] = set()

    # Errors and descriptions ------------------------------------------------
    def bad(self, problem: str) -> ValueError:
        return ValueError(f"{self.source}: cannot import this ONNX graph as a layernet Network: "
                          f"{problem}")

    def describe(self, k: int) -> str:
        node = self.nodes[k]
        name = repr(node.name) if node.name else f"#{k} (unnamed)"
        return f"node {name} (op {node.op_type})"

    def unsupported(self, k: int, why: str = "") -> ValueError:
        return self.bad(f"{self.describe(k)} is not supported{': ' + why if why else ''}; "
                        f"supported: {_PATTERNS}")

    # Reading tensors ----------------------------------------------------------
    def _array(self, tensor, what: str) -> np.ndarray:
        from onnx import TensorProto, numpy_helper
        if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
            raise self.bad(f"{what} is stored as external data, which is not read; save the model "
                           f"with its tensors inside the file")
        try:
            return numpy_helper.to_array(tensor)
        except Exception as exc:  # a malformed tensor of any kind
            raise self.bad(f"{what} cannot be read ({type(exc).__name__}: {exc})") from None

    def _constant(self, node) -> np.ndarray:
        from onnx import helper
        if len(node.attribute) != 1 or len(node.output) != 1:
            raise self.bad(f"Constant node {node.name!r} is malformed")
        what = f"Constant node {node.name or node.output[0]!r}"
        attribute = node.attribute[0]
        if attribute.name == "value":
            return self._array(attribute.t, what)
        kinds = {"value_float": np.float32, "value_floats": np.float32,
                 "value_int": np.int64, "value_ints": np.int64}
        if attribute.name in kinds:
            return np.array(helper.get_attribute_value(attribute), dtype=kinds[attribute.name])
        raise self.bad(f"{what} holds a {attribute.name}, which is not supported")

    def _input_type(self, value_info) -> tuple[np.dtype, int | None]:
        from onnx import TensorProto
        kind = value_info.type.WhichOneof("value")
        if kind != "tensor_type":
            raise self.bad(f"input {value_info.name!r} is not a tensor")
        elem = value_info.type.tensor_type.elem_type
        dtypes = {TensorProto.FLOAT: np.dtype(np.float32), TensorProto.DOUBLE: np.dtype(np.float64)}
        if elem not in dtypes:
            name = TensorProto.DataType.Name(elem) if elem in TensorProto.DataType.values() else elem
            raise self.bad(f"input {value_info.name!r} has element type {name}, expected FLOAT or "
                           f"DOUBLE")
        n_in = None
        if value_info.type.tensor_type.HasField("shape"):
            dims = value_info.type.tensor_type.shape.dim
            if len(dims) != 2:
                raise self.bad(f"input {value_info.name!r} has {len(dims)} dimensions, expected 2 "
                               f"(batch, features)")
            if dims[1].HasField("dim_value"):
                n_in = int(dims[1].dim_value)
        return dtypes[elem], n_in

    def weight(self, k: int, position: int, what: str, ndim: tuple[int, ...]) -> np.ndarray:
        """Constant input `position` of node k, a finite float array of the graph's dtype."""
        node = self.nodes[k]
        name = node.input[position] if position < len(node.input) else ""
        if name not in self.consts:
            raise self.unsupported(k, f"its {what} ({name!r}) is not a constant")
        a = self.consts[name]
        if a.dtype != self.dtype:
            raise self.bad(f"{self.describe(k)}: its {what} {name!r} has dtype {a.dtype}, expected "
                           f"{self.dtype} like the graph's input")
        if a.ndim not in ndim:
            raise self.bad(f"{self.describe(k)}: its {what} {name!r} has shape {a.shape}, expected "
                           f"{' or '.join(f'{d}-D' for d in ndim)}")
        if not np.all(np.isfinite(a)):
            raise self.bad(f"{self.describe(k)}: its {what} {name!r} holds inf or nan")
        return a

    # Navigation -------------------------------------------------------------------
    def consumers_of(self, tensor: str) -> list[int]:
        return self.consumers.get(tensor, [])

    def attributes(self, k: int) -> dict:
        from onnx import helper
        return {a.name: helper.get_attribute_value(a) for a in self.nodes[k].attribute}

    def sole_consumer(self, tensor: str) -> int | None:
        found = self.consumers_of(tensor)
        return found[0] if len(found) == 1 and tensor not in self.outputs else None

    def take(self, *ks: int) -> None:
        self.used.update(ks)


def _const_matches(a: np.ndarray, value: np.ndarray, dtype: np.dtype) -> bool:
    if a.dtype != dtype or a.size != 1 or a.ndim > 2:
        return False
    # Within a unit in the last place of the graph's dtype
    tolerance = 2.0 ** -23 if dtype == np.float32 else 2.0 ** -52
    got, want = float(a.reshape(())), float(value)
    return abs(got - want) <= tolerance * abs(want)


def _attributes_match(op: str, got: dict, want: dict) -> bool:
    for name in set(got) | set(want):
        default = _ATTRIBUTE_DEFAULTS.get((op, name), _MISSING)
        g, w = got.get(name, default), want.get(name, default)
        if g is _MISSING or w is _MISSING:
            return False
        if isinstance(w, float):
            if not isinstance(g, float) or np.float32(g) != np.float32(w):
                return False
        elif g != w:
            return False
    return True


class _Form:
    """One activation form as a template: nodes over the input "x"."""

    def __init__(self, activation: str, write: Callable[[_Builder, str], str], dtype):
        g = _Builder(dtype)
        self.activation = activation
        self.output = write(g, "x")
        self.consts = g.consts
        self.producer = {out: (op, ins, attrs) for op, ins, out, attrs in g.nodes}
        self.size = len(g.nodes)


def _match_form(form: _Form, graph: _Graph, x: str, tensor: str) -> set[int] | None:
    """The graph nodes computing `tensor` from `x` exactly as `form` does, or None."""

    def match(t: str, name: str, bound: dict) -> dict | None:
        if t in bound:
            return bound if bound[t] == name else None
        if t in form.consts:
            if name in graph.consts and _const_matches(graph.consts[name], form.consts[t],
                                                       graph.dtype):
                return {**bound, t: name}
            return None
        if name in graph.consts or name not in graph.producer:
            return None
        op, ins, attrs = form.producer[t]
        k = graph.producer[name]
        node = graph.nodes[k]
        if node.op_type != op or len(node.output) != 1 or list(node.input).count("") or \
                len(node.input) != len(ins) or not _attributes_match(op, graph.attributes(k), attrs):
            return None
        bound = {**bound, t: name}
        orders = [list(node.input)]
        if op in _COMMUTATIVE and len(ins) == 2:
            orders.append(list(reversed(node.input)))
        for order in orders:
            result = bound
            for t_in, g_in in zip(ins, order):
                result = match(t_in, g_in, result)
                if result is None:
                    break
            if result is not None:
                return result
        return None

    bound = match(form.output, tensor, {"x": x})
    if bound is None:
        return None
    inner = {name for t, name in bound.items() if t != "x" and t not in form.consts}
    nodes = {graph.producer[name] for name in inner}
    if len(nodes) != form.size:
        return None
    # Nothing outside the pattern may read x or an intermediate tensor
    for name in inner | {x}:
        if name != tensor and (name in graph.outputs or
                               any(c not in nodes for c in graph.consumers_of(name))):
            return None
    return nodes


def _downstream(graph: _Graph, x: str, depth: int) -> list[str]:
    """Tensors computed from x within `depth` nodes."""
    seen, frontier, found = set(), [x], []
    for _ in range(depth):
        following = []
        for tensor in frontier:
            for k in graph.consumers_of(tensor):
                if k not in seen:
                    seen.add(k)
                    found.extend(o for o in graph.nodes[k].output if o)
                    following.extend(o for o in graph.nodes[k].output if o)
        frontier = following
    return found


def _match_activation(graph: _Graph, x: str, forms: list[_Form]) -> tuple[str, str, set[int]]:
    """(activation, its output, its nodes) for the pattern reading x; identity when none."""
    best = ("identity", x, set())
    for form in forms:
        op = form.producer[form.output][0]
        for tensor in _downstream(graph, x, form.size):
            if graph.nodes[graph.producer[tensor]].op_type != op:
                continue
            nodes = _match_form(form, graph, x, tensor)
            if nodes is not None and len(nodes) > len(best[2]):
                best = (form.activation, tensor, nodes)
    return best


def _final_transform(graph: _Graph, x: str, sigmoid_is_transform: bool):
    """(transform, node) when x's only reader is a Softmax or Sigmoid whose
    result is a graph output and nothing else; else None."""
    readers = graph.consumers_of(x)
    if len(readers) != 1:
        return None
    k = readers[0]
    node = graph.nodes[k]
    out = node.output[0] if len(node.output) == 1 else None
    if out is None or out not in graph.outputs or graph.consumers_of(out):
        return None
    if node.op_type == "Softmax":
        default_axis = -1 if graph.opset >= 13 else 1
        axis = graph.attributes(k).get("axis", default_axis)
        if axis not in (-1, 1):
            raise graph.unsupported(k, f"a final Softmax must be over the last axis, this one has "
                                       f"axis={axis}")
        return "softmax", k
    if node.op_type == "Sigmoid" and sigmoid_is_transform:
        return "sigmoid", k
    return None


def _dense(graph: _Graph, x: str, width: int | None):
    """(W, B, output) for a Dense pattern reading x, or None."""
    k = graph.sole_consumer(x)
    if k is None:
        return None
    node = graph.nodes[k]
    if node.op_type == "Gemm":
        attrs = graph.attributes(k)
        extra = set(attrs) - {"alpha", "beta", "transA", "transB"}
        if node.input[0] != x or attrs.get("transA", 0) != 0 or extra:
            raise graph.unsupported(k, "a Dense Gemm takes the layer's input as A, untransposed")
        W = graph.weight(k, 1, "B matrix", (2,))
        if attrs.get("transB", 0):
            W = W.T
        # alpha and beta fold into the weights (1 in every exporter we know)
        alpha, beta = (np.asarray(attrs.get(a, 1.0), dtype=W.dtype) for a in ("alpha", "beta"))
        W = W * alpha if alpha != 1 else W
        if len(node.input) > 2 and node.input[2]:
            B = _bias(graph, k, 2, W.shape[1])
            B = B * beta if beta != 1 else B
        else:
            B = np.zeros(W.shape[1], dtype=W.dtype)
        taken, out = [k], node.output[0]
    elif node.op_type == "MatMul":
        if node.input[0] != x:
            raise graph.unsupported(k, "a Dense MatMul multiplies the layer's input by a constant "
                                       "matrix on its right")
        W = graph.weight(k, 1, "weight matrix", (2,))
        taken, out = [k], node.output[0]
        B = np.zeros(W.shape[1], dtype=W.dtype)
        add = graph.sole_consumer(out)
        if add is not None and graph.nodes[add].op_type == "Add":
            inputs = list(graph.nodes[add].input)
            other = inputs[1] if inputs[0] == out else inputs[0]
            if other in graph.consts:
                B = _bias(graph, add, inputs.index(other), W.shape[1])
                taken, out = [k, add], graph.nodes[add].output[0]
    else:
        return None
    if 0 in W.shape:
        raise graph.bad(f"{graph.describe(k)}: its weight matrix has shape {W.shape}")
    if width is not None and W.shape[0] != width:
        raise graph.bad(f"{graph.describe(k)} takes {W.shape[0]} inputs, the layer before it "
                        f"gives {width}")
    graph.take(*taken)
    return W, B, out


def _bias(graph: _Graph, k: int, position: int, n_out: int) -> np.ndarray:
    B = graph.weight(k, position, "bias", (0, 1, 2))
    if B.size not in (1, n_out) or B.ndim == 2 and B.shape[0] != 1:
        raise graph.bad(f"{graph.describe(k)}: its bias has shape {B.shape}, expected ({n_out},)")
    return np.broadcast_to(B.reshape(-1), (n_out,)).copy()


def _vector(graph: _Graph, k: int, position: int, what: str, width: int | None) -> np.ndarray:
    a = graph.weight(k, position, what, (0, 1, 2))
    if a.ndim == 2 and a.shape[0] != 1:
        raise graph.bad(f"{graph.describe(k)}: its {what} has shape {a.shape}, expected one value "
                        f"per column")
    a = a.reshape(-1)
    if width is None:
        if a.size == 1:
            raise graph.bad(f"{graph.describe(k)}: the input's width is not declared, so a single "
                            f"{what} value cannot be spread over the columns")
        return a.copy()
    if a.size not in (1, width):
        raise graph.bad(f"{graph.describe(k)}: its {what} has {a.size} values, expected {width}")
    return np.broadcast_to(a, (width,)).copy()


def _standardize(graph: _Graph, x: str, width: int | None):
    """(mean, std, output) for Sub(x, mean) then Div(., std), or None."""
    k = graph.sole_consumer(x)
    if k is None or graph.nodes[k].op_type != "Sub" or graph.nodes[k].input[0] != x:
        return None
    mean = _vector(graph, k, 1, "mean", width)
    sub_out = graph.nodes[k].output[0]
    d = graph.sole_consumer(sub_out)
    if d is None or graph.nodes[d].op_type != "Div" or graph.nodes[d].input[0] != sub_out:
        raise graph.unsupported(k, "a Sub of a constant must be followed by a Div (standardization)")
    std = _vector(graph, d, 1, "std", mean.size)
    if (std <= 0).any():
        raise graph.bad(f"{graph.describe(d)}: standardization needs std > 0, got "
                        f"{float(std.min())!r}")
    graph.take(k, d)
    return mean, std, graph.nodes[d].output[0]


def _dropout(graph: _Graph, x: str):
    """(rate, output) for a Dropout node in inference mode, or None."""
    k = graph.sole_consumer(x)
    if k is None:
        return None
    node = graph.nodes[k]
    if node.op_type == "Identity":
        graph.take(k)
        return None, node.output[0]
    if node.op_type != "Dropout":
        return None
    if len(node.output) > 1 and node.output[1] and (graph.consumers_of(node.output[1])
                                                    or node.output[1] in graph.outputs):
        raise graph.unsupported(k, "its mask output is used")
    rate = graph.attributes(k).get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        ratio = graph.consts.get(node.input[1])
        rate = float(ratio.reshape(-1)[0]) if ratio is not None and ratio.size == 1 and \
            ratio.dtype.kind == "f" else None
    if len(node.input) > 2 and node.input[2]:
        training = graph.consts.get(node.input[2])
        if training is None or training.size != 1 or bool(training.reshape(-1)[0]):
            raise graph.unsupported(k, "its training_mode is not a constant false")
    if rate is None or not 0 <= rate < 1:
        raise graph.unsupported(k, f"its ratio is {rate!r}, expected a constant in [0, 1)")
    graph.take(k)
    return float(rate), node.output[0]


def _read_model(source, onnx):
    """(ModelProto, name for messages) from a path, bytes or a ModelProto."""
    if isinstance(source, onnx.ModelProto):
        return source, "<ONNX model>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<ONNX bytes>"
    elif isinstance(source, (str, os.PathLike)):
        name = os.fsdecode(os.fspath(source))
        with open(source, "rb") as stream:
            data = stream.read()
    else:
        raise TypeError(f"source: expected a path, the bytes of an ONNX file or an onnx.ModelProto, "
                        f"got {type(source).__name__}")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and relatives
        raise ValueError(f"{name}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.HasField("graph"):
        raise ValueError(f"{name}: not an ONNX model (no graph)")
    return model, name


def _metadata_loss(graph: _Graph):
    text = graph.metadata.get(LOSS_KEY)
    if text is None:
        return None
    from .losses import loss_from_config
    try:
        return loss_from_config(json.loads(text))
    except (TypeError, ValueError) as exc:
        raise graph.bad(f"metadata {LOSS_KEY!r} is not a valid loss ({exc})") from None


def load(source):
    """The layernet Network an ONNX graph computes (see the module docstring
    for the graphs read). `source`: a path, the file's bytes, or an
    onnx.ModelProto. Unsupported graphs raise ValueError naming the node."""
    onnx = _import_onnx()
    from .layers import Dense, Dropout, Standardize
    from .network import Network

    model, name = _read_model(source, onnx)
    graph = _Graph(model, name)
    meta_loss = _metadata_loss(graph)
    sigmoid_is_transform = meta_loss is None or output_transform(meta_loss) == "sigmoid"
    forms = [_Form(activation, write, graph.dtype) for activation, write in _IMPORT_FORMS]

    layers, tensors = [], []
    width, current, final = graph.n_in, graph.input, None
    while True:
        if any(k in graph.used for k in graph.consumers_of(current)):
            raise graph.bad(f"tensor {current!r} feeds a node already read: the graph has a cycle")
        final = _final_transform(graph, current, sigmoid_is_transform)
        if final is not None:
            graph.take(final[1])
            break
        if not graph.consumers_of(current):
            break
        dense = _dense(graph, current, width)
        if dense is not None:
            W, B, current = dense
            activation = "identity"
            if _final_transform(graph, current, sigmoid_is_transform) is None:
                activation, current, nodes = _match_activation(graph, current, forms)
                graph.take(*nodes)
            layers.append(Dense(W.shape[0], W.shape[1], activation))
            tensors.append({"W": W, "B": B})
            width = W.shape[1]
            continue
        standard = _standardize(graph, current, width)
        if standard is not None:
            mean, std, current = standard
            layers.append(Standardize(mean, std))
            tensors.append({})
            width = mean.size
            continue
        dropout = _dropout(graph, current)
        if dropout is not None:
            rate, current = dropout
            if rate is not None and layers:   # a leading Dropout is the identity in inference
                layers.append(Dropout(rate))
                tensors.append({})
            continue
        readers = graph.consumers_of(current)
        if current in graph.outputs:
            raise graph.bad(f"graph output {current!r} is also read by {graph.describe(readers[0])}")
        if len(readers) > 1:
            raise graph.bad(f"tensor {current!r} is read by {len(readers)} nodes "
                            f"({', '.join(graph.describe(k) for k in readers)}); "
                            f"expected a chain of layers")
        raise graph.unsupported(readers[0])

    left = [k for k in range(len(graph.nodes)) if k not in graph.used]
    if left:
        raise graph.unsupported(left[0], "it is not on the chain of layers from the input")
    if not layers:
        raise graph.bad("it has no layers (no Gemm, MatMul or standardization)")
    allowed = {current} if final is None else {graph.nodes[final[1]].output[0], current}
    wanted = current if final is None else graph.nodes[final[1]].output[0]
    extra = [o for o in graph.outputs if o not in allowed]
    if extra or wanted not in graph.outputs:
        raise graph.bad(f"graph output {(extra or graph.outputs)[0]!r} is not the network's "
                        f"output or its probabilities")
    transform = None if final is None else final[0]

    loss = meta_loss
    if transform is not None:
        if loss is None or output_transform(loss) != transform:
            if loss is not None:
                raise graph.bad(f"the graph ends with {_TRANSFORM_OPS[transform]}, but metadata "
                                f"{LOSS_KEY!r} names loss {loss.name!r}")
            loss = loss_for_transform(transform)
    try:
        net = Network(layers, dtype=graph.dtype, loss=loss or "mse")
    except (TypeError, ValueError) as exc:
        raise graph.bad(str(exc)) from None
    for layer, values in zip(net.layers, tensors):
        for key, value in values.items():
            setattr(layer, key, value)
    classes = graph.metadata.get(CLASSES_KEY)
    if classes is not None:
        try:
            net.classes = json.loads(classes)
        except (TypeError, ValueError) as exc:
            raise graph.bad(f"metadata {CLASSES_KEY!r} is not a valid class list ({exc})") from None
    return net
