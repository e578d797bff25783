"""One process at a time creates or migrates an embedded MLflow store.

MLflow builds a SQLite store's tables (and runs its migrations) on first use. Several ``train``
processes started together in a fresh folder all find no tables and all create them: SQLite
then fails some of them with alembic errors (``duplicate column name``, ``table ... already
exists``). :func:`store_lock` serialises that first use with an exclusive lock on a file next
to the database (``mlflow.db.lock``); servers and other stores need no lock here.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["sqlite_path", "store_lock"]


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative or absolute), None for others."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri == "sqlite:///:memory:":
        return None
    return Path(uri[len(prefix) :])


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock for the SQLite store at ``uri`` (blocking); a no-op for others."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
