"""Data-parallel training over MPI (layernet.distributed).

The MPI scenarios run as separate jobs, `mpiexec -n 2 python -m mpi4py
tests/mpi_*.py`, and print JSON lines that these tests check. The oracle for
the numbers is layernet's own single-process fit with the global batch size
(itself tested against numpy in test_fit.py): two ranks with batch_size b must
give what one process gives with 2b, to rounding. Each job runs under a
timeout so that a hang fails the test instead of stalling the suite.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import layernet as ln
from child_python import PACKAGE_PARENT, child_env
import layernet.distributed as dist

TESTS = Path(__file__).resolve().parent
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE")
HANG_GUARD_SECONDS = 120


def mpiexec() -> str:
    """mpiexec next to this Python (the mpich wheel installs it there), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    assert found, 'mpiexec not found: install the test extra (pip install "layernet[test]")'
    return found


def run_job(script: str, *args, ranks: int = 2, with_mpi4py_main: bool = True):
    """Run tests/<script> on `ranks` processes; returns the CompletedProcess."""
    # two ranks share the two cores
    env = child_env({k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES},
                    LAYERNET_NUM_THREADS="1")
    python = [sys.executable, "-m", "mpi4py"] if with_mpi4py_main else [sys.executable]
    command = [mpiexec(), "-n", str(ranks), *python, str(TESTS / script), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env,
                          timeout=HANG_GUARD_SECONDS, cwd=PACKAGE_PARENT)


def json_lines(completed) -> list[dict]:
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


# ---------------------------------------------------------------------------
# Without MPI
# ---------------------------------------------------------------------------

@pytest.fixture
def no_launcher(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_rank_and_size_outside_mpi_do_not_start_mpi(no_launcher):
    assert "mpi4py.MPI" not in sys.modules
    assert (dist.rank(), dist.size(), dist.is_root()) == (0, 1, True)
    assert "mpi4py.MPI" not in sys.modules    # asking did not initialise MPI


def test_without_mpi4py_rank_is_zero_and_fit_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)    # import mpi4py now fails
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    monkeypatch.setenv("PMI_RANK", "1")                  # even as if a launcher started us
    assert (dist.rank(), dist.size(), dist.is_root()) == (0, 1, True)
    net = ln.Network([ln.Dense(3, 2)], dtype=np.float64, seed=0)
    before = net.get_weights()
    X, Y = np.ones((4, 3)), np.zeros((4, 2))
    with pytest.raises(ValueError, match=r'distributed: .*pip install "layernet\[mpi\]"'):
        net.fit(X, Y, epochs=1, distributed=True)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights()))
    assert net.fit(X, Y, epochs=1).epoch == [0]          # not left locked


def test_distributed_argument_errors(no_launcher):
    net = ln.Network([ln.Dense(3, 2)], dtype=np.float64, seed=0)
    X, Y = np.ones((4, 3)), np.zeros((4, 2))
    with pytest.raises(TypeError, match=r"distributed: expected True, False or an mpi4py "
                                        r"communicator .* got str"):
        net.fit(X, Y, distributed="yes")
    with pytest.raises(TypeError, match="got int"):
        net.fit(X, Y, distributed=2)
    with pytest.raises(ValueError, match=r"lr_scaling, warmup_epochs: apply only to distributed "
                                         r"training .* lr_scaling='linear'"):
        net.fit(X, Y, lr_scaling="linear")
    with pytest.raises(ValueError, match="warmup_epochs=3"):
        net.fit(X, Y, warmup_epochs=3)
    with pytest.raises(TypeError, match="comm: expected"):
        dist.rank("world")
    assert "mpi4py.MPI" not in sys.modules
    assert net.epochs_trained == 0


def test_linear_scaling_ramp_by_hand():
    # Goyal et al.: from lr to size * lr in equal steps over the warm-up epochs
    assert [dist.lr_factor("linear", 4, 8, e) for e in range(6)] == [1.0, 2.75, 4.5, 6.25, 8.0, 8.0]
    assert [dist.lr_factor("linear", 0, 3, e) for e in range(2)] == [3.0, 3.0]
    assert [dist.lr_factor(None, 0, 16, e) for e in range(3)] == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------------------
# Under MPI: 2 ranks
# ---------------------------------------------------------------------------

def test_two_ranks_equal_one_process_with_the_global_batch():
    cases = {r["case"]: r for r in json_lines(run_job("mpi_equivalence.py"))}
    assert set(cases) == {"mse_sgd", "mse_adam", "ce_sgd_momentum", "ce_adam", "ce_adam_resumed",
                          "bce_weighted_validation", "mse_float32", "mse_linear_scaling"}
    for name, case in cases.items():
        # Each rank's net was seeded differently: the start broadcast made them one
        assert case["ranks_identical"], name
        assert case["epochs_trained"] == 3, name
        tol = 1e-5 if name == "mse_float32" else 1e-12
        assert case["param_rel_err"] < tol, (name, case["param_rel_err"])
        assert case["history_rel_err"] < tol, (name, case["history_rel_err"])
        assert np.all(np.isfinite(case["loss"])) and case["loss"][-1] < case["loss"][0], name
    # lr 0.02 on 2 ranks, warm-up 2 epochs: 0.02, 0.03, then 0.04
    assert cases["mse_linear_scaling"]["lr"] == pytest.approx([0.02, 0.03, 0.04], rel=1e-15)


