"""layernet's public API against its error contract, under random inputs.

test_fuzz_driver runs tests/fuzz_driver.py in a separate process (so that a
segfault or an abort is a failure, not the end of the test run) from an empty
directory, with the import path this process got layernet from, and asserts
that it found no crash, no exception outside the contract, no silent misread
and no failed call that changed the network.

The other tests are the smallest reproducers of what the driver found, one
per defect, each asserting the behaviour the contract asks for.
"""
import copy
import io
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import layernet as ln
from child_python import child_env

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_driver.py")
EXAMPLES = int(os.environ.get("LAYERNET_FUZZ_EXAMPLES", "120"))
N_GROUPS = 12


def _short(summary: dict) -> str:
    keep = {k: summary[k] for k in ("calls", "crashes", "crash_examples",
                                    "undocumented_exception_types", "undocumented", "misreads",
                                    "misread_examples", "state_changing_failures",
                                    "state_change_examples", "driver_errors", "notes")}
    return json.dumps(keep, indent=1, default=repr)


def test_fuzz_driver(tmp_path):
    env = child_env(LAYERNET_FUZZ_EXAMPLES=str(EXAMPLES))
    proc = subprocess.run([sys.executable, DRIVER], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"the driver exited with {proc.returncode}:\n{proc.stderr[-4000:]}"
    summary = json.loads(proc.stdout)
    print(_short(summary))
    assert summary["driver_errors"] == [], _short(summary)
    # every group ran (or crashed), and each of its examples made at least one call
    assert len(summary["groups"]) + summary["crashes"] >= N_GROUPS, _short(summary)
    for name, group in summary["groups"].items():
        assert group["calls"] >= EXAMPLES, f"{name}: only {group['calls']} calls"
    assert summary["calls"] >= N_GROUPS * EXAMPLES, _short(summary)
    assert summary["crashes"] == 0, _short(summary)
    assert summary["undocumented_exception_types"] == 0, _short(summary)
    assert summary["misreads"] == 0, _short(summary)
    assert summary["state_changing_failures"] == 0, _short(summary)


def test_driver_counts_what_it_is_shown():
    """The driver's checks themselves: a disallowed exception, a misread and a
    state change are each recorded (so a clean summary means something)."""
    sys.path.insert(0, os.path.dirname(DRIVER))
    try:
        import fuzz_driver as fd
    finally:
        sys.path.pop(0)
    rec = fd.Recorder()
    net = ln.Network([ln.Dense(2, 2)], seed=0)

    def corrupt_then_raise():
        net.layers[0].B[0] += 1.0
        raise KeyError("boom")
    out = fd.call(rec, "probe", "probe", corrupt_then_raise, net=net)
    assert not out.ok and rec.calls == 1
    assert "KeyError" in rec.undocumented and rec.state_change_count == 1
    assert fd.undocumented(np.exceptions.AxisError(1, 1), huge=False)
    assert fd.undocumented(MemoryError(), huge=False) and not fd.undocumented(MemoryError(), True)
    assert not fd.undocumented(FileNotFoundError(), huge=False)
    m = fd.Made(np.array([[1.0, 2.0]]), "X")
    fd.make_twin(m, np.float32)
    fd.compare_with_twin(rec, "probe", "probe", fd.Outcome(True, np.array([1.0])), [m],
                         lambda: fd.Outcome(True, np.array([2.0])))
    assert rec.misread_count == 1
    assert fd.same_array(np.float32([1.0]), np.float32([np.nextafter(np.float32(1), 2)]), ulps=1) \
        is None
    assert fd.same_array(np.float32([0.0]), np.float32([-0.0])) is not None


# ---------------------------------------------------------------------------
# Reproducers of the defects the driver found
# ---------------------------------------------------------------------------

ALLOWED = (ValueError, TypeError, FloatingPointError, OSError)


def _raises_allowed(fn, memory_error_allowed=False):
    """fn() must raise, and only an exception the contract allows."""
    try:
        fn()
    except MemoryError as exc:
        if not memory_error_allowed:
            pytest.fail(f"raised MemoryError ({exc}) for a small request")
        return exc
    except ALLOWED as exc:
        assert not isinstance(exc, (IndexError, KeyError, np.exceptions.AxisError)), repr(exc)
        return exc
    except BaseException as exc:   # noqa: BLE001 - the point is to catch anything else
        pytest.fail(f"raised {type(exc).__name__} ({exc}), outside the contract")
    pytest.fail("did not raise")


@pytest.mark.parametrize("n_in", [2**64, 10**400], ids=["2**64", "10**400"])
def test_dense_wider_than_any_machine_is_a_clear_error(n_in):
    # NetEngine converts the width to a C ssize_t: OverflowError today
    _raises_allowed(lambda: ln.Network([ln.Dense(n_in, 1)]), memory_error_allowed=True)


@pytest.mark.parametrize("attr", ["W", "B"])
def test_assigning_huge_python_ints_to_parameters(attr):
    net = ln.Network([ln.Dense(2, 3)], seed=0)
    before = net.get_weights()
    value = [[10**400] * 3] * 2 if attr == "W" else [10**400] * 3
    _raises_allowed(lambda: setattr(net.layers[0], attr, value))
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_set_weights_with_huge_python_ints():
    net = ln.Network([ln.Dense(2, 3)], seed=0)
    weights = net.get_weights()
    _raises_allowed(lambda: net.set_weights([[[10**400] * 3] * 2, weights[1]]))


@pytest.mark.parametrize("how", ["W", "set_weights"])
def test_complex_parameters_are_refused_not_truncated(how):
    net = ln.Network([ln.Dense(2, 3)], seed=0)
    before = net.get_weights()
    value = np.full((2, 3), 1 + 2j)
    if how == "W":
        _raises_allowed(lambda: setattr(net.layers[0], "W", value))
    else:
        _raises_allowed(lambda: net.set_weights([value, before[1]]))
    np.testing.assert_array_equal(net.get_weights()[0], before[0])


@pytest.mark.parametrize("attr", ["W", "B"])
def test_parameters_of_a_layer_outside_a_network(attr):
    layer = ln.Dense(2, 3)
    _raises_allowed(lambda: getattr(layer, attr))
    _raises_allowed(lambda: setattr(layer, attr, np.zeros((2, 3) if attr == "W" else 3)))


@pytest.mark.parametrize("file", [5, "summary.txt"])
def test_summary_to_something_that_is_not_a_file(file):
    net = ln.Network([ln.Dense(2, 3)], seed=0)
    _raises_allowed(lambda: net.summary(file=file))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_train_step_checks_native_targets_like_other_dtypes(dtype):
    """Cross-entropy rows must be probabilities; the native-array fast path skipped the check."""
    net = ln.Network([ln.Dense(2, 3)], dtype=dtype, seed=0, loss="cross_entropy")
    X = np.ones((2, 2), dtype)
    Y = np.array([[5, -3, 0], [0, 0, 0]], dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    with pytest.raises(ValueError, match="Y"):
        net.train_step(X, Y.astype(other), 0.1)
    before = net.get_weights()
    with pytest.raises(ValueError, match="Y"):
        net.train_step(X, Y, 0.1)
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_train_step_names_a_nan_in_native_x():
    net = ln.Network([ln.Dense(2, 3)], seed=0)
    X = np.ones((2, 2), np.float32)
    X[1, 0] = np.nan
    with pytest.raises(ValueError, match="row 1, column 0"):
        net.train_step(X.astype(np.float64), np.zeros((2, 3)), 0.1)
    with pytest.raises(ValueError, match="row 1, column 0"):
        net.train_step(X, np.zeros((2, 3), np.float32), 0.1)


def _unloadable(net):
    net.metadata = None


def _negative_epochs(net):
    net.epochs_trained = -1


def _fractional_epochs(net):
    net.epochs_trained = 1.5


def _nan_weight(net):
    net.layers[0].W[0, 0] = np.nan


@pytest.mark.parametrize("change", [_unloadable, _negative_epochs, _fractional_epochs,
                                    _nan_weight])
def test_save_never_writes_a_file_that_load_refuses(change):
    net = ln.Network([ln.Dense(2, 3)], seed=0)
    change(net)
    buffer = io.BytesIO()
    try:
        net.save(buffer)
    except (ValueError, TypeError):
        return                      # refusing to save is fine
    ln.load(buffer.getvalue())      # a file that was written must load


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_copies_of_a_network_with_list_metadata(how):
    net = ln.Network([ln.Dense(2, 3)], seed=0)
    net.metadata = [1, 2]
    fn = {"copy": copy.copy, "deepcopy": copy.deepcopy,
          "pickle": lambda n: pickle.loads(pickle.dumps(n))}[how]
    try:
        other = fn(net)
    except TypeError:
        return                      # refusing metadata that is not a dict is fine
    except ValueError as exc:
        assert "not a valid layernet model file" not in str(exc), str(exc)
        return
    assert other.metadata == [1, 2]


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_copies_train_like_the_original(how):
    """A copy keeps what train_step's dropout masks depend on (the seed, the step count)."""
    net = ln.Network([ln.Dense(3, 8, "relu"), ln.Dropout(0.5), ln.Dense(8, 2)], seed=5)
    X = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    Y = np.zeros((6, 2), np.float32)
    net.train_step(X, Y, 0.01)
    other = {"copy": copy.copy, "deepcopy": copy.deepcopy,
             "pickle": lambda n: pickle.loads(pickle.dumps(n))}[how](net)
    assert net.train_step(X, Y, 0.01) == other.train_step(X, Y, 0.01)
    for a, b in zip(net.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_with_a_bytes_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    checkpoint = ln.ModelCheckpoint(b"ck_{epoch}.npz")
    assert checkpoint.path == "ck_{epoch}.npz"
    net = ln.Network([ln.Dense(2, 1)], seed=0)
    net.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, callbacks=[checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["ck_1.npz"]


@pytest.mark.parametrize("callback", [
    lambda: ln.EarlyStopping(),                                   # val_loss without validation
    lambda: ln.EarlyStopping("accuracy"),                         # no accuracy for mse
    lambda: ln.ModelCheckpoint("ck.npz", save_best_only=True),    # val_loss without validation
], ids=["early-stopping-val_loss", "early-stopping-accuracy", "checkpoint-best-val_loss"])
def test_fit_refuses_a_callback_monitor_before_training(callback, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = ln.Network([ln.Dense(2, 1)], seed=0)
    before = net.get_weights()
    with pytest.raises(ValueError, match="monitor"):
        net.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, callbacks=[callback()])
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert net.epochs_trained == 0 and net.optimizer is None


def test_fit_failing_at_its_first_step_keeps_the_optimizer_and_loss():
    net = ln.Network([ln.Dense(2, 2)], seed=0)
    X, Y = np.ones((4, 2)), np.ones((4, 2))
    net.fit(X, Y, epochs=1, optimizer=ln.SGD(0.01, momentum=0.9))
    optimizer, state = net.optimizer, [a.copy() for t in net.optimizer.state for a in t]
    before = net.get_weights()
    with pytest.raises(FloatingPointError):
        net.fit(X, Y, epochs=1, optimizer=ln.SGD(1e300), loss="mse_sum")
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert net.optimizer is optimizer and net.loss_name == "mse"
    for a, b in zip(state, [a for t in net.optimizer.state for a in t]):
        np.testing.assert_array_equal(a, b)
