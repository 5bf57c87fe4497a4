"""``unseen bench``: compare detectors on labelled data under the ADBench protocol."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.common import console, write_table
from unseen.errors import UnseenError
from unseen.io.atomic import write_atomically

DEFAULT_PEERS = "IForest,ECOD,KNN,AutoEncoder,VAE,DeepSVDD"


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UnseenError(f"--seeds expects integers separated by commas, got {text!r}") from None
    if not seeds:
        raise UnseenError("--seeds needs at least one seed, e.g. --seeds 0,1,2")
    invalid = [seed for seed in seeds if not 0 <= seed < 2**32]
    if invalid:
        raise UnseenError(f"--seeds must be integers from 0 to 4294967295, got {invalid}")
    return sorted(set(seeds), key=seeds.index)


def _dataset_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.npz"))
            if not found:
                raise UnseenError(
                    f"folder {str(path)!r} contains no .npz files: pass .npz files or tables"
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise UnseenError(f"dataset {str(path)!r} does not exist")
    return files


def bench_command(
    data: Annotated[
        list[Path],
        typer.Argument(help="Labelled .npz files (X, y), folders of them, or CSV/Parquet tables."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for results.csv and summary.md.")
    ],
    detectors: Annotated[
        str, typer.Option(help="unseen detectors, comma-separated (NAME or NAME+NAME).")
    ] = "robust_ensemble,autoencoder",
    peers: Annotated[
        str,
        typer.Option(
            help="PyOD peers, comma-separated; 'none' to skip. Needs the bench extra (PyOD)."
        ),
    ] = DEFAULT_PEERS,
    label: Annotated[
        str | None, typer.Option(help="Label column (0/1) of CSV/Parquet tables.")
    ] = None,
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated.")] = "0,1,2",
    settings: Annotated[
        str, typer.Option(help="unsupervised, clean, or both comma-separated.")
    ] = "unsupervised,clean",
    max_rows: Annotated[
        int, typer.Option(help="Subsample larger files to this many rows (stratified).", min=100)
    ] = 10_000,
    threads: Annotated[int, typer.Option(help="Torch threads for every detector.", min=1)] = 1,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run from output/runs.partial.csv.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write an HTML report here (needs the report extra).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Run detectors and PyOD peers on the same splits; write per-run CSV and a summary."""
    from unseen.bench import load_labelled, run_benchmark, summary_markdown
    from unseen.bench.peers import pyod_available

    if output.exists() and not output.is_dir():
        raise UnseenError(f"--output {str(output)!r} is a file: pass a folder for the results")
    files = _dataset_files(data)
    candidates = [f"unseen:{d.strip()}" for d in detectors.split(",") if d.strip()]
    if peers.strip().lower() != "none":
        names = [p.strip() for p in peers.split(",") if p.strip()]
        if not pyod_available():
            if peers != DEFAULT_PEERS:
                raise UnseenError("PyOD peers need the bench extra: pip install 'unseen[bench]'")
            console.print("PyOD is not installed: running unseen's detectors only")
            names = []
        candidates += [f"pyod:{name}" for name in names]
    if not candidates:
        raise UnseenError("nothing to run: name at least one detector or peer")
    seed_list = _parse_seeds(seeds)
    setting_list = list(dict.fromkeys(s.strip() for s in settings.split(",") if s.strip()))
    if not setting_list:
        raise UnseenError("--settings needs unsupervised, clean, or both, comma-separated")
    if not quiet:
        logging.getLogger("unseen.bench").setLevel(logging.INFO)
    # Created only once the inputs are valid, so a rejected command leaves no folder.
    output.mkdir(parents=True, exist_ok=True)
    partial = output / "runs.partial.csv"
    results = run_benchmark(
        (load_labelled(path, label) for path in files),
        candidates,
        seeds=seed_list,
        settings=setting_list,
        max_rows=max_rows,
        results_path=partial,
        resume=resume,
        threads=threads,
    )
    write_table(results, output / "results.csv")
    _write_text(output / "summary.md", summary_markdown(results))
    partial.unlink(missing_ok=True)
    if html is not None:
        from unseen import report

        # The report names the scoring-speed column rows_per_second.
        report.write_benchmark_report(
            results.rename(columns={"score_rows_per_second": "rows_per_second"}), html
        )
    if not quiet:
        console.print(
            f"{len(results)} runs, {int((results['error'].fillna('') != '').sum())} failed; "
            f"wrote {output / 'results.csv'} and {output / 'summary.md'}"
        )


def _write_text(path: Path, text: str) -> None:
    write_atomically(path, text.encode("utf-8"))


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
