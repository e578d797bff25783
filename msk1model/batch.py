"""Score a file of patients with an exported predictor, in chunks (``msk1model predict``).

The input is CSV or Parquet; the output (CSV or Parquet, by its suffix) holds one row of the
predictor's columns per input row, in order. Chunks keep memory flat on large files. An input
error names the columns, rules and row numbers (counted over the whole file, from 0), never a
value, like the predictor itself; nothing is written when the input is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.exceptions import MlflowException

from msk1model.errors import ExportError, InputError

__all__ = ["predict_file"]

SUFFIXES = (".csv", ".parquet")


def predict_file(
    model_uri: str,
    source: Path,
    target: Path,
    *,
    horizons: list[float] | None = None,
    chunk_size: int = 100_000,
    progress: Callable[[int, int | None], None] | None = None,
) -> int:
    """Score ``source`` with the predictor at ``model_uri`` into ``target``; return the rows.

    ``progress(done, total)`` is called after each chunk (``total`` is None for CSV until the
    end). The output is written to a temporary file beside ``target`` and renamed at the end,
    so a refused or interrupted input leaves no partial file.

    Raises
    ------
    InputError
        When a chunk breaks the predictor's input contract (row numbers over the whole file).
    ExportError
        When the model cannot be loaded, or a file suffix is not .csv or .parquet.
    """
    for path in (source, target):
        if path.suffix.lower() not in SUFFIXES:
            raise ExportError(f"{path} must end in .csv or .parquet, but ends in {path.suffix!r}")
    if chunk_size < 1:
        raise ExportError(f"chunk_size must be >= 1, but got {chunk_size}")
    if not source.is_file():
        raise ExportError(f"no input file {source}")
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        raise ExportError(f"cannot load the predictor {model_uri}: {exc.message}") from None
    params = {"horizons": horizons} if horizons else None
    partial = target.with_name(target.name + ".partial")
    done, total = 0, _rows(source)
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in _chunks(source, chunk_size):
            try:
                scores = model.predict(chunk.reset_index(drop=True), params=params)
            except InputError as exc:
                raise InputError(_shift_rows(str(exc), done)) from None
            if target.suffix.lower() == ".csv":
                scores.to_csv(partial, mode="a" if done else "w", header=not done, index=False)
            else:
                table = pa.Table.from_pandas(scores, preserve_index=False)
                writer = writer or pq.ParquetWriter(partial, table.schema)
                writer.write_table(table)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        if writer is not None:
            writer.close()
            writer = None
        if done == 0:
            raise ExportError(f"{source} holds no rows")
        partial.replace(target)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return done


def _chunks(source: Path, size: int) -> Iterator[pd.DataFrame]:
    if source.suffix.lower() == ".csv":
        yield from pd.read_csv(source, chunksize=size)
        return
    for batch in pq.ParquetFile(source).iter_batches(batch_size=size):
        yield batch.to_pandas()


def _rows(source: Path) -> int | None:
    return pq.ParquetFile(source).metadata.num_rows if source.suffix == ".parquet" else None


def _shift_rows(message: str, offset: int) -> str:
    """The error of one chunk with its row positions counted over the whole file."""
    if offset == 0:
        return message

    def shift(match: re.Match[str]) -> str:
        numbers = re.sub(r"\d+", lambda m: str(int(m.group()) + offset), match.group(2))
        return match.group(1) + numbers

    return re.sub(r"(\(rows? )([\d, ]+)", shift, message)
