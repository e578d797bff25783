"""Read a user's cohort table from CSV or Parquet, with clear errors for malformed files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from msk1model.errors import DataError

__all__ = ["read_table"]

_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read ``path`` (.csv, .parquet or .pq) into a DataFrame.

    CSV files are read as comma-separated UTF-8 (a byte-order mark is accepted); blank lines are
    skipped. A file that parses into one column but holds another delimiter is rejected with the
    delimiter named, rather than read into a single text column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist; set data.source to an existing file")
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        table = pd.read_csv(
            path, sep=",", encoding="utf-8-sig", skip_blank_lines=True, float_precision="round_trip"
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(
            f"data file {path} could not be read as {suffix[1:].upper()}: {exc}. "
            "Fix: save it as comma-separated UTF-8 CSV or as Parquet"
        ) from None
    _check_delimiter(table, path)
    return table


def _check_delimiter(table: pd.DataFrame, path: Path) -> None:
    if table.shape[1] != 1:
        return
    header = str(table.columns[0])
    for delimiter, name in _OTHER_DELIMITERS.items():
        if delimiter in header:
            raise DataError(
                f"data file {path} has one column {header[:60]!r} that holds {name}s: it looks "
                f"{name}-delimited, but msk1model reads comma-separated CSV. Fix: re-save it with "
                "commas as the delimiter, or save it as Parquet"
            )
