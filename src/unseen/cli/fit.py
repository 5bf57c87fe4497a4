"""``unseen fit``: learn normal behaviour from a table and save a model file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.common import console, parse_header, parse_params, progress_bars
from unseen.data import read_table
from unseen.errors import UnseenError
from unseen.pipeline import DEFAULT_DETECTOR, DEFAULT_TARGET_FPR, MIN_TRAINING_ROWS

# Flags that map to the hyper-parameter names shared by the detectors.
COMMON_FLAGS = ("epochs", "batch_size", "learning_rate", "hidden_dims")


def fit_command(
    data: Annotated[Path, typer.Argument(help="Training table: CSV or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write.")],
    detector: Annotated[str, typer.Option(help="Detector name; see `unseen detectors`.")] = (
        DEFAULT_DETECTOR
    ),
    id_column: Annotated[
        list[str], typer.Option("--id", help="Id column kept in outputs, never a feature.")
    ] = [],  # noqa: B006 (typer reads list defaults without mutating them)
    label: Annotated[str | None, typer.Option(help="Label column, kept out of training.")] = None,
    ignore: Annotated[list[str], typer.Option(help="Column to leave out.")] = [],  # noqa: B006
    categorical: Annotated[list[str], typer.Option(help="Column to treat as categorical.")] = [],  # noqa: B006
    train_on_normal: Annotated[
        bool, typer.Option(help="Train only on rows whose --label marks them normal.")
    ] = False,
    normal_value: Annotated[
        list[str], typer.Option(help="Label value meaning normal (text labels).")
    ] = [],  # noqa: B006
    target_fpr: Annotated[
        float | None,
        typer.Option(
            help="Flag rows with p-value at most this false-positive rate (default 0.01)."
        ),
    ] = None,
    contamination: Annotated[
        float | None, typer.Option(help="Instead of --target-fpr: flag this share of rows.")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Instead of --target-fpr: flag scores above this.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum training epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per training step.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Optimiser step size.")] = None,
    hidden_dims: Annotated[
        str | None, typer.Option(help="Layer widths, comma-separated, e.g. 64,16.")
    ] = None,
    param: Annotated[
        list[str], typer.Option(help="Other detector hyper-parameter as key=value.")
    ] = [],  # noqa: B006
    seed: Annotated[int | None, typer.Option(help="Random seed for reproducible models.")] = 0,
    no_header: Annotated[bool, typer.Option(help="The CSV file has no header line.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Learn what normal rows look like from DATA and write a model file."""
    from unseen.evaluation import binary_labels
    from unseen.pipeline import AnomalyPipeline

    alarm_options = {
        "--target-fpr": target_fpr,
        "--contamination": contamination,
        "--threshold": threshold,
    }
    rules = [name for name, value in alarm_options.items() if value is not None]
    if len(rules) > 1:
        raise UnseenError(f"{' and '.join(rules)} are alternative alarm rules: pass only one")
    _check_output_path(output)
    frame = read_table(data, header=parse_header(no_header))
    if train_on_normal:
        if label is None:
            raise UnseenError("--train-on-normal needs --label to tell which rows are normal")
        if label not in frame.columns:
            raise UnseenError(f"label column {label!r} not found in {str(data)!r}")
        n_rows = len(frame)
        frame = frame[binary_labels(frame[label], normal_value or None) == 0]
        if len(frame) < MIN_TRAINING_ROWS:
            raise UnseenError(
                f"--train-on-normal keeps {len(frame)} of {n_rows} rows (the rest are labelled "
                f"anomalies), but fitting needs at least {MIN_TRAINING_ROWS}: pass more normal rows"
            )
    params = parse_params(param)
    flags = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "hidden_dims": _parse_dims(hidden_dims) if hidden_dims else None,
    }
    params.update({k: v for k, v in flags.items() if v is not None})
    pipeline = AnomalyPipeline(
        detector=detector,
        detector_params=params,
        target_fpr=DEFAULT_TARGET_FPR if target_fpr is None else target_fpr,
        contamination=contamination,
        score_threshold=threshold,
        id_columns=id_column,
        label_column=label,
        ignore_columns=ignore,
        categorical_columns=categorical,
        random_state=seed,
    )
    _check_params(pipeline, params)
    with progress_bars(quiet):
        pipeline.fit(frame)
    pipeline.save(output)
    if not quiet:
        info = pipeline.training_info_
        if info.get("calibration") == "out_of_sample":
            calibrated = "calibrated on their out-of-sample scores"
        else:
            calibrated = f"{info['n_calibration_rows']} held out for calibration"
        console.print(
            f"fitted {pipeline.detector_.name} on {info['n_training_rows']} rows "
            f"({calibrated}), "
            f"{len(pipeline.schema_.features)} columns -> {info['n_encoded_features']} features; "
            f"{pipeline.calibrator_.rule.describe()}, threshold {pipeline.threshold_:.6g}; "
            f"wrote {output}"
        )


def _check_output_path(output: Path) -> None:
    """Reject an unusable model path before training rather than after it."""
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise UnseenError(f"cannot write {str(output)!r}: folder {str(folder)!r} does not exist")
    if output.is_dir():
        raise UnseenError(f"cannot write {str(output)!r}: it is a folder, pass a file name")


def _parse_dims(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UnseenError(f"--hidden-dims expects integers like 64,16, got {text!r}") from None


def _check_params(pipeline, params: dict) -> None:
    from unseen.detectors import REGISTRY, make_detector

    if "+" in pipeline.detector:
        # The ensemble routes each parameter to its members and names any that none accepts.
        make_detector(pipeline.detector, **params)
        return
    if pipeline.detector not in REGISTRY:
        raise UnseenError(
            f"unknown detector {pipeline.detector!r}; choose one of: {', '.join(sorted(REGISTRY))}"
        )
    known = REGISTRY[pipeline.detector]().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise UnseenError(
            f"detector {pipeline.detector!r} has no hyper-parameter(s) {unknown}; "
            f"it accepts: {', '.join(sorted(known))}"
        )


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_command)
