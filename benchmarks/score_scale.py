"""Score a 10-million-row Parquet file with ``unseen score`` and measure speed and memory.

    python benchmarks/score_scale.py [--rows 10000000] [--batch-rows 100000]

Fits an autoencoder pipeline on ADBench cardio (21 numeric columns), writes
a Parquet file of synthetic rows in that schema (real rows plus Gaussian
noise, so a few percent are flagged), runs ``unseen score`` on it in a child
process and reads the child's peak resident memory from ``os.wait4``
(``ru_maxrss``). Results go to ``benchmarks/results/score_scale.json``,
which ``run_benchmarks.py`` puts on the results page. The big files live in
a temporary folder that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from unseen.pipeline import AnomalyPipeline

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("UNSEEN_DATASETS", ROOT.parent / "shared" / "datasets"))
RESULTS = ROOT / "benchmarks" / "results" / "score_scale.json"
GENERATION_CHUNK = 1_000_000


def write_rows(path: Path, base: np.ndarray, n_rows: int, seed: int) -> None:
    """Write ``n_rows`` noisy copies of ``base`` rows, one row group per chunk."""
    rng = np.random.default_rng(seed)
    scale = base.std(axis=0) * 0.05
    names = [f"x{i}" for i in range(base.shape[1])]
    writer = None
    written = 0
    while written < n_rows:
        size = min(GENERATION_CHUNK, n_rows - written)
        noise = rng.normal(size=(size, base.shape[1])) * scale
        rows = base[rng.integers(0, len(base), size)] + noise
        columns = {"row_id": np.arange(written, written + size, dtype=np.int64)}
        columns.update({n: rows[:, i].astype(np.float32) for i, n in enumerate(names)})
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        written += size
    writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    args = parser.parse_args(argv)

    with np.load(DATASETS / "tabular" / "adbench" / "6_cardio.npz", allow_pickle=False) as data:
        X, y = data["X"].astype(np.float64), data["y"].astype(int)
    normal = X[y == 0]
    folder = Path(tempfile.mkdtemp(prefix="unseen_scale_"))
    try:
        frame = pd.DataFrame(normal, columns=[f"x{i}" for i in range(X.shape[1])])
        frame.insert(0, "row_id", np.arange(len(frame)))
        pipeline = AnomalyPipeline("autoencoder", id_columns=["row_id"], random_state=0)
        pipeline.fit(frame)
        model = folder / "model.unseen"
        pipeline.save(model)
        source = folder / "rows.parquet"
        write_rows(source, X, args.rows, seed=0)
        output = folder / "scores.parquet"
        unseen = Path(sys.executable).with_name("unseen")
        command = [str(unseen), "score", str(model), str(source), "-o", str(output)]
        command += ["--batch-rows", str(args.batch_rows)]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        stdout, stderr = child.stdout.read().decode(), child.stderr.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"unseen score failed: {stderr.strip()}")
        n_scored = pq.ParquetFile(output).metadata.num_rows
        if n_scored != args.rows:
            raise SystemExit(f"expected {args.rows} scored rows, found {n_scored}")
        summary_line = " ".join((stdout + stderr).split())
        result = {
            "command": "unseen score MODEL rows.parquet -o scores.parquet "
            f"--batch-rows {args.batch_rows}",
            "detector": "autoencoder",
            "rows": args.rows,
            "columns": X.shape[1] + 1,
            "input_mb": source.stat().st_size / 2**20,
            "batch_rows": args.batch_rows,
            "seconds": seconds,
            "rows_per_second": args.rows / seconds,
            "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux reports kilobytes
            "summary_line": summary_line,
            "date": dt.date.today().isoformat(),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
