"""Shared set-up of the shmif package's tests."""

from __future__ import annotations

import pytest

import shmif

pytest_plugins = ["pytester", "shmif.pytest_plugin"]


@pytest.fixture(scope="session", autouse=True)
def _library() -> None:
    try:
        shmif.library_path()
    except shmif.LibraryNotFoundError as e:
        pytest.exit(f"the shmif tests need libshmif: {e}", returncode=2)

