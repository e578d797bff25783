"""Exact, pickle-free encodings that put learned state into JSON.

A numeric array becomes its dtype, shape and the base64 text of its zlib-compressed raw bytes, so
it is restored bit for bit (JSON lists of floats would be exact too, but some forests hold
millions of values). Hyperparameter values become plain JSON scalars and lists.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

from msk1model.errors import ModelError

__all__ = ["decode_array", "encode_array", "plain"]


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """``{"dtype", "shape", "data"}`` of a numeric ``array``: JSON text, restored exactly.

    Raises
    ------
    ModelError
        If ``array`` holds Python objects or records, which have no exact raw-byte form.
    """
    values = np.asarray(array)
    _require_plain_dtype(values.dtype)
    data = base64.b64encode(zlib.compress(values.tobytes(order="C"))).decode("ascii")
    return {"dtype": values.dtype.str, "shape": list(values.shape), "data": data}


def decode_array(state: dict[str, Any]) -> np.ndarray:
    """The array :func:`encode_array` encoded: same dtype, shape and bytes (a writable copy)."""
    dtype = np.dtype(state["dtype"])
    _require_plain_dtype(dtype)
    raw = zlib.decompress(base64.b64decode(state["data"]))
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(state["shape"])).copy()


def plain(value: Any) -> Any:
    """``value`` as JSON data: NumPy scalars become Python ones, tuples become lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _require_plain_dtype(dtype: np.dtype[Any]) -> None:
    if dtype.hasobject or dtype.fields is not None:
        raise ModelError(
            f"only numeric arrays are stored as model state, but got dtype {dtype}. Fix: convert "
            "the array to a numeric dtype before saving"
        )
