"""Load-test `unseen serve` on 127.0.0.1: throughput and latency under concurrency.

Starts `unseen serve` as a subprocess on a free loopback port, then for each
scenario runs CONCURRENCY client tasks (httpx.AsyncClient, one process) that
send requests back to back for DURATION seconds after a short warm-up:
- single: one record per request (the micro-batched path),
- bulk: BULK_SIZE records per request.
It reports requests/s, records/s, p50/p90/p99 latency, failed requests and the
server's mean micro-batch size, and exits 1 if any request failed.

Unless --model is given, the model is fitted here on the normal rows of NSL-KDD
KDDTrain+_20Percent.txt (autoencoder, 5 epochs). The records sent are the first
2,000 rows of KDDTest+.txt. The client and the server share the machine's
cores, so the figures are a lower bound for a server with its own machine.

Usage: nice -n 10 python benchmarks/service_load.py [--duration 60] [--concurrency 50]
       [--datasets ../shared/datasets] [--model FILE] [--output results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "nsl"


def read_nsl_kdd(datasets: Path, file_name: str) -> pd.DataFrame:
    folder = datasets / "tabular" / "nsl_kdd"
    names = pd.read_csv(folder / "Field_Names.csv", header=None)[0].tolist()
    return pd.read_csv(folder / file_name, header=None, names=[*names, "label", "difficulty"])


def fit_model(datasets: Path, path: Path) -> None:
    from unseen.pipeline import AnomalyPipeline

    train = read_nsl_kdd(datasets, "KDDTrain+_20Percent.txt")
    normal = train[train["label"] == "normal"].drop(columns=["label", "difficulty"])
    AnomalyPipeline(detector="autoencoder", detector_params={"epochs": 5}, random_state=0).fit(
        normal
    ).save(path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, port: int, log_path: Path, workers: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-c",
        "from unseen.cli import run; run()",
        "serve",
        f"{MODEL_NAME}={model}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"unseen serve exited early; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("unseen serve did not become ready within 120 s")


async def run_scenario(
    url: str, bodies: list[bytes], records_per_request: int, duration: float, concurrency: int
) -> dict:
    latencies: list[float] = []
    failures: dict[str, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        # One continuous loop per client: a barrier between warm-up and measurement
        # would leave connections idle past the server's 5 s keep-alive timeout.
        async def worker(offset: int, measure_from: float, until: float) -> None:
            index = offset
            while time.perf_counter() < until:
                body = bodies[index % len(bodies)]
                index += concurrency
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    outcome = None if response.status_code == 200 else str(response.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                if started < measure_from:
                    continue
                if outcome is None:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures[outcome] = failures.get(outcome, 0) + 1

        measure_from = time.perf_counter() + min(5.0, duration / 10)
        until = measure_from + duration
        await asyncio.gather(*(worker(i, measure_from, until) for i in range(concurrency)))
        elapsed = time.perf_counter() - measure_from
    milliseconds = np.asarray(latencies) * 1000
    completed = len(latencies)
    return {
        "records_per_request": records_per_request,
        "concurrency": concurrency,
        "duration_s": round(elapsed, 1),
        "requests": completed,
        "failed_requests": sum(failures.values()),
        "failures": failures,
        "requests_per_s": round(completed / elapsed, 1),
        "records_per_s": round(completed * records_per_request / elapsed, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(milliseconds, 50)), 1) if completed else None,
            "p90": round(float(np.percentile(milliseconds, 90)), 1) if completed else None,
            "p99": round(float(np.percentile(milliseconds, 99)), 1) if completed else None,
        },
    }


def batch_totals(base_url: str) -> tuple[float, float]:
    """Return (records, calls) of the server's micro-batch histogram so far."""
    text = httpx.get(f"{base_url}/metrics").text
    totals = {"unseen_batch_size_sum": 0.0, "unseen_batch_size_count": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
    return totals["unseen_batch_size_sum"], totals["unseen_batch_size_count"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=REPO_ROOT / ".." / "shared" / "datasets")
    parser.add_argument("--model", type=Path, help="Model file; fitted on NSL-KDD if omitted.")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds per scenario.")
    parser.add_argument("--concurrency", type=int, default=50, help="Concurrent clients.")
    parser.add_argument("--workers", type=int, default=1, help="Server processes.")
    parser.add_argument("--bulk-size", type=int, default=1000, help="Records per bulk request.")
    parser.add_argument("--output", type=Path, help="Write the results as JSON here.")
    parser.add_argument("--server-log", type=Path, help="Keep the server's log here.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            model = Path(folder) / "nsl.unseen"
            fit_model(args.datasets, model)
        test = read_nsl_kdd(args.datasets, "KDDTest+.txt").head(2000)
        records = json.loads(test.drop(columns=["label", "difficulty"]).to_json(orient="records"))
        single_bodies = [json.dumps({"records": [r]}).encode() for r in records]
        bulk_bodies = [
            json.dumps({"records": records[start : start + args.bulk_size]}).encode()
            for start in range(0, len(records) - args.bulk_size + 1, args.bulk_size)
        ]
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = args.server_log or Path(folder) / "serve.log"
        server = start_server(model, port, log_path, args.workers)
        url = f"{base_url}/v1/models/{MODEL_NAME}/score"
        results = {}
        try:
            for name, bodies, size in (
                ("single", single_bodies, 1),
                ("bulk", bulk_bodies, args.bulk_size),
            ):
                before = batch_totals(base_url)
                results[name] = asyncio.run(
                    run_scenario(url, bodies, size, args.duration, args.concurrency)
                )
                after = batch_totals(base_url)
                calls = after[1] - before[1]
                mean = (after[0] - before[0]) / calls if calls else None
                results[name]["mean_batch_size"] = round(mean, 1) if mean else None
                print(name, json.dumps(results[name]), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)

    report = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "scenarios": results,
    }
    print()
    print("| scenario | records/request | requests/s | records/s | p50 ms | p99 ms | failed |")
    print("|---|---|---|---|---|---|---|")
    for name, result in results.items():
        latency = result["latency_ms"]
        print(
            f"| {name} | {result['records_per_request']} | {result['requests_per_s']} | "
            f"{result['records_per_s']} | {latency['p50']} | {latency['p99']} | "
            f"{result['failed_requests']} |"
        )
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if any(r["failed_requests"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
