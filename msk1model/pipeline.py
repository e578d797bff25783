"""One training run, top to bottom.

config -> data -> split -> tune/fit -> evaluate -> report -> track -> export.
The stages live in their own modules; this one only wires them together, and the run's results
are data (:mod:`msk1model.results`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from matplotlib.figure import Figure

from msk1model import __version__, interrupts, tracking
from msk1model.card import model_card
from msk1model.config import ModelConfig, RunConfig, config_hash, log2_offset, tuning_horizon
from msk1model.contract import InputContract
from msk1model.data.cohort import Cohort, cohort_definition, load_cohort, require_single_event
from msk1model.data.rules import value_rules
from msk1model.data.validation import check_events_per_part
from msk1model.errors import ModelError, Msk1ModelError
from msk1model.evaluation.competing_scorecard import score_competing
from msk1model.evaluation.scorecard import score_test_set
from msk1model.export import (
    Registration,
    follow_up_limit,
    log_predictor,
    predictor_horizons,
    register_predictor,
    risk_groups,
    version_tags,
)
from msk1model.models import (
    CompetingRisksModel,
    Design,
    DesignSpec,
    SurvivalModel,
    check_training_size,
    make_model,
    model_class,
    save_model,
)
from msk1model.models.design import CovariateSpec
from msk1model.nested import NestedResult, OuterFold, outer_folds, run_nested_cv
from msk1model.predictor import PredictorSpec
from msk1model.report import Analyses, report_document, report_scores, run_analyses, write_report
from msk1model.report.run_figures import model_run_figures
from msk1model.report.study_figures import study_figures
from msk1model.results import (
    ModelOutcome,
    RunResult,
    TrainedRun,
)
from msk1model.scores import BIOMARKER_FEATURE_SET, DIRECTIONS, headline_scores
from msk1model.splitting import Split, make_split, whole_cohort_split
from msk1model.studies import study_name
from msk1model.transport import development_profile
from msk1model.tuning import tune

__all__ = ["Progress", "design_spec", "planned_steps", "run", "run_split"]

#: ``progress(steps_done, description)``: called as the run advances (for a progress bar).
Progress = Callable[[int, str], None]


def design_spec(config: RunConfig, cohort: Cohort) -> DesignSpec:
    """How the features enter every model: categorical covariates, caps and splines of numeric
    covariates, and the biomarker's form."""
    marker = config.biomarker
    return DesignSpec(
        biomarker=cohort.biomarker,
        transform=marker.transform,
        offset=marker.offset,
        spline_knots=marker.spline_knots,
        interaction=marker.interaction,
        categorical=tuple(config.data.categorical),
        covariate_transforms=tuple(
            CovariateSpec(column, form.cap, form.spline_knots)
            for column, form in config.covariate_transforms.items()
        ),
    )


def run_split(config: RunConfig, y: np.ndarray) -> Split:
    """The run's training and test parts: a held-out test part (``holdout``), or every patient
    in training (``nested_cv``, whose test parts are the outer folds); CV folds on training."""
    folds, seed = config.split.cv_folds, config.seed
    evaluation = config.evaluation
    if evaluation.scheme == "nested_cv":
        split = whole_cohort_split(y, cv_folds=folds, seed=seed)
    else:
        split = make_split(y, test_size=config.split.test_size, cv_folds=folds, seed=seed)
    parts = {
        f"CV validation fold {k + 1} of {folds}": split.train[validate]
        for k, (_, validate) in enumerate(split.folds)
    }
    if evaluation.scheme == "nested_cv":
        plan = outer_folds(
            y, outer=evaluation.outer_folds, repeats=evaluation.repeats, inner=folds, seed=seed
        )
        for fold in plan:
            parts[f"nested CV {fold.label} test part"] = fold.test
            for k, (_, validate) in enumerate(fold.inner):
                parts[f"nested CV {fold.label} inner fold {k + 1}"] = fold.train[validate]
        fewer = "fewer folds (evaluation.outer_folds, split.cv_folds)"
    else:
        parts["the test part"] = split.test
        fewer = "fewer folds (split.cv_folds), a larger split.test_size"
    fix = f"{fewer}, a later evaluation.uno_tau (within the follow-up) or a larger cohort"
    check_events_per_part(y, parts, tau=evaluation.tau, fix=fix)
    return split


