"""ln.from_torch (layernet.interop): a torch nn.Sequential becomes a Network
whose predictions equal the module's, for every activation and both dtypes;
unsupported modules fail naming the layer's index and type.

PyTorch is a test oracle here, not a dependency of layernet: this module
runs when torch is installed. Run with -s to print the largest differences.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of this module")

import layernet as ln  # noqa: E402
from layernet.interop import from_torch  # noqa: E402

nn = torch.nn
DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
ACTIVATIONS = {"identity": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
               "leaky_relu": nn.LeakyReLU, "softplus": nn.Softplus, "silu": nn.SiLU,
               "gelu": nn.GELU}
WORST: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report_worst():
    yield
    print("\nlargest differences from torch:", {k: f"{v:.3g}" for k, v in sorted(WORST.items())})


def tol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


def rel(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def check(net, module, dtype, proba=False, n=500, n_in=5, seed=0):
    """Assert net's predict (or predict_proba) equals module's output."""
    X = (np.random.default_rng(seed).standard_normal((n, n_in)) * 2).astype(dtype)
    with torch.no_grad():
        want = module(torch.from_numpy(X)).numpy()
    got = net.predict_proba(X) if proba else net.predict(X)
    assert got.dtype == dtype
    diff = rel(got, want)
    key = np.dtype(dtype).name
    WORST[key] = max(WORST.get(key, 0.0), diff)
    assert diff <= tol(dtype), diff
    return diff


def mlp(activation, dtype, *tail, seed=0):
    torch.manual_seed(seed)
    act = ACTIVATIONS[activation]
    module = nn.Sequential(nn.Linear(5, 16), act(), nn.Linear(16, 12), act(), nn.Linear(12, 3),
                           *tail)
    return module.to(TORCH_DTYPE[dtype]).eval()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_predictions_equal_torch(dtype, activation):
    module = mlp(activation, dtype)
    net = from_torch(module)
    assert net.dtype == dtype and net.loss_name == "mse"
    assert [layer.activation for layer in net.layers] == [activation, activation, "identity"]
    for n in (1, 500):
        check(net, module, dtype, n=n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_final_activation(dtype, activation):
    """An activation after the last Linear is that Dense layer's activation
    (a final Sigmoid is the loss's transform unless the loss says otherwise)."""
    module = mlp(activation, dtype, ACTIVATIONS[activation]())
    loss = "mse" if activation == "sigmoid" else None
    net = from_torch(module, loss=loss)
    assert net.layers[-1].activation == activation and net.loss_name == "mse"
    check(net, module, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_final_softmax_makes_a_cross_entropy_network(dtype):
    module = mlp("gelu", dtype, nn.Softmax(dim=-1))
    net = from_torch(module)
    assert net.loss_name == "cross_entropy" and net.layers[-1].activation == "identity"
    check(net, module, dtype, proba=True)
    # predict gives the logits: the module without its Softmax
    check(net, module[:-1], dtype)
    for dim in (1, None):
        assert from_torch(mlp("relu", dtype, nn.Softmax(dim=dim))).loss_name == "cross_entropy"


@pytest.mark.parametrize("dtype", DTYPES)
def test_final_sigmoid_makes_a_binary_cross_entropy_network(dtype):
    module = mlp("silu", dtype, nn.Sigmoid())
    net = from_torch(module)
    assert net.loss_name == "binary_cross_entropy" and net.layers[-1].activation == "identity"
    check(net, module, dtype, proba=True)
    check(net, module[:-1], dtype)
    # With a loss that has no sigmoid transform, the Sigmoid is an activation
    net = from_torch(module, loss=ln.Huber(0.5))
    assert net.loss_function == ln.Huber(0.5) and net.layers[-1].activation == "sigmoid"
    check(net, module, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_kept_or_dropped_identity_and_nesting(dtype):
    torch.manual_seed(3)
    module = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Dropout(0.3),
                           nn.Sequential(nn.Identity(), nn.Linear(8, 8, bias=False), nn.ReLU()),
                           nn.Dropout(0.1), nn.Linear(8, 2)).to(TORCH_DTYPE[dtype]).eval()
    kept = from_torch(module)
    assert [repr(layer).split("(")[0] for layer in kept.layers] == \
        ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [kept.layers[1].rate, kept.layers[3].rate] == [0.3, 0.1]
    np.testing.assert_array_equal(kept.layers[2].B, 0)
    check(kept, module, dtype)
    dropped = from_torch(module, dropout="drop")
    assert [layer.activation for layer in dropped.layers] == ["tanh", "relu", "identity"]
    check(dropped, module, dtype)


def test_weights_are_copied():
    module = mlp("relu", np.float64)
    net = from_torch(module)
    np.testing.assert_array_equal(net.layers[0].W, module[0].weight.detach().numpy().T)
    np.testing.assert_array_equal(net.layers[0].B, module[0].bias.detach().numpy())
    net.layers[0].W[...] = 0
    assert torch.count_nonzero(module[0].weight) > 0


def test_a_converted_network_trains():
    module = mlp("tanh", np.float32)
    net = from_torch(module)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)).astype(np.float32)
    Y = rng.standard_normal((64, 3)).astype(np.float32)
    before = net.loss(X, Y)
    net.fit(X, Y, epochs=5, batch_size=16, lr=0.05, verbose=0)
    assert net.loss(X, Y) < before


