"""Helpers of the hostile tests: child Pythons that load the package the
way the parent found it (SHMIF_BUILD / SHMIF_LIB are inherited)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import shmif

PYTHONPATH = os.path.dirname(os.path.dirname(os.path.abspath(shmif.__file__)))
PY = sys.executable  # the Python that runs the tests has what they need


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHONPATH + os.pathsep + env.get("PYTHONPATH", "")
    env["SHMIF_LIB"] = shmif.library_path()
    env.pop("SHMIF_BUILD", None)
    return env


def run_py(code: str, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    """Run code in a fresh Python with the package on its path."""
    return subprocess.run([PY, "-c", textwrap.dedent(code)], env=child_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


def popen_py(code: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([PY, "-c", textwrap.dedent(code)], env=child_env(), **kw)


def eth(src: bytes, payload: bytes = b"", size: int = 60) -> bytes:
    return (b"\xff" * 6 + src + b"\x88\xb5" + payload).ljust(size, b"\0")