def _parts(split: Split) -> dict[str, np.ndarray]:
    """The MLflow datasets of a model run: training, and test where there is a test part."""
    return {"training": split.train, **({"test": split.test} if len(split.test) else {})}


def planned_steps(config: RunConfig) -> int:
    """Progress steps of a run: one per trial and one per final fit, per model and feature set
    (and per outer fold of nested cross-validation)."""
    evaluation = config.evaluation
    studies = 1 + (
        evaluation.outer_folds * evaluation.repeats if evaluation.scheme == "nested_cv" else 0
    )
    per_set = sum(_n_trials(config, m) * studies + 1 for m in config.models.values())
    return per_set * len(config.feature_sets)


def _n_trials(config: RunConfig, model: ModelConfig) -> int:
    return (model.n_trials or config.tuning.n_trials) if model.search_space else 1


def run(config: RunConfig, progress: Progress | None = None) -> RunResult:
    """Train, evaluate, report, track and export every model the config names.

    Data and config problems raise before any MLflow run starts; a failure after that ends the
    runs as FAILED, leaving earlier runs and registered versions untouched.
    """
    notify = progress or (lambda _n, _d: None)
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    if cohort.competing is not None and config.evaluation.scheme == "nested_cv":
        require_single_event(cohort, "train with evaluation.scheme nested_cv")
    split = run_split(config, cohort.y)
    design = design_spec(config, cohort)
    for feature_set in config.feature_sets:  # a transform the data cannot take fails here, early
        Design(cohort.features(feature_set), design).fit(cohort.table.iloc[split.train])
    for name, model_cfg in config.models.items():  # so does a family too slow for this cohort
        try:
            check_training_size(model_class(model_cfg.kind), len(split.train))
        except ModelError as exc:
            raise ModelError(f"models.{name}: {exc}") from None
    experiment_id = tracking.setup_experiment(
        config.tracking, config.experiment, config.description
    )
    with tracking.parent_run(experiment_id, config, cohort) as run_id:
        tracking.log_datasets(cohort, {"cohort": None, **_parts(split)})
        outcomes = tuple(
            _fit_one(config, cohort, split, design, name, model_cfg, feature_set, notify)
            for feature_set in config.feature_sets
            for name, model_cfg in config.models.items()
        )
        scores = headline_scores(pd.concat([o.scores for o in outcomes], ignore_index=True))
        selected = _select(outcomes, config.tuning.metric)
        tracking.log_parent_metrics(
            tracking.parent_scores(scores, selected.model_name, selected.feature_set)
        )
        trained = TrainedRun(config, cohort, split, design, outcomes, selected)
        report_path, analyses = None, None
        if config.report.enabled:
            trained = dataclasses.replace(trained, subgroup_cohort=_subgroup_cohort(config))
            report_path, report, analyses = _report(trained, run_id)
            scores = pd.concat([scores, report], ignore_index=True)
        interrupts.checkpoint()  # a signal that came while logging stops the run before export
        model_uri, registration = _export(trained, analyses)
        tracking.set_run_note(_run_note(trained, report_path, registration))
    return RunResult(run_id, experiment_id, trained, scores, model_uri, registration, report_path)


def _run_note(
    trained: TrainedRun, report_path: Path | None, registration: Registration | None
) -> str:
    """The parent run's overview in the MLflow UI: what was asked, chosen and registered."""
    selected, config = trained.selected, trained.config
    lines = [config.description, ""] if config.description else []
    h = max(config.evaluation.horizons)
    numbers = ", ".join(
        f"{label} {selected.estimate(metric, horizon):.3f}"
        + (f" (SD {selected.estimate(metric, horizon, 'sd'):.3f})" if selected.nested else "")
        for label, metric, horizon in (
            ("Harrell's C", "harrell_c", None),
            ("Uno's C", "uno_c", None),
            (f"AUC({h:g}y)", "auc", h),
            (f"calibration slope({h:g}y)", "calibration_slope", h),
        )
    )
    evaluation = config.evaluation
    where = (
        f"nested cross-validation ({evaluation.outer_folds} outer folds x {evaluation.repeats}, "
        "mean over outer folds)"
        if selected.nested
        else "test set"
    )
    lines.append(
        f"**Selected model:** {selected.model_name} ({selected.kind}, {selected.feature_set}), "
        f"chosen on cross-validated {config.tuning.metric}; {where}: {numbers}."
    )
    if report_path is not None:
        lines.append(
            f"**Report:** artefact `report/report.html` of this run (written to `{report_path}`; "
            f"`msk1model report RUN_ID` rebuilds it)."
        )
    if registration is not None:
        state = "champion" if registration.promoted else "not promoted"
        lines.append(
            f"**Registered:** `{registration.name}` version {registration.version} ({state}: "
            f"{registration.reason})."
        )
    return "\n\n".join(lines)


