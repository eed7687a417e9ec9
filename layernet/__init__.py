"""layernet: a C-extension engine for layered (fully connected) neural networks.

    import numpy as np, layernet as ln
    net = ln.Network([ln.Dense(4, 8, activation="relu"), ln.Dense(8, 1)], seed=0)
    history = net.fit(X, Y, epochs=10, batch_size=32, lr=0.01)

Environment: LAYERNET_ISA forces a kernel path (see ln.info()["available_isas"]);
LAYERNET_NUM_THREADS (then OMP_NUM_THREADS) sets the thread count.
"""
import os as _os

try:
    from . import _kernels
except ImportError as _exc:  # the C extension is not built here
    _here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.exists(_os.path.join(_here, "_kernels.pyx")) and not any(
            name.startswith("_kernels.") and name.endswith((".so", ".pyd"))
            for name in _os.listdir(_here)):
        raise ImportError(
            f"layernet: the C extension is not built in {_here}. This is a source checkout: "
            f"install it with `pip install .` (or `pip install -e .` to work on it in place), "
            f"and run Python or pytest from outside the checkout or after building in place"
        ) from None
    raise

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

from . import distributed, onnx  # noqa: E402  (mpi4py and onnx are imported only when used)
from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint  # noqa: E402
from .interop import from_torch  # noqa: E402  (torch is imported only when used)
from .layers import Dense, Dropout, Layer, Standardize  # noqa: E402
from .losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, Huber, Loss  # noqa: E402
from .model_file import load  # noqa: E402
from .network import Network  # noqa: E402
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop  # noqa: E402
from .schedules import (CosineAnnealingLR, ExponentialLR, LinearWarmup,  # noqa: E402
                        ReduceLROnPlateau, Schedule, StepLR)

#: the activation names layers accept
ACTIVATIONS = _kernels.ACTIVATIONS


def from_sklearn(mlp, dtype=None):
    """The ln.Network equal to a fitted scikit-learn MLPRegressor or MLPClassifier
    (see layernet.sklearn.from_sklearn; scikit-learn is imported here, not before)."""
    from .sklearn import from_sklearn as convert
    return convert(mlp, dtype)


def set_num_threads(n: int) -> None:
    """Threads used by the kernels from now on (1 in a build without threads)."""
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
        "threads_enabled": _kernels.threads_enabled(),
        "compiler_flags": _kernels.compile_flags(),
    }


__all__ = ["ACTIVATIONS", "Adam", "AdamW", "BinaryCrossEntropy", "Callback", "CosineAnnealingLR",
           "CrossEntropy", "Dense", "Dropout", "EarlyStopping", "ExponentialLR", "History", "Huber",
           "Layer", "LinearWarmup", "Loss", "MAE", "MSE", "ModelCheckpoint", "Network", "Optimizer",
           "RMSprop", "ReduceLROnPlateau", "SGD", "Schedule", "Standardize", "StepLR", "distributed",
           "from_sklearn", "from_torch", "onnx",
           "get_num_threads", "info", "load", "set_num_threads", "__version__"]
