"""The layernet under test, for tests that start a fresh Python process.

A child must import the same layernet as the test (installed, or built in
place) and never a source tree without its compiled extension, so it gets
PYTHONPATH naming the package's parent directory first.
"""
import os

import layernet

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(layernet.__file__)))


def child_env(base=None, **variables) -> dict:
    """A copy of `base` (default: os.environ) with PACKAGE_PARENT first on
    PYTHONPATH, then `variables` set."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH", "")) if p)
    env.update(variables)
    return env