def _fit_one(
    config: RunConfig,
    cohort: Cohort,
    split: Split,
    design: DesignSpec,
    name: str,
    model_cfg: ModelConfig,
    feature_set: str,
    notify: Progress,
) -> ModelOutcome:
    features = cohort.features(feature_set)
    table, y = cohort.table, cohort.y
    train, test = split.train, split.test
    label = f"{name} | {feature_set}"
    tau = config.evaluation.tau
    with tracking.child_run(name, model_cfg.kind, feature_set, features) as run_id:
        tracking.log_datasets(cohort, _parts(split))
        nested = None
        if config.evaluation.scheme == "nested_cv":
            nested = _nested(config, cohort, design, name, model_cfg, feature_set, notify)
        result = tune(
            model_cfg,
            table.iloc[train],
            y[train],
            split.folds,
            features=features,
            tuning=config.tuning,
            tau=tau,
            seed=config.seed,
            design=design,
            callbacks=[lambda s, t: notify(1, f"{label}: trial {t.number + 1}{_best(s)}")],
            study_name=model_study_name(config, cohort, split, name, feature_set),
            horizon=tuning_horizon(config),
        )
        tracking.tag_study(result.study_name, result.storage)
        if config.tracking.log_trials:
            tracking.log_trials(result.frozen)
        if config.tracking.log_figures:
            tracking.log_figures(_study_figures(config, result.frozen), folder="figures/tuning")
        with interrupts.compute():
            model = make_model(
                model_cfg.kind,
                result.best_params,
                features=features,
                design=design,
                random_state=config.seed,
            )
            model.fit(table.iloc[train], y[train])
            competing = _competing_pair(cohort, split, model, model_cfg, result.best_params, design)
            evaluated = (
                nested.table()
                if nested is not None
                else score_test_set(
                    model,
                    table.iloc[test],
                    y[test],
                    y_train=y[train],
                    horizons=list(config.evaluation.horizons),
                    tau=tau,
                )
            )
            scores = pd.concat(
                [result.table(), evaluated, *_competing_scores(config, cohort, split, competing)],
                ignore_index=True,
            ).assign(model=name, feature_set=feature_set)
        with tempfile.TemporaryDirectory() as tmp:
            tracking.log_model_result(
                result.best_params, scores, result.trials, save_model(model, tmp)
            )
        if nested is not None:
            tracking.log_table(nested.fold_table(), "nested_cv/outer_folds.csv")
        if config.tracking.log_figures and nested is None:  # the figures are of the test part
            with interrupts.compute():
                figures = model_run_figures(
                    model,
                    table.iloc[test],
                    y[test],
                    X_train=table.iloc[train],
                    y_train=y[train],
                    horizons=list(config.evaluation.horizons),
                )
            tracking.log_figures(figures)
        notify(1, f"{label}: final fit")
    return ModelOutcome(
        name, model_cfg.kind, feature_set, run_id, result.best_params, scores, model, competing
    )


def _competing_pair(
    cohort: Cohort,
    split: Split,
    model: SurvivalModel,
    model_cfg: ModelConfig,
    params: dict[str, Any],
    design: DesignSpec,
) -> CompetingRisksModel | None:
    """With competing events: the fitted cause model paired with the competing events' hazard
    model (same family and hyperparameters, fitted on the training part)."""
    if cohort.competing is None:
        return None
    train = split.train
    other = make_model(
        model_cfg.kind,
        params,
        features=model.features_,
        design=design,
        random_state=model.random_state,
    )
    time, codes = cohort.time[train], cohort.event_type[train]
    return CompetingRisksModel.complete(model, other, cohort.table.iloc[train], time, codes)


def _competing_scores(
    config: RunConfig, cohort: Cohort, split: Split, pair: CompetingRisksModel | None
) -> list[pd.DataFrame]:
    """The competing-risk metrics of the test part (none without competing events)."""
    if pair is None:
        return []
    train, test = split.train, split.test
    return [
        score_competing(
            pair,
            cohort.table.iloc[test],
            cohort.time[test],
            cohort.event_type[test],
            time_train=cohort.time[train],
            type_train=cohort.event_type[train],
            horizons=list(config.evaluation.horizons),
            tau=config.evaluation.tau,
        )
    ]