@pytest.mark.parametrize("module,pattern", [
    (nn.Sequential(nn.Linear(5, 4), nn.ELU()), r"layer 1 \(ELU\): not supported; supported: "),
    (nn.Sequential(nn.Linear(5, 4), nn.GELU(approximate="tanh")),
     r"layer 1 \(GELU\): GELU\(approximate='tanh'\) is not supported"),
    (nn.Sequential(nn.Linear(5, 4), nn.LeakyReLU(0.2)),
     r"layer 1 \(LeakyReLU\): LeakyReLU with negative_slope=0.2 is not supported"),
    (nn.Sequential(nn.Linear(5, 4), nn.Softplus(beta=2)),
     r"layer 1 \(Softplus\): Softplus\(beta=2, threshold=20.*\) is not supported"),
    (nn.Sequential(nn.Linear(5, 4), nn.Softplus(threshold=5)),
     r"layer 1 \(Softplus\): Softplus\(beta=1.*threshold=5.*\) is not supported"),
    (nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Tanh(), nn.Linear(4, 2)),
     r"layer 2 \(Tanh\): an activation must directly follow a Linear layer"),
    (nn.Sequential(nn.ReLU(), nn.Linear(5, 4)),
     r"layer 0 \(ReLU\): an activation must directly follow a Linear layer"),
    (nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.5), nn.ReLU()),
     r"layer 1 \(Dropout\): comes between a Linear layer and its activation"),
    (nn.Sequential(nn.Dropout(0.5), nn.Linear(5, 4)),
     r"layer 0 \(Dropout\): a Dropout cannot come first"),
    (nn.Sequential(nn.Linear(5, 4), nn.Linear(3, 2)),
     r"layer 1 \(Linear\): takes 3 inputs, the layer before it gives 4"),
    (nn.Sequential(nn.Linear(5, 4), nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1))),
     r"layer 1.1 \(Conv1d\): not supported"),
    (nn.Sequential(nn.Linear(5, 4), nn.Softmax(dim=0)),
     r"layer 1 \(Softmax\): a final Softmax must be over the last dimension \(dim=-1 or 1\), "
     r"got dim=0"),
    (nn.Sequential(nn.Linear(5, 4), nn.Softmax(dim=-1), nn.Linear(4, 2)),
     r"layer 1 \(Softmax\): not supported"),
    (nn.Sequential(nn.Linear(5, 4), nn.Softmax(dim=-1), nn.Dropout(0.5)),
     r"layer 2 \(Dropout\): comes after the final Softmax"),
    (nn.Sequential(nn.Linear(5, 4).half()),
     r"layer 0 \(Linear\): parameters of dtype torch.float16 are not supported"),
    (nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 2).double()),
     r"layer 1 \(Linear\): Linear weight has dtype float64, expected float32"),
    (nn.Sequential(nn.Identity(), nn.Dropout(0.1)),
     r"layer 1 \(Dropout\): a Dropout cannot come first"),
    (nn.Sequential(nn.Identity()), r"module: expected at least one Linear layer, found none"),
    (nn.Sequential(), r"module: expected at least one Linear layer, found none"),
])
def test_errors_name_the_layer(module, pattern):
    with pytest.raises(ValueError, match=pattern):
        from_torch(module)


def test_other_errors():
    class Residual(nn.Sequential):
        def forward(self, x):
            return x + super().forward(x)

    with pytest.raises(TypeError, match=r"module: expected a torch.nn.Sequential, got Residual"):
        from_torch(Residual(nn.Linear(3, 3)))
    with pytest.raises(TypeError, match=r"module: expected a torch.nn.Sequential, got Linear"):
        from_torch(nn.Linear(3, 3))
    with pytest.raises(TypeError, match=r"module: expected a torch.nn.Sequential, got str"):
        from_torch("model.pt")
    with pytest.raises(ValueError, match=r"dropout: expected 'keep' or 'drop', got 'remove'"):
        from_torch(nn.Sequential(nn.Linear(3, 3)), dropout="remove")
    with pytest.raises(ValueError, match=r"loss: the module ends with Softmax, which needs a loss "
                                         r"with that output transform, got 'mse'"):
        from_torch(nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=-1)), loss="mse")
    broken = nn.Sequential(nn.Linear(3, 3))
    with torch.no_grad():
        broken[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\): Linear holds inf or nan"):
        from_torch(broken)
