"""A SHA-256 manifest of every file of an exported predictor, written at export, verified at load.

The predictor's MLflow entry point (``python_model`` in its ``MLmodel``) is this module's source
followed by a few lines that verify the model folder and only then import msk1model's scoring
code (:func:`entry_source`): no shipped code but this verifier runs before the check. In a
process that imported msk1model before loading (msk1model's own CLI, a notebook that trained),
Python uses that copy rather than the shipped one; the entry point then warns when the two
differ (:func:`code_in_use_differs`). A changed,
missing or extra file is refused, naming the file. Python byte-code caches (``__pycache__``)
are removed before the check, so a stale or planted ``.pyc`` never runs; ``registered_model_meta``
is the one file MLflow itself adds when it downloads a registered version (name and version).

This module imports only the standard library, because it runs before anything is trusted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import warnings  # noqa: F401  (used by the entry point, entry_source)
from pathlib import Path

__all__ = [
    "MANIFEST",
    "IntegrityError",
    "code_in_use_differs",
    "entry_source",
    "file_digests",
    "verify",
    "write_manifest",
]

#: The manifest's file name, at the top of the model folder, and its layout version.
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
#: Files MLflow may add to a model folder after export (when downloading a registered version).
ADDED_BY_MLFLOW = frozenset({"registered_model_meta"})
#: Marks the model folder (MLflow's model description), beside which the entry point runs.
MODEL_FILE = "MLmodel"

_ENTRY_TAIL = """

# --- the predictor's entry point: verify the model folder, then load the scoring code ---
_folder = Path(__file__).resolve().parent
if (_folder / MODEL_FILE).is_file():  # in an exported model (not while MLflow logs it)
    verify(_folder)
    _differ = code_in_use_differs(_folder)
    if _differ:
        warnings.warn(
            f"this process imported msk1model before loading the model, so its own copy scores, "
            f"and it differs from the code shipped with the model in {_differ}; predictions may "
            "differ from the exported ones. Fix: load the model in a fresh process or an "
            "environment built from its requirements.txt",
            UserWarning,
            stacklevel=2,
        )

import mlflow  # noqa: E402

from msk1model.predictor import Msk1Predictor  # noqa: E402

mlflow.models.set_model(Msk1Predictor())
"""


class IntegrityError(RuntimeError):
    """A file of the exported predictor differs from its manifest (changed, missing or extra)."""


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by its POSIX path relative to it (sorted),
    leaving out the manifest and the files MLflow adds."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name != MANIFEST and name not in ADDED_BY_MLFLOW:
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def write_manifest(folder: Path) -> Path:
    """Write ``folder/manifest.json``: the digest of every other file; return its path."""
    _drop_caches(folder)
    path = folder / MANIFEST
    manifest = {"format": MANIFEST_FORMAT, "algorithm": "sha256", "files": file_digests(folder)}
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return path


def verify(folder: Path) -> None:
    """Check every file of the model ``folder`` against its manifest.

    Raises
    ------
    IntegrityError
        Naming each changed, missing and extra file (or the missing or unreadable manifest).
    """
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        expected = manifest["files"]
        layout = (manifest["format"], manifest["algorithm"])
    except (OSError, ValueError, KeyError, TypeError):
        raise IntegrityError(
            f"the model at {folder} has no readable {MANIFEST}, so its files cannot be "
            "verified; loading refused. Fix: load an untouched copy of the registered model"
        ) from None
    if layout != (MANIFEST_FORMAT, "sha256") or not isinstance(expected, dict):
        raise IntegrityError(
            f"the {MANIFEST} of the model at {folder} has format {layout[0]!r} and algorithm "
            f"{layout[1]!r}, but this verifier reads format {MANIFEST_FORMAT} with sha256 "
            "(changed: ['manifest.json']); loading refused. Fix: load an untouched copy"
        )
    _drop_caches(folder)
    found = file_digests(folder)
    changed = sorted(f for f in expected if f in found and found[f] != expected[f])
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    problems = [
        f"{what} {files}"
        for what, files in (("changed:", changed), ("missing:", missing), ("extra:", extra))
        if files
    ]
    if problems:
        raise IntegrityError(
            f"the model at {folder} differs from its {MANIFEST} ({'; '.join(problems)}); "
            "loading refused. Fix: load an untouched copy of the registered model"
        )


def code_in_use_differs(folder: Path) -> list[str]:
    """Shipped code files (``code/msk1model/...``) that differ from the msk1model this process
    already imported, which Python then uses instead of the shipped copy; [] when none was
    imported or it is the shipped copy."""
    module = sys.modules.get("msk1model")
    if module is None or module.__file__ is None:
        return []
    in_use = Path(module.__file__).resolve().parent
    shipped = (folder / "code" / "msk1model").resolve()
    if in_use == shipped:
        return []
    expected = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    differ = []
    for name, digest in sorted(expected.items()):
        if name.startswith("code/msk1model/"):
            path = in_use / name.removeprefix("code/msk1model/")
            found = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            if found != digest:
                differ.append(name)
    return differ


def entry_source() -> str:
    """The source of the predictor's entry point: this module, then the verify-and-load tail."""
    return Path(__file__).read_text(encoding="utf-8") + _ENTRY_TAIL


def _drop_caches(folder: Path) -> None:
    for cache in [p for p in folder.rglob("__pycache__") if p.is_dir()]:
        try:
            shutil.rmtree(cache)
        except OSError:
            raise IntegrityError(
                f"cannot remove the byte-code cache {cache.relative_to(folder).as_posix()} of "
                f"the model at {folder}, so it cannot be verified; loading refused. Fix: load "
                "a copy in a writable folder"
            ) from None
