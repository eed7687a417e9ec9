"""One Network used from many threads at once.

- Read-only calls (predict, predict_proba, loss, evaluate, gradients) from 8
  threads with different batch sizes return exactly, bit for bit, what one
  thread computes alone.
- A predict running while another thread trains sees the parameters of before
  or after a step, never a mixture: each concurrent prediction equals, bit for
  bit, the prediction of one of the parameter snapshots taken between steps.
- Separate networks in parallel threads do not disturb each other.
- A second trainer gets a clear RuntimeError and changes nothing.
"""
import threading

import numpy as np
import pytest

import layernet as ln

DTYPES = [np.float32, np.float64]
BATCHES = [1, 2, 3, 7, 16, 33, 64, 100]


def make_net(dtype, seed=0, loss="mse", n_out=3):
    layers = [ln.Dense(20, 48, "relu"), ln.Dense(48, 40, "tanh"), ln.Dropout(0.25),
              ln.Dense(40, 24, "gelu"), ln.Dense(24, n_out)]
    return ln.Network(layers, dtype=dtype, seed=seed, loss=loss)


def run_threads(worker, n_threads):
    """Run worker(i) in n_threads threads started together; re-raise the first error."""
    errors = []
    barrier = threading.Barrier(n_threads)

    def body(i):
        try:
            barrier.wait()
            worker(i)
        except BaseException as exc:   # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a worker thread hung"
    if errors:
        raise errors[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_eight_threads_read_only_calls_are_bit_identical(dtype):
    net = make_net(dtype)
    rng = np.random.default_rng(1)
    inputs = [(rng.standard_normal((b, 20)).astype(dtype), rng.standard_normal((b, 3)).astype(dtype))
              for b in BATCHES]
    reference = [(net.predict(X), net.loss(X, Y), [tuple(g) for g in net.gradients(X, Y)])
                 for X, Y in inputs]
    mismatches = []

    def worker(i):
        for rep in range(25):
            j = (i * 3 + rep) % len(inputs)          # each thread walks the batch sizes differently
            X, Y = inputs[j]
            H, L, G = reference[j]
            if not np.array_equal(net.predict(X), H):
                mismatches.append(("predict", i, rep, j))
            if net.loss(X, Y) != L:
                mismatches.append(("loss", i, rep, j))
            if rep % 5 == 0:
                got = net.gradients(X, Y)
                if not all(np.array_equal(a, b) for ga, gb in zip(got, G) for a, b in zip(ga, gb)):
                    mismatches.append(("gradients", i, rep, j))

    run_threads(worker, 8)
    assert mismatches == []


def test_eight_threads_classification_calls():
    net = make_net(np.float64, loss="cross_entropy", n_out=4)
    rng = np.random.default_rng(2)
    inputs = [(rng.standard_normal((b, 20)), rng.integers(0, 4, b)) for b in BATCHES]
    reference = [(net.predict_proba(X), net.evaluate(X, y)) for X, y in inputs]
    mismatches = []

    def worker(i):
        for rep in range(20):
            j = (i + rep) % len(inputs)
            X, y = inputs[j]
            P, E = reference[j]
            if not np.array_equal(net.predict_proba(X), P) or net.evaluate(X, y) != E:
                mismatches.append((i, rep, j))

    run_threads(worker, 8)
    assert mismatches == []


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("how", ["train_step", "fit"])
def test_predict_while_training_sees_whole_steps(dtype, how):
    net = make_net(dtype, seed=3)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((64, 20)).astype(dtype)
    Y = rng.standard_normal((64, 3)).astype(dtype)
    probes = [rng.standard_normal((b, 20)).astype(dtype) for b in (1, 5, 32)]
    snapshots = [net.get_weights()]
    seen = [[] for _ in probes]
    done = threading.Event()

    class Snapshot(ln.Callback):
        def on_epoch_end(self, net, epoch, logs):
            snapshots.append(net.get_weights())

    def trainer():
        try:
            if how == "train_step":
                for _ in range(40):
                    net.train_step(X, Y, 0.01)
                    snapshots.append(net.get_weights())
            else:
                # one batch per epoch, so each epoch's end is a step boundary
                net.fit(X, Y, epochs=40, batch_size=64, optimizer=ln.Adam(1e-3),
                        callbacks=[Snapshot()], seed=0)
        finally:
            done.set()

    def predictor(i):
        while not done.is_set():
            for k, P in enumerate(probes):
                seen[k].append(net.predict(P))

    t = threading.Thread(target=trainer)
    readers = [threading.Thread(target=predictor, args=(i,)) for i in range(3)]
    t.start()
    for r in readers:
        r.start()
    t.join(timeout=300)
    for r in readers:
        r.join(timeout=60)
    assert len(snapshots) == 41

    # The prediction of every snapshot, computed alone afterwards
    check = make_net(dtype, seed=3)
    allowed = [set() for _ in probes]
    for weights in snapshots:
        check.set_weights(weights)
        for k, P in enumerate(probes):
            allowed[k].add(check.predict(P).tobytes())
    assert sum(len(s) for s in seen) > 0
    for k in range(len(probes)):
        torn = [i for i, out in enumerate(seen[k]) if out.tobytes() not in allowed[k]]
        assert torn == [], f"{len(torn)} of {len(seen[k])} predictions mixed two steps"


@pytest.mark.parametrize("dtype", DTYPES)
def test_separate_networks_in_parallel(dtype):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 20)).astype(dtype)
    Y = rng.standard_normal((50, 3)).astype(dtype)
    nets = [make_net(dtype, seed=s) for s in range(4)]
    twins = [make_net(dtype, seed=s) for s in range(4)]
    # the expected result: each twin trained alone, one after another
    for twin in twins:
        twin.fit(X, Y, epochs=5, batch_size=10, optimizer=ln.Adam(1e-3), seed=1)

    def worker(i):
        nets[i].fit(X, Y, epochs=5, batch_size=10, optimizer=ln.Adam(1e-3), seed=1)

    run_threads(worker, 4)
    for net, twin in zip(nets, twins):
        for a, b in zip(net.get_weights(), twin.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_second_trainer_gets_runtime_error():
    net = make_net(np.float64)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4000, 20))
    Y = rng.standard_normal((4000, 3))
    started = threading.Event()
    outcome = {}

    class Signal(ln.Callback):
        def on_batches_end(self, net, batches_done, running_loss):
            started.set()

    def trainer():
        net.fit(X, Y, epochs=3, batch_size=8, lr=1e-3, callbacks=[Signal()])

    t = threading.Thread(target=trainer)
    t.start()
    assert started.wait(60)
    before = net.optimizer
    try:
        net.train_step(X[:4], Y[:4], 0.1)
    except RuntimeError as exc:
        outcome["error"] = str(exc)
    try:
        net.fit(X[:4], Y[:4], epochs=1, optimizer=ln.Adam())
    except RuntimeError as exc:
        outcome["fit_error"] = str(exc)
    t.join(timeout=300)
    assert "already training in another thread" in outcome.get("error", "")
    assert "already training in another thread" in outcome.get("fit_error", "")
    assert net.optimizer is before          # the refused fit did not swap the optimizer