def _nested(
    config: RunConfig,
    cohort: Cohort,
    design: DesignSpec,
    name: str,
    model_cfg: ModelConfig,
    feature_set: str,
    notify: Progress,
) -> NestedResult:
    """Nested cross-validation of one model and feature set over every patient."""
    evaluation = config.evaluation
    plan = outer_folds(
        cohort.y,
        outer=evaluation.outer_folds,
        repeats=evaluation.repeats,
        inner=config.split.cv_folds,
        seed=config.seed,
    )

    def fold_study(fold: OuterFold) -> str:
        return study_name(
            config.experiment,
            name,
            f"{feature_set}.{fold.label}",
            data_fingerprint=cohort.fingerprint,
            folds=[(fold.train[fit], fold.train[validate]) for fit, validate in fold.inner],
        )

    label = f"{name} | {feature_set}"
    return run_nested_cv(
        model_cfg,
        cohort.table,
        cohort.y,
        plan,
        features=cohort.features(feature_set),
        tuning=config.tuning,
        tau=config.evaluation.tau,
        seed=config.seed,
        design=design,
        horizons=list(evaluation.horizons),
        horizon=tuning_horizon(config),
        study_name=fold_study,
        callbacks=[lambda s, t: notify(1, f"{label}: nested CV trial {t.number + 1}")],
    )


def _study_figures(
    config: RunConfig, trials: tuple[optuna.trial.FrozenTrial, ...]
) -> dict[str, Figure]:
    metric = config.tuning.metric
    horizon = tuning_horizon(config)
    target = f"CV {metric}" + (f" at {horizon:g} years" if metric in ("auc", "ibs") else "")
    with interrupts.compute():
        return study_figures(trials, direction=DIRECTIONS[metric], target=target,
                             seed=config.seed)  # fmt: skip


def model_study_name(
    config: RunConfig, cohort: Cohort, split: Split, model: str, feature_set: str
) -> str:
    """The Optuna study of one model and feature set (the same from ``train`` and workers)."""
    return study_name(
        config.experiment,
        model,
        feature_set,
        data_fingerprint=cohort.fingerprint,
        folds=[(split.train[fit], split.train[validate]) for fit, validate in split.folds],
    )


def _best(study: optuna.Study) -> str:
    """``, best 0.712`` (the best objective so far), or nothing before a trial completed."""
    done = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    return f", best {study.best_value:.3f}" if done else ""


def _select(outcomes: tuple[ModelOutcome, ...], metric: str) -> ModelOutcome:
    """The clinical+msk1 model with the best CV ``metric`` (the test set plays no part)."""
    candidates = [o for o in outcomes if o.feature_set == BIOMARKER_FEATURE_SET]
    pick = max if DIRECTIONS[metric] == "maximize" else min
    return pick(candidates, key=lambda o: o.cv_mean(metric))


def _subgroup_cohort(config: RunConfig) -> Cohort | Exception | None:
    """The source without the restriction on ``report.subgroup_column``, for the report.

    A run restricted to one level (``data.subgroup: {er: 1}``) cannot show the biomarker within
    each level and their interaction, so that section covers every patient of the source. When
    the source cannot be loaded so, the error is passed on and the report notes it.
    """
    column = config.report.subgroup_column
    if column is None:
        return None
    data = config.data
    subgroup = {k: v for k, v in data.subgroup.items() if k != column}
    covariates = [c for c in data.covariates if c != column]
    broad = data.model_copy(update={"subgroup": subgroup, "covariates": [*covariates, column]})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the run's own cohort has warned already
            return load_cohort(broad, config.split, config.seed)
    except (Msk1ModelError, ArithmeticError, ValueError) as exc:
        return exc


