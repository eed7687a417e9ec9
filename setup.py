"""Build for layernet: one extension, layernet._kernels, from the Cython
boundary and every C file under csrc/ (csrc/tests/ excepted).

Flags are chosen by compiler type and by target machine. The kernels' threads
are layernet's own pool on POSIX threads (csrc/framework/pool.c); compilers
without POSIX threads or GCC atomics (MSVC) build it out and run every call
on the calling thread, as does LAYERNET_THREADS=0. No host-specific
-march flag on any machine: on x86-64 the AVX2 kernels carry per-function
target attributes and are chosen at run time; on aarch64 the NEON kernels
use Advanced SIMD, which every aarch64 core has, so they need no flag; every
machine also builds the generic kernels (GCC/Clang vector extensions, the
target's baseline SIMD) and the plain C reference kernels.
"""
import os
import platform
import sys
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
C_SOURCES = sorted(
    str(p.relative_to(HERE)).replace(os.sep, "/")
    for p in (HERE / "csrc").rglob("*.c")
    if "tests" not in p.relative_to(HERE / "csrc").parts
)
# Headers: listed as dependencies so that editing one rebuilds the extension.
C_HEADERS = sorted(str(p.relative_to(HERE)).replace(os.sep, "/") for p in (HERE / "csrc").rglob("*.h"))

UNIX_FLAGS = ["-O3", "-std=c99", "-fno-strict-aliasing", "-fno-math-errno", "-Wno-unused-function"]
MSVC_FLAGS = ["/O2"]
# Extra flags per target machine, on top of UNIX_FLAGS / MSVC_FLAGS. Every
# entry stays empty on purpose: SIMD comes from target attributes (x86-64) or
# the base architecture (aarch64), never from a flag that would make the
# extension require the build host's CPU.
MACHINE_FLAGS = {"x86_64": [], "aarch64": [], "other": []}
_MACHINE_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "x64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def target_machine() -> str:
    """The machine the extension is built for: "x86_64", "aarch64" or "other".

    A cross build names its target in _PYTHON_HOST_PLATFORM (for example
    "linux-aarch64" or "macosx-11.0-arm64"); otherwise the target is this
    machine.
    """
    host = os.environ.get("_PYTHON_HOST_PLATFORM", "")
    name = host.rsplit("-", 1)[-1] if host else platform.machine()
    return _MACHINE_ALIASES.get(name.lower(), "other")


def compile_flags(machine: str, msvc: bool) -> list:
    """Optimisation flags for `machine` (see target_machine) and the compiler type."""
    if machine not in MACHINE_FLAGS:
        raise ValueError(f"machine: expected one of {sorted(MACHINE_FLAGS)}, got {machine!r}")
    return list(MSVC_FLAGS if msvc else UNIX_FLAGS) + MACHINE_FLAGS[machine]


class BuildExt(build_ext):
    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        machine = target_machine()
        flags = compile_flags(machine, msvc)
        print(f"layernet: building for {machine}", file=sys.stderr)
        link_flags = []
        if os.environ.get("LAYERNET_THREADS", "1") == "0":
            flags.append("/DLN_NO_THREADS" if msvc else "-DLN_NO_THREADS")
            print("layernet: building without threads (every call runs on the calling thread)",
                  file=sys.stderr)
        elif not msvc:
            flags.append("-pthread")
            link_flags.append("-pthread")
        for ext in self.extensions:
            ext.extra_compile_args = flags
            ext.extra_link_args = link_flags
            ext.define_macros.append(("LN_COMPILE_FLAGS", '"' + " ".join(flags) + '"'))
        super().build_extensions()


extension = Extension(
    "layernet._kernels",
    sources=["layernet/_kernels.pyx"] + C_SOURCES,
    depends=C_HEADERS + ["layernet/_kernels.pxd"],
    include_dirs=["csrc", np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    ext_modules=cythonize(
        [extension],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    ),
    cmdclass={"build_ext": BuildExt},
)
