"""Build for layernet: one extension, layernet._kernels, from the Cython
boundary and every C file under csrc/ (csrc/tests/ excepted).

Flags are chosen by compiler type. OpenMP is probed: when the compiler
cannot build an OpenMP program (or LAYERNET_OPENMP=0), the extension is
built without it and runs single-threaded. No host-specific -march flag:
SIMD kernels carry per-function target attributes and are chosen at run time.
"""
import os
import shutil
import sys
import tempfile
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


def _compiler_accepts_openmp(compiler, flag):
    """Compile and link a tiny OpenMP program with `flag`."""
    tmp = tempfile.mkdtemp(prefix="layernet-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        objs = compiler.compile([src], output_dir=tmp, extra_postargs=[flag])
        compiler.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=[flag])
        return True
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        compile_flags = list(MSVC_FLAGS if msvc else UNIX_FLAGS)
        link_flags = []
        want_openmp = os.environ.get("LAYERNET_OPENMP", "1") != "0"
        omp_flag = "/openmp" if msvc else "-fopenmp"
        if want_openmp and _compiler_accepts_openmp(self.compiler, omp_flag):
            compile_flags.append(omp_flag)
            if not msvc:
                link_flags.append(omp_flag)
        else:
            print("layernet: building without OpenMP (single-threaded kernels)", file=sys.stderr)
        for ext in self.extensions:
            ext.extra_compile_args = compile_flags
            ext.extra_link_args = link_flags
            ext.define_macros.append(("LN_COMPILE_FLAGS", '"' + " ".join(compile_flags) + '"'))
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
