"""The report document model: sections of tables, figures, text and key-value lists.

What a report says, checked when built: ids are HTML-safe slugs that double as file names, figures
are whole PNGs, text maps are text. :func:`format_p` and :func:`format_number` are the number
formats of its tables. Rendering lives in :mod:`msk1model.report.render`, files in
:mod:`msk1model.report.storage`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from msk1model.errors import EvaluationError

__all__ = [
    "MISSING",
    "Block",
    "Figure",
    "KeyValues",
    "ReportDocument",
    "Section",
    "Table",
    "Text",
    "check_id",
    "format_number",
    "format_p",
]

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk every PNG ends with
MISSING = "\u2014"  # an em dash marks a missing value in tables
_RESERVED_IDS = frozenset({"contents"})


def check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise EvaluationError(
            f"{what} must be a letter followed by up to 63 letters, digits, '_' or '-' (it is an "
            f"HTML id and a file name), but got {value!r}. Fix: use a slug such as 'km_median'"
        )


def _check_texts(items: dict[str, str], what: str) -> None:
    bad = {k: v for k, v in items.items() if not (isinstance(k, str) and isinstance(v, str))}
    if bad:
        raise EvaluationError(
            f"{what} must map text to text, but found non-text entries {bad!r}. Fix: format the "
            "values as strings first (e.g. f'{value:.3f}')"
        )


@dataclass(frozen=True, eq=False)
class Table:
    """A captioned table; numbers are formatted when rendered (see :func:`format_number`).

    Parameters
    ----------
    caption : str
    frame : DataFrame
        Shown as is; the index is shown only when it has a name. A column named ``p`` or ending
        in ``_p`` or ``p_value`` holds p-values (:func:`format_p`). Use the nullable ``Int64``
        dtype for counts with missing values.
    note : str, default ""
        A footnote under the table.
    digits : int, default 3
        Decimals of floats.
    """

    caption: str
    frame: pd.DataFrame
    note: str = ""
    digits: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pd.DataFrame):
            raise EvaluationError(
                f"Table.frame must be a pandas DataFrame, but got {type(self.frame).__name__}. "
                "Fix: wrap the data in pd.DataFrame"
            )
        if not 0 <= self.digits <= 12:
            raise EvaluationError(f"Table.digits must lie in [0, 12], but got {self.digits}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        a, b = self.frame, other.frame
        return (
            (self.caption, self.note, self.digits) == (other.caption, other.note, other.digits)
            and a.columns.equals(b.columns)
            and a.index.equals(b.index)
            and a.dtypes.equals(b.dtypes)
            and a.equals(b)
        )

    __hash__ = None  # type: ignore[assignment]  # a DataFrame is mutable


@dataclass(frozen=True)
class Figure:
    """A PNG figure; ``name`` is its HTML id and its file name ``figures/<name>.png``."""

    caption: str
    png: bytes = field(repr=False)
    name: str

    def __post_init__(self) -> None:
        check_id(self.name, "Figure.name")
        head, tail = bytes(self.png[:8]), bytes(self.png[-12:])
        if head != _PNG_SIGNATURE or tail != _PNG_END:
            raise EvaluationError(
                f"Figure {self.name!r} must hold whole PNG bytes (from the PNG signature to the "
                f"IEND chunk), but they start with {head!r} and end with {tail!r}. "
                "Fix: fig.savefig(buffer, format='png') and pass buffer.getvalue()"
            )


@dataclass(frozen=True)
class Text:
    """Prose; a blank line starts a new paragraph. A ``warning`` is shown boxed, headed
    "Warning", where a reader must not miss it (e.g. a test part too small to trust)."""

    text: str
    warning: bool = False


@dataclass(frozen=True)
class KeyValues:
    """A titled list of terms and their values (a definition list)."""

    title: str
    items: dict[str, str]

    def __post_init__(self) -> None:
        _check_texts(self.items, f"KeyValues {self.title!r} items")


Block = Table | Figure | Text | KeyValues


@dataclass(frozen=True)
class Section:
    """A titled part of the report; ``guideline`` names the reporting items it answers.

    Parameters
    ----------
    id : str
        HTML id, linked from the table of contents.
    title : str
    items : sequence of Block
        Stored as a tuple.
    guideline : str, default ""
        E.g. "TRIPOD+AI 5a, 8; REMARK 10"; shown small under the title.
    """

    id: str
    title: str
    items: tuple[Block, ...]
    guideline: str = ""

    def __post_init__(self) -> None:
        check_id(self.id, "Section.id")
        object.__setattr__(self, "items", tuple(self.items))
        bad = [type(b).__name__ for b in self.items if not isinstance(b, Block)]
        if bad:
            raise EvaluationError(
                f"Section {self.id!r} items must be Table, Figure, Text or KeyValues blocks, but "
                f"found {bad}. Fix: wrap prose in Text(...)"
            )


@dataclass(frozen=True)
class ReportDocument:
    """The whole report: title, subtitle, run metadata (shown in the header) and sections."""

    title: str
    subtitle: str
    metadata: dict[str, str]
    sections: tuple[Section, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sections", tuple(self.sections))
        _check_texts(self.metadata, "ReportDocument.metadata")
        ids = [s.id for s in self.sections] + [f.name for f in self.figures]
        clashes = sorted({i for i in ids if ids.count(i) > 1 or i in _RESERVED_IDS})
        if clashes:
            raise EvaluationError(
                "section ids and figure names must be unique across the report (they are HTML ids "
                f"and file names) and not {sorted(_RESERVED_IDS)}, but {clashes} repeat. "
                "Fix: rename them"
            )

    @property
    def figures(self) -> list[Figure]:
        """Every figure of every section, in order."""
        return [b for s in self.sections for b in s.items if isinstance(b, Figure)]


# --------------------------------------------------------------------------- number formats


def format_p(p: float | None) -> str:
    """A p-value as "<0.001" below 0.001, else with 3 decimals; "" when missing.

    Raises
    ------
    EvaluationError
        If ``p`` lies outside [0, 1].
    """
    if p is None or pd.isna(p):
        return ""
    if not -1e-12 <= p <= 1.0 + 1e-9:
        raise EvaluationError(f"a p-value must lie in [0, 1], but got {p!r}. Fix: check its test")
    return "<0.001" if p < 0.001 else f"{min(max(p, 0.0), 1.0):.3f}"


def format_number(x: float, digits: int = 3) -> str:
    """A float with ``digits`` decimals; scientific with ``digits`` significant digits if tiny.

    Scientific notation is used when a non-zero ``x`` would round to zero (``|x| < 10**-digits``)
    and from 1e6 on. NaN gives an em dash, infinities "inf" and "-inf".
    """
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0 or 10.0**-digits <= abs(x) < 1e6:
        return f"{x:.{digits}f}"
    return f"{x:.{max(digits, 1)}g}"