def _report(trained: TrainedRun, run_id: str) -> tuple[Path, pd.DataFrame, Analyses]:
    """Run the report's analyses, write it to ``report.output_dir/<run id>/`` and log it;
    return its path, its headline scores and the analyses."""
    config, cohort = trained.config, trained.cohort
    with interrupts.compute():
        analyses = run_analyses(trained)
        provenance = tracking.provenance_tags(config, cohort)
        shown = {k: v for k, v in provenance.items() if k.startswith(("msk1model.git", "version."))}
        document = report_document(trained, analyses, run_id=run_id, provenance=shown)
    out_dir = Path(config.report.output_dir) / run_id
    html = write_report(document, out_dir)
    tracking.log_report(out_dir)
    scores = report_scores(analyses, trained.selected)
    tracking.log_parent_metrics(scores)
    return html, scores, analyses


def _contract(trained: TrainedRun) -> InputContract:
    """What the exported predictor accepts: the selected model's features, their value rules,
    the training levels and ranges; covariates may be missing when the run imputes them."""
    config, cohort = trained.config, trained.cohort
    imputable = cohort.covariates if config.data.missing == "impute" else ()
    return InputContract.from_training(
        trained.selected.model,
        cohort.table.iloc[trained.split.train],
        rules=value_rules(config.data),
        imputable=imputable,
        margin=config.export.training_range_margin,
        outside_training_range=config.export.outside_training_range,
    )


def _spec(trained: TrainedRun) -> PredictorSpec:
    """What the exported predictor outputs and accepts, frozen on the training rows."""
    config, cohort, selected = trained.config, trained.cohort, trained.selected
    train = cohort.table.iloc[trained.split.train]
    limit = follow_up_limit(cohort.y[trained.split.train])
    groups = config.export.risk_groups
    return PredictorSpec(
        horizons=tuple(predictor_horizons(config.evaluation.horizons, limit)),
        max_horizon=limit,
        risk_groups=risk_groups(
            selected.model,
            train,
            cut=groups.cut,
            labels=groups.labels,
            biomarker=cohort.biomarker,
            report_cutpoint=config.report.cutpoint,
        ),
        contract=_contract(trained),
        development=_development(trained),
        meta={
            "model_name": selected.model_name,
            "kind": selected.kind,
            "feature_set": selected.feature_set,
            "features": selected.model.features_,
            "time_unit": "years",
            "endpoint": cohort.endpoint,
            "cohort": cohort_definition(config.data),
            "data_fingerprint": cohort.fingerprint,
            "config_hash": config_hash(config),
            "msk1model_version": __version__,
        },
    )


def _development(trained: TrainedRun) -> dict[str, Any]:
    """The development cohort's aggregates the predictor keeps for transport checks."""
    config, cohort, model = trained.config, trained.cohort, trained.selected.model
    rows = trained.split.train
    X = cohort.table.iloc[rows][list(model.features_)]
    marker = config.biomarker
    return development_profile(
        X,
        cohort.y[rows],
        model.predict(X),
        list(config.evaluation.horizons),
        categorical=[c for c in config.data.categorical if c in X.columns],
        biomarker={
            "column": cohort.biomarker,
            "transform": marker.transform,
            "offset": marker.offset,
            "platform": marker.platform,
            "unit": marker.unit,
        },
    )


def _export(trained: TrainedRun, analyses: Analyses | None) -> tuple[str, Registration | None]:
    config, cohort, selected = trained.config, trained.cohort, trained.selected
    spec = _spec(trained)
    card = model_card(trained, spec, analyses)
    exported = selected.model if selected.competing is None else selected.competing
    model_uri = log_predictor(exported, spec, card, source_run_id=selected.run_id)
    if not config.export.register_model:
        return model_uri, None
    champion = config.export.champion_metric
    metrics = tracking.mlflow_metrics(selected.scores, run="model")
    registration = register_predictor(
        model_uri,
        config.export.model_name,
        config.export.alias,
        {name: value for name, value in metrics.items() if np.isfinite(value)},
        champion_metric=champion,
        higher_is_better=tracking.champion_metrics(
            config.evaluation.horizons, config.evaluation.scheme
        )[champion]
        == "maximize",
        tags=version_tags(
            endpoint=cohort.endpoint,
            cohort=cohort_definition(config.data),
            data_fingerprint=cohort.fingerprint,
            config_hash=config_hash(config),
            git_commit=tracking.provenance_tags(config, cohort).get("msk1model.git_commit"),
            extra={
                "msk1model.model_name": selected.model_name,
                "msk1model.kind": selected.kind,
                "msk1model.feature_set": selected.feature_set,
                "msk1model.source_run": selected.run_id,
            },
        ),
        description=card.markdown(),
    )
    return model_uri, registration
