"""The registered predictor's versions: list them and move an alias by hand.

Training registers each version and moves the champion only for a better version of the same
endpoint and cohort definition (:func:`msk1model.export.register_predictor`); these functions
are for the people who look after the registry afterwards (``msk1model models list``,
``msk1model promote``).
"""

from __future__ import annotations

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from msk1model.errors import ExportError
from msk1model.export import COHORT_TAG, ENDPOINT_TAG, METRIC_TAG_PREFIX, flat_metric_name

__all__ = ["LISTED_METRICS", "list_versions", "promote"]

#: Metrics shown per version (when the version has them).
LISTED_METRICS = ("test/harrell_c", "test/uno_c", "test/auc_5y", "test/brier_5y", "test/ibs")


def list_versions(name: str) -> pd.DataFrame:
    """One row per version of ``name``, newest first: ``version``, ``aliases``, ``model``
    (family and feature set), ``endpoint``, ``cohort``, the :data:`LISTED_METRICS` it has,
    ``created`` (UTC) and ``source_run``.

    Raises
    ------
    ExportError
        If no model ``name`` is registered (listing the names that are).
    """
    client = MlflowClient()
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        known = sorted(m.name for m in client.search_registered_models())
        raise ExportError(
            f"no registered model {name!r}; registered: {known or 'none'}. Fix: pass one of "
            "those (msk1model train registers export.model_name)"
        ) from None
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for v in client.search_model_versions(f"name = '{name}'"):
        tags = v.tags
        row = {
            "version": int(v.version),
            "aliases": ", ".join(sorted(aliases.get(str(v.version), []))),
            "model": f"{tags.get('msk1model.model_name', '?')} "
            f"({tags.get('msk1model.feature_set', '?')})",
            "endpoint": tags.get(ENDPOINT_TAG, "not recorded"),
            "cohort": tags.get(COHORT_TAG, "not recorded"),
        }
        for metric in LISTED_METRICS:
            text = tags.get(METRIC_TAG_PREFIX + metric) or tags.get(
                METRIC_TAG_PREFIX + flat_metric_name(metric)  # a version of the flat names
            )
            row[metric.replace("test/", "test ")] = "" if text is None else f"{float(text):.4f}"
        row["created"] = pd.Timestamp(v.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M")
        row["source_run"] = v.run_id or ""
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("version", ascending=False, ignore_index=True)
    listed = [m.replace("test/", "test ") for m in LISTED_METRICS]
    empty = [m for m in listed if (frame[m] == "").all()]
    return frame.drop(columns=empty)


def promote(name: str, version: str, alias: str = "champion") -> str | None:
    """Point ``alias`` of ``name`` at ``version``; return the version it pointed at before.

    Raises
    ------
    ExportError
        If the model or the version does not exist (listing the versions that do).
    """
    client = MlflowClient()
    try:
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    except MlflowException as exc:
        raise ExportError(f"cannot read the versions of {name!r}: {exc}") from None
    if not version.isdigit() or int(version) not in versions:
        raise ExportError(
            f"{name!r} has no version {version!r}; its versions: {versions or 'none'}. Fix: "
            f"pick one (msk1model models list {name})"
        )
    try:
        previous: str | None = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        previous = None
    client.set_registered_model_alias(name, alias, version)
    return previous
