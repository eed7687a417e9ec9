"""layernet: a C-extension engine for layered (fully connected) neural networks.

    import numpy as np, layernet as ln
    net = ln.Network([ln.Dense(4, 8, activation="relu"), ln.Dense(8, 1)], seed=0)
    history = net.fit(X, Y, epochs=10, batch_size=32, lr=0.01)

Environment: LAYERNET_ISA=avx512|avx2|generic forces a kernel path;
LAYERNET_NUM_THREADS (then OMP_NUM_THREADS) sets the thread count.
"""
import os as _os

from . import _kernels

__version__ = "0.1.0"


def _configure_from_environment() -> None:
    isa = _os.environ.get("LAYERNET_ISA", "").strip().lower()
    if isa:
        try:
            _kernels.set_isa(isa)
        except ValueError as exc:
            raise ImportError(f"layernet: LAYERNET_ISA={isa!r} cannot be used: {exc}") from None
    for var in ("LAYERNET_NUM_THREADS", "OMP_NUM_THREADS"):
        value = _os.environ.get(var, "").strip()
        if value:
            try:
                _kernels.set_num_threads(int(value.split(",")[0]))
            except ValueError:
                raise ImportError(f"layernet: {var}={value!r} is not a positive integer") from None
            break


_configure_from_environment()

from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint  # noqa: E402
from .io import load  # noqa: E402
from .layers import Dense  # noqa: E402
from .network import Network  # noqa: E402
from .optimizers import SGD, Adam  # noqa: E402


def set_num_threads(n: int) -> None:
    """Threads used by the kernels from now on (ignored, as 1, without OpenMP)."""
    _kernels.set_num_threads(n)


def get_num_threads() -> int:
    return _kernels.get_num_threads()


def info() -> dict:
    """The kernel path in use, the thread count and how the extension was built."""
    return {
        "version": __version__,
        "isa": _kernels.get_isa(),
        "available_isas": _kernels.available_isas(),
        "num_threads": _kernels.get_num_threads(),
        "openmp": _kernels.openmp_enabled(),
        "compiler_flags": _kernels.compile_flags(),
    }


__all__ = ["Adam", "Callback", "Dense", "EarlyStopping", "History", "ModelCheckpoint",
           "Network", "SGD", "get_num_threads", "info", "load", "set_num_threads",
           "__version__"]
