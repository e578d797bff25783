"""Command line: parse, call the pipeline, print. ``msk1model --help`` lists the verbs."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from msk1model import __version__, interrupts
from msk1model.errors import Msk1ModelError

if TYPE_CHECKING:
    import pandas as pd

    from msk1model.data.cohort import Cohort
    from msk1model.results import RunResult

__all__ = ["main"]

EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msk1model",
        description="Train, tune, track and export prognostic survival models built on MSK1 "
        "plus clinical covariates.",
    )
    parser.add_argument("--version", action="version", version=f"msk1model {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    train = verbs.add_parser(
        "train",
        help="tune, fit, evaluate, track and register the models a config describes",
        description="Run the whole job a config describes: load and validate the cohort, tune "
        "every model on CV folds of the training part, evaluate on the held-out test part, log "
        "everything to MLflow and register the best clinical+msk1 model.",
    )
    _add_config_args(train)

    tune = verbs.add_parser(
        "tune",
        help="show a config's Optuna studies, or join them as a worker (--worker)",
        description="Without --worker: print each study of the config (model, feature set, "
        "study name, trials finished of planned, running, pruned, best value) and the storage "
        "to open in optuna-dashboard. With --worker: run trials in each study, in the config's "
        "order, until its budget is finished or taken by running trials, then exit; start as "
        "many workers as you like, on this machine (journal file) or others (a database in "
        "tuning.storage), next to `msk1model train`, which waits for them and logs every trial.",
    )
    _add_config_args(tune)
    tune.add_argument("--worker", action="store_true", help="join the studies and run trials")

    check = verbs.add_parser(
        "check",
        help="validate a config and its cohort without training",
        description="Resolve the config (base files and --set overrides), validate it, load the "
        "cohort and print the patient flow. Starts no MLflow run.",
    )
    _add_config_args(check)

    data = verbs.add_parser(
        "data",
        help="list and describe the public cohorts",
        description="Public breast-cancer cohorts shipped inside installed packages "
        "(use them as data.source: public:NAME).",
    )
    data_verbs = data.add_subparsers(dest="data_verb", required=True, metavar="DATA_VERB")
    data_verbs.add_parser("list", help="one line per public cohort: size, events, endpoint")
    describe = data_verbs.add_parser(
        "describe",
        help="size, events, median follow-up, endpoint, time unit, ER split and biomarker",
    )
    describe.add_argument("name", help="cohort name, as in `msk1model data list`")
    describe.add_argument(
        "--biomarker", default=None, help="column to summarise (default: the cohort's biomarker)"
    )

    report = verbs.add_parser(
        "report",
        help="rebuild a run's HTML report from its MLflow artefacts",
        description="Download the report artefacts of a train run (tracking store: "
        "--tracking-uri, else MLFLOW_TRACKING_URI, else sqlite:///mlflow.db) and write "
        "OUT/RUN_ID/report.html.",
    )
    report.add_argument("run_id", help="the train run's id (printed by `msk1model train`)")
    report.add_argument("--out", default="reports", help="output folder (default: reports)")
    report.add_argument("--tracking-uri", default=None, help="tracking store URI")

    ui = verbs.add_parser(
        "ui",
        help="start the MLflow UI on 127.0.0.1 for the local store",
        description="Start `mlflow ui` on 127.0.0.1 for the tracking store (sqlite:///mlflow.db "
        "and ./mlruns unless --backend-store-uri or MLFLOW_TRACKING_URI says otherwise).",
    )
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    ui.add_argument("--backend-store-uri", default=None, help="tracking store URI")
    _add_downstream_verbs(verbs)
    return parser


def _add_downstream_verbs(verbs: argparse._SubParsersAction) -> None:
    """The verbs of a predictor's users: list and promote versions, score files, serve REST."""
    tracking = {
        "default": None,
        "help": "tracking and registry store URI (default: "
        "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    }
    models = verbs.add_parser(
        "models",
        help="list the versions of a registered predictor",
        description="Versions of a registered model: metrics, aliases, endpoint and cohort.",
    )
    models_verbs = models.add_subparsers(dest="models_verb", required=True, metavar="MODELS_VERB")
    listing = models_verbs.add_parser("list", help="one line per version")
    listing.add_argument("name", help="registered model name, e.g. msk1-prognostic")
    listing.add_argument("--tracking-uri", **tracking)

    validate = verbs.add_parser(
        "validate",
        help="external validation: score another cohort with a registered predictor",
        description="Load a registered predictor (models:/NAME@ALIAS or models:/NAME/VERSION), "
        "load the cohort CONFIG describes through the same data layer, score it as a downstream "
        "tool would and compute Harrell's and Uno's C, and at each horizon the AUC, O/E, "
        "calibration slope, ICI/E50/E90, Brier score, IPA and net benefit, with censoring "
        "weights from the validation cohort, after checking the biomarker's scale and each "
        "feature's shift against the development cohort; logged with an HTML report as a run of "
        "experiment validate-NAME and tagged on the version.",
    )
    validate.add_argument("--model", required=True, help="models:/NAME@ALIAS or models:/NAME/N")
    validate.add_argument("--config", required=True, help="the validation cohort's config")
    validate.add_argument(
        "--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
        help="override a config key (repeatable)",
    )  # fmt: skip
    validate.add_argument(
        "--bootstrap", type=int, default=200, metavar="B",
        help="bootstrap replicates of the 95%% CIs, seeded by the config's seed (0: none)",
    )  # fmt: skip
    validate.add_argument(
        "--recalibrate", choices=["baseline", "slope", "refit"], default=None,
        help="compare the updates on this cohort and register this one as a new version "
        "(lineage tags; the champion alias does not move)",
    )  # fmt: skip

    runs = verbs.add_parser(
        "runs",
        help="list runs with their state; --clean-stale ends what killed processes left",
        description="Train and model runs (newest first) with their state and the process "
        "that ran them; STALE marks a RUNNING run whose process has ended (killed with "
        "SIGKILL, out of memory). --clean-stale ends stale runs as KILLED, fails their "
        "pending logged models and deletes versions a dead run left without lineage tags.",
    )
    runs.add_argument("--experiment", default=None, help="one experiment (default: all)")
    runs.add_argument("--trials", action="store_true", help="list trial runs too")
    runs.add_argument("--clean-stale", action="store_true", help="end stale runs as KILLED")
    runs.add_argument("--tracking-uri", **tracking)

    promote = verbs.add_parser(
        "promote",
        help="point an alias (default: champion) at a version",
        description="Move an alias of a registered model to VERSION, by hand (training moves "
        "the champion only for a better version of the same endpoint and cohort).",
    )
    promote.add_argument("name", help="registered model name")
    promote.add_argument("version", help="version number")
    promote.add_argument("--alias", default="champion", help="alias to move (default champion)")
    promote.add_argument("--tracking-uri", **tracking)

    predict = verbs.add_parser(
        "predict",
        help="score a CSV or Parquet file of patients with a predictor",
        description="Load a predictor (e.g. models:/msk1-prognostic@champion) and write one "
        "row of scores per input row, in chunks. Errors name columns and row numbers, never "
        "a value.",
    )
    predict.add_argument("--model", required=True, help="model URI or local model folder")
    predict.add_argument("--input", required=True, help="patients, .csv or .parquet")
    predict.add_argument("--output", required=True, help="scores, .csv or .parquet")
    predict.add_argument("--horizons", default=None, help="extra horizons in years, e.g. 7,8")
    predict.add_argument(
        "--chunk-size", type=int, default=100_000, help="rows per chunk (default 100000)"
    )
    predict.add_argument("--tracking-uri", **tracking)

    serve = verbs.add_parser(
        "serve",
        help="serve a predictor over REST on 127.0.0.1 (MLflow's scoring server)",
        description="Start MLflow's scoring server for a predictor on 127.0.0.1 from this "
        "environment: POST /invocations. Requests with a foreign Host or Origin header are "
        "refused.",
    )
    serve.add_argument("--model", required=True, help="model URI or local model folder")
    serve.add_argument("--port", type=int, default=5001, help="port (default 5001)")
    serve.add_argument("--tracking-uri", **tracking)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML run config or experiment file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.SUB=VALUE",
        help="override a config key (repeatable), e.g. --set tuning.n_trials=5",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``msk1model`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        with interrupts.graceful_signals():  # open MLflow runs end as KILLED on SIGTERM/Ctrl-C
            code = _dispatch(args)
            late = interrupts.pending_exit_code()
    except interrupts.Interrupted as exc:
        console.print(f"[bold red]interrupted:[/] {exc}; the open MLflow runs ended as KILLED")
        return exc.exit_code
    except Msk1ModelError as exc:
        console.print(
            f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False
        )
        return EXIT_ERROR
    return late if late is not None else code  # a signal after the last safe point


def _dispatch(args: argparse.Namespace) -> int:
    if args.verb == "train":
        return _train(args.config, args.overrides)
    if args.verb == "tune":
        return _tune(args.config, args.overrides, worker=args.worker)
    if args.verb == "check":
        return _check(args.config, args.overrides)
    if args.verb == "data":
        return _data(args.data_verb, getattr(args, "name", None), getattr(args, "biomarker", None))
    if args.verb == "report":
        return _report(args.run_id, args.out, args.tracking_uri)
    if args.verb == "models":
        return _models(args.name, args.tracking_uri)
    if args.verb == "validate":
        return _validate(args.model, args.config, args.overrides, args.bootstrap, args.recalibrate)
    if args.verb == "runs":
        return _runs(args.experiment, args.trials, args.clean_stale, args.tracking_uri)
    if args.verb == "promote":
        return _promote(args.name, args.version, args.alias, args.tracking_uri)
    if args.verb == "predict":
        return _predict(args)
    if args.verb == "serve":
        return _serve(args.model, args.port, args.tracking_uri)
    return _ui(args.port, args.backend_store_uri)


def _quiet_mlflow() -> None:
    """MLflow's INFO lines and download bars would drown the progress bar and summary."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # noqa: F401  (mlflow sets its loggers up on import; adjust them after)

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _train(config_path: str, overrides: Sequence[str]) -> int:
    from msk1model.config import load_config
    from msk1model.pipeline import planned_steps, run

    _quiet_mlflow()
    config = load_config(config_path, overrides)
    console = Console()  # the terminal's width, or $COLUMNS (80 when neither says)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("loading cohort", total=planned_steps(config))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="mlflow")
            result = run(config, progress=lambda n, d: bar.update(task, advance=n, description=d))
    _print_summary(console, result)
    return 0


def _print_summary(console: Console, result: RunResult) -> None:
    """The run's models in a table that fits 80 columns, then where everything went."""
    from msk1model.scores import horizon_label

    h = horizon_label(result.horizon)
    summary = result.summary()
    console.print(f"msk1model train: {result.cohort.source}", style="bold")
    nested = result.trained.config.evaluation.scheme == "nested_cv"
    part = "nested" if nested else "test"
    competing = result.cohort.competing is not None
    columns = {
        "model": lambda r: r.model,
        "CV C±SD": lambda r: f"{r.cv_harrell_c:.3f}±{r.cv_harrell_c_sd:.3f}",
        f"{part} C": lambda r: f"{r.test_harrell_c:.3f}",
        "Uno C": lambda r: f"{r.test_uno_c:.3f}",
        f"AUC {h}": lambda r: f"{r.test_auc:.3f}",
        f"slope {h}": lambda r: f"{r.calibration_slope:.2f}",
        "export": lambda r: "yes" if r.selected else "",
    }
    if competing:  # the cause-specific Uno C and slope make room for the incidence's numbers
        del columns["Uno C"], columns[f"slope {h}"], columns["export"]
        columns[f"CIF AUC {h}"] = lambda r: f"{r.cif_auc:.3f}"
        columns[f"CIF O/E {h}"] = lambda r: f"{r.cif_oe:.2f}"
        columns["export"] = lambda r: "yes" if r.selected else ""
    for feature_set, rows in summary.groupby("features", sort=False):
        table = Table(
            title=f"features: {feature_set}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        for column in columns:
            table.add_column(
                column,
                no_wrap=column != "model",
                overflow="fold",  # a long model name folds, it is never cut
                min_width=len(column),
                justify="left" if column == "model" else "right",
            )
        for row in rows.itertuples(index=False):
            table.add_row(*(cell(row) for cell in columns.values()))
        console.print(table)
    evaluation = result.trained.config.evaluation
    where = (
        f"mean over {evaluation.outer_folds} outer folds x {evaluation.repeats} of nested CV"
        if nested
        else "held-out part"
    )
    if competing:
        console.print(
            f"CV C: cross-validated Harrell's C of the cause-specific hazard (SD over folds); "
            f"{part} C, AUC: {where}, cause-specific; CIF AUC, CIF O/E: the predicted cumulative "
            f"incidence of {result.cohort.endpoint} at {h} on the {where}; export: the "
            "registered model"
        )
    else:
        console.print(
            f"CV C: cross-validated Harrell's C (SD over folds); {part} C, Uno C, AUC: {where}; "
            f"slope: calibration slope at {h}; export: the registered model"
        )
    flow = result.cohort.flow[-1]
    parts = (
        "all in training (nested CV)"
        if nested
        else f"train {len(result.split.train)}, test {len(result.split.test)}"
    )
    events = f"{flow.events} events" + (
        f", {flow.competing_events} competing" if flow.competing_events is not None else ""
    )
    console.print(f"patients analysed: {flow.patients} ({events}); {parts}")
    console.print(
        f"MLflow: {_mlflow_uri()}, experiment {result.experiment_id}, run {result.run_id}"
    )
    if result.report_path is not None:
        console.print(f"report: {result.report_path}")
    reg = result.registration
    if reg is None:
        console.print(f"model logged (not registered): {result.model_uri}")
    else:
        state = "champion" if reg.promoted else "not promoted"
        console.print(f"registered: {reg.name} version {reg.version} ({state}: {reg.reason})")


def _mlflow_uri() -> str:
    import mlflow

    return str(mlflow.get_tracking_uri())


def _tune(config_path: str, overrides: Sequence[str], *, worker: bool) -> int:
    from msk1model.config import load_config
    from msk1model.study_runs import study_status, work

    config = load_config(config_path, overrides)
    console = Console()
    if worker:
        err = Console(stderr=True)
        ran = work(config, progress=lambda message: err.print(message, highlight=False))
        console.print(f"worker done: {ran} trial(s) run in this process")
    storage, studies = study_status(config)
    console.print(f"Optuna studies in {storage}", highlight=False, soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("model", "features", "finished", "running", "pruned", "best"):
        table.add_column(column, justify="left" if column in ("model", "features") else "right")
    for s in studies:
        best = "" if s.best is None else f"{s.best:.4f}"
        table.add_row(
            s.model, s.feature_set, f"{s.finished}/{s.planned}", str(s.running), str(s.pruned), best
        )
    console.print(table)
    for s in studies:
        console.print(f"{s.model} | {s.feature_set}: study {s.name}", highlight=False)
    return 0


def _check(config_path: str, overrides: Sequence[str]) -> int:
    from msk1model.config import load_config, log2_offset
    from msk1model.data.cohort import load_cohort
    from msk1model.pipeline import run_split

    config = load_config(config_path, overrides)
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    run_split(config, cohort.y)  # enough events in every fold and test part
    console = Console()
    console.print(f"config {config_path}: valid (experiment {config.experiment!r})")
    console.print(cohort.flow_table().to_string(index=False))
    if cohort.competing is not None:
        _print_incidence(console, cohort, config.evaluation.horizons)
    return 0


def _print_incidence(console: Console, cohort: Cohort, horizons: Sequence[float]) -> None:
    """The cause's Aalen-Johansen cumulative incidence beside 1 - KM (competing censored)."""
    from msk1model.evaluation.competing import incidence_table

    console.print(f"endpoint: {cohort.endpoint}", highlight=False)
    table = incidence_table(cohort.time, cohort.event_type, 1, horizons)
    for row in table.itertuples(index=False):
        console.print(
            f"  cumulative incidence at {row.horizon:g} years: {row.cif:.3f} "
            f"(95% CI {row.lower:.3f}-{row.upper:.3f}, Aalen-Johansen); 1 - Kaplan-Meier with the "
            f"competing events censored: {row.one_minus_km:.3f}",
            highlight=False,
        )


def _data(verb: str, name: str | None, biomarker: str | None) -> int:
    from msk1model.data.describe import describe_public, list_public

    console = Console(width=None if sys.stdout.isatty() else 160)
    if verb == "list":
        table = Table(title="public cohorts (data.source: public:NAME)")
        frame = list_public()
        frame["endpoint"] = (
            frame["endpoint"].str.split(" (", regex=False).str[0]
        )  # details: describe
        for column in frame.columns:
            table.add_column(column)
        for row in frame.itertuples(index=False):
            table.add_row(*(str(v) for v in row))
        console.print(table)
        return 0
    assert name is not None
    d = describe_public(name, biomarker)
    rows: list[tuple[str, str]] = [
        ("study", d.study),
        ("endpoint", d.endpoint),
        ("time unit", d.time_unit),
        ("patients / events", f"{d.n_patients} / {d.n_events}"),
        (
            "median follow-up (reverse KM)",
            f"{d.median_follow_up:.1f} {d.time_unit} ({d.median_follow_up_years:.1f} years)",
        ),
        (
            "ER positive / negative / missing",
            "no ER column"
            if d.er is None
            else f"{d.er.positive} / {d.er.negative} / {d.er.missing}",
        ),
        ("MSK1 (RPS6KA5) measured", "yes" if d.has_msk1 else "no"),
        ("default covariates", ", ".join(d.default_covariates)),
    ]
    b = d.biomarker
    rows.append(
        (
            f"biomarker {b.column!r}",
            f"n={b.n} missing={b.missing} mean={b.mean:.3g} sd={b.sd:.3g} "
            f"min={b.min:.3g} median={b.median:.3g} max={b.max:.3g}",
        )
    )
    table = Table(title=f"public:{d.name}", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    for item, value in rows:
        table.add_row(item, value)
    console.print(table)
    return 0


def _report(run_id: str, out: str, tracking_uri: str | None) -> int:
    import tempfile

    import mlflow

    from msk1model.config import TrackingConfig
    from msk1model.report import read_report, write_report
    from msk1model.tracking import download_report, resolve_tracking_uri

    mlflow.set_tracking_uri(tracking_uri or resolve_tracking_uri(TrackingConfig()))
    with tempfile.TemporaryDirectory() as tmp:
        document = read_report(download_report(run_id, Path(tmp)))
        html = write_report(document, Path(out) / run_id)
    Console().print(f"report of run {run_id}: {html}")
    return 0


def _use_store(tracking_uri: str | None) -> None:
    import mlflow

    from msk1model.config import TrackingConfig
    from msk1model.tracking import resolve_tracking_uri

    _quiet_mlflow()
    uri = tracking_uri or resolve_tracking_uri(TrackingConfig())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def _models(name: str, tracking_uri: str | None) -> int:
    from msk1model.registry import list_versions

    _use_store(tracking_uri)
    frame = list_versions(name)
    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"registered model {name}")
    for column in frame.columns:
        table.add_column(column)
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)
    return 0


def _validate(
    model_uri: str,
    config_path: str,
    overrides: Sequence[str],
    n_boot: int,
    recalibrate: Literal["baseline", "slope", "refit"] | None,
) -> int:
    from msk1model.config import load_config
    from msk1model.errors import ConfigError
    from msk1model.external import validate
    from msk1model.report.validation_report import comparison_table
    from msk1model.scores import metric_label

    _quiet_mlflow()
    config = load_config(config_path, overrides)
    if n_boot < 0:
        raise ConfigError(f"--bootstrap must be >= 0 (0: no CIs), but got {n_boot}")
    result = validate(model_uri, config, n_boot=n_boot, recalibrate=recalibrate)
    console = Console(width=None if sys.stdout.isatty() else 200)
    flow = result.cohort.flow[-1]
    console.print(
        f"{result.model_name} version {result.version} on {result.cohort.source}: "
        f"{flow.patients} patients, {flow.events} events; censoring weights from this cohort",
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"95% CI ({n_boot} bootstrap)" if n_boot else "", justify="right")
    for row in result.scores[result.scores["statistic"] == "value"].itertuples():
        horizon = None if math.isnan(row.horizon) else row.horizon
        interval = ""
        if n_boot:
            low = result.score(row.metric, horizon, "lower")
            high = result.score(row.metric, horizon, "upper")
            interval = f"{low:.3f} to {high:.3f}"
        table.add_row(metric_label(row.metric, horizon), f"{row.value:.3f}", interval)
    console.print(table)
    if result.basic is not None and result.basic_scores is not None and result.added is not None:
        console.print(
            f"against the basic model {result.basic.label} (same training run), on the same "
            "patients; difference = model minus basic model",
            highlight=False,
        )
        console.print(_frame_table(comparison_table(result.scores, result.basic_scores,
                                                    result.added)))  # fmt: skip
    if result.development_endpoint != result.cohort.endpoint:
        console.print(
            f"endpoints differ: developed on {result.development_endpoint!r}, validated on "
            f"{result.cohort.endpoint!r}; calibration compares different events",
            highlight=False,
        )
    if result.scale is not None:
        console.print(result.scale.statement(), highlight=False)
    if result.updates is not None:
        console.print(_frame_table(result.updates))
    if result.updated_version is not None:
        console.print(
            f"registered {result.model_name} version {result.updated_version} "
            f"({recalibrate} update of version {result.version}); champion alias unchanged",
            highlight=False,
        )
    console.print(f"report: {result.report}", highlight=False)
    console.print(
        f"MLflow: {_mlflow_uri()}, experiment validate-{result.model_name}, run {result.run_id}",
        highlight=False,
    )
    return 0


def _frame_table(frame: pd.DataFrame) -> Table:
    """A small DataFrame as a rich table, floats to three decimals."""
    table = Table(box=box.SIMPLE_HEAD)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    return table


def _runs(experiment: str | None, trials: bool, clean: bool, tracking_uri: str | None) -> int:
    from msk1model.stale import clean_stale, list_runs

    _use_store(tracking_uri)
    console = Console(width=None if sys.stdout.isatty() else 200)
    if clean:
        done = clean_stale(experiment)
        console.print(
            f"ended {len(done.runs_killed)} stale run(s) as KILLED, failed "
            f"{len(done.models_failed)} pending logged model(s), deleted "
            f"{len(done.versions_deleted)} version(s) without lineage"
            + (f": {', '.join(done.versions_deleted)}" if done.versions_deleted else "")
        )
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("run id", "experiment", "run", "role", "state", "started", "process"):
        table.add_column(column, overflow="fold")
    for row in list_runs(experiment, trials=trials):
        state = f"{row.status} (STALE)" if row.stale else row.status
        table.add_row(
            row.run_id, row.experiment, row.name, row.role, state, row.started, row.process
        )
    console.print(table)
    return 0


def _promote(name: str, version: str, alias: str, tracking_uri: str | None) -> int:
    from msk1model.registry import promote

    _use_store(tracking_uri)
    previous = promote(name, version, alias)
    was = f" (was version {previous})" if previous else ""
    Console().print(f"{name}@{alias} -> version {version}{was}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from msk1model.batch import predict_file

    _use_store(args.tracking_uri)
    horizons = None
    if args.horizons:
        try:
            horizons = [float(h) for h in args.horizons.split(",")]
        except ValueError:
            raise Msk1ModelError(
                f"--horizons must be years separated by commas, e.g. 7,8, but got {args.horizons!r}"
            ) from None
    columns = (
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scoring", total=None)
        written = predict_file(
            args.model,
            Path(args.input),
            Path(args.output),
            horizons=horizons,
            chunk_size=args.chunk_size,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    Console().print(f"scored {written} rows -> {args.output}")
    return 0


def _serve(model: str, port: int, tracking_uri: str | None) -> int:
    from msk1model.serving import serve

    _use_store(tracking_uri)
    serve(model, host="127.0.0.1", port=port)
    return 0


def _ui(port: int, backend_store_uri: str | None) -> int:
    from msk1model.config import TrackingConfig
    from msk1model.tracking import resolve_tracking_uri

    uri = backend_store_uri or resolve_tracking_uri(TrackingConfig())
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        uri,
    ]
    if uri.startswith("sqlite:"):
        command += ["--default-artifact-root", "./mlruns"]
    sys.stdout.flush()
    os.execv(sys.executable, command)  # become the server, so signals reach it directly
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