def test_rank_zero_decides_and_errors_reach_every_rank(tmp_path):
    # Without -m mpi4py: an error handled on one rank only would leave the other waiting
    completed = run_job("mpi_coordination.py", tmp_path, with_mpi4py_main=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = [json.loads(line) for rank in (0, 1)
             for line in (tmp_path / f"report-rank{rank}.jsonl").read_text().splitlines()]
    got = {(r["scenario"], r["rank"]): r for r in lines}

    for rank in (0, 1):
        identity = got["identity", rank]
        assert (identity["rank_fn"], identity["size_fn"], identity["is_root"]) == (rank, 2, rank == 0)
        assert (identity["rank_comm"], identity["size_self"]) == (rank, 1)

        assert got["comm_self", rank]["rel_err"] < 1e-12

        # A stop that only rank 0's callback asked for ends both ranks after 2 epochs
        stop = got["early_stop", rank]
        assert (stop["epochs_run"], stop["stopped_early"], stop["epochs_trained"]) == (2, True, 2)
        assert stop["callback_calls"] == (2 if rank == 0 else 0)   # callbacks run on rank 0
        assert stop["identical"]

        # StepLR(gamma 0.5) halves lr each epoch; EarlyStopping stops after epoch 2
        restore = got["restore_best", rank]
        assert restore["epochs_run"] == 2 and restore["identical"]
        assert restore["lr"] == [0.05, 0.025] and restore["optimizer_lr"] == 0.0125

        assert got["checkpoint", rank]["files"] == ["ckpt-1.npz", "ckpt-2.npz"]

        assert got["disagreement", rank]["error"] == "ValueError"
        assert got["disagreement", rank]["message"].startswith(
            "distributed: the ranks disagree on batch_size: rank 0 has 8, rank 1 has 9")
        for scenario, expected in (("bad_lr_scaling", "lr_scaling: expected None or 'linear', "
                                                      "got 'square'"),
                                   ("warmup_without_scaling", "warmup_epochs: ramps the scaled")):
            assert got[scenario, rank]["error"] == "ValueError"
            assert got[scenario, rank]["message"].startswith(expected)

        # The same step refused on both ranks: batch 3 holds the huge target (row 40 of
        # the permutation), and the parameters of the steps before are kept, identical
        bad = got["non_finite", rank]
        assert bad["error"] == "FloatingPointError"
        assert "at epoch 1 of 2 in this call, batch 3 of 6" in bad["message"]
        assert bad["identical"] and bad["changed"] and bad["params_finite"]

        assert got["after", rank]["identical"] and np.isfinite(got["after", rank]["loss"][0])

    # NaN in rank 1's X only: rank 1 names the cell, rank 0 names rank 1
    assert got["bad_data_on_one_rank", 1]["message"] == "X: row 5, column 2 is nan; expected finite values"
    assert got["bad_data_on_one_rank", 0]["message"].startswith(
        "distributed: rank 1 could not start training")
    # EarlyStopping on a missing metric fails on rank 0; rank 1 is told
    assert got["callback_error", 0]["message"].startswith("EarlyStopping: monitor 'val_accuracy'")
    assert got["callback_error", 1]["message"].startswith(
        "distributed: rank 0 stopped with an error in validation or a callback after epoch 1")
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["ckpt-1.npz", "ckpt-2.npz"]
    saved = ln.load(tmp_path / "checkpoints" / "ckpt-2.npz")
    assert saved.epochs_trained == 2


def test_an_exception_on_one_rank_ends_the_job():
    completed = run_job("mpi_failure.py")    # a hang would hit the subprocess timeout
    assert completed.returncode != 0
    assert "RuntimeError: simulated failure on rank 1" in completed.stderr
    assert "finished training" not in completed.stdout


@pytest.fixture(scope="module")
def big_memmap_files(tmp_path_factory):
    """X: 262144 x 128 float64 (256 MiB) written in blocks, and Y: one target per row."""
    folder = tmp_path_factory.mktemp("memmap")
    n, d = 262144, 128
    X = np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype=np.float64, shape=(n, d))
    rng = np.random.default_rng(0)
    w = rng.normal(size=d) / np.sqrt(d)
    Y = np.empty((n, 1))
    for start in range(0, n, 32768):
        block = rng.normal(size=(32768, d))
        X[start:start + 32768] = block
        Y[start:start + 32768, 0] = np.tanh(block @ w)
    X.flush()
    del X
    np.save(folder / "Y.npy", Y)
    yield folder
    shutil.rmtree(folder)


def test_memory_mapped_data_larger_than_the_process_may_allocate(big_memmap_files):
    folder = big_memmap_files
    x, y = folder / "X.npy", folder / "Y.npy"
    headroom_mb = 96      # less than X's 256 MiB: a copy of X cannot be made
    single = subprocess.run(
        [sys.executable, str(TESTS / "mpi_memmap.py"), str(x), str(y), str(folder / "single.npy"),
         str(headroom_mb), "single", "1024"], capture_output=True, text=True, timeout=HANG_GUARD_SECONDS,
        env=child_env(LAYERNET_NUM_THREADS="1"))
    two = run_job("mpi_memmap.py", x, y, folder / "two.npy", headroom_mb, "distributed", 512)
    for completed in (single, two):
        (report,) = json_lines(completed)
        assert report["copy_refused"]          # the cap is real: np.array(X) raised MemoryError
        assert report["x_type"] == "memmap" and report["x_bytes"] == 256 * 2**20
        assert report["headroom_bytes"] < report["x_bytes"]
        assert np.isfinite(report["loss"][0])
    # One epoch of 256 steps from the file: both paths trained the same parameters
    a, b = np.load(folder / "single.npy"), np.load(folder / "two.npy")
    assert np.max(np.abs(a - b)) / np.max(np.abs(a)) < 1e-12
    assert not np.allclose(a, ln.Network([ln.Dense(128, 16, activation="relu"), ln.Dense(16, 1)],
                                         dtype=np.float64, seed=5)._params)
