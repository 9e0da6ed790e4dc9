"""Shared set-up of the shmif package's tests."""

from __future__ import annotations

import os

import pytest

import shmif

pytest_plugins = ["pytester", "shmif.pytest_plugin"]


@pytest.fixture(scope="session", autouse=True)
def _library() -> None:
    try:
        shmif.library_path()
    except shmif.LibraryNotFoundError as e:
        pytest.exit(f"the shmif tests need libshmif: {e}", returncode=2)


@pytest.fixture
def need_dumpbus() -> str:
    from shmif import pytest_plugin

    exe = pytest_plugin._find_dumpbus()
    if exe is None or not os.access(exe, os.X_OK):
        pytest.skip("shmif_dumpbus not found: run `make tools` or set SHMIF_DUMPBUS")
    return exe
