"""Throughput and exactly-once check of the judge client against the local scripted server.

Starts ``mmpo.judge.fake_server`` in a separate process (so server and client
do not share one interpreter lock), judges N generated responses through
``run_judge`` with the given concurrency, and prints one JSON line: wall time,
the ideal bound N x latency / concurrency, their ratio, and the server's
counts of requests, successful replies and keys answered more than once.

    python benchmarks/judge_throughput.py --requests 2000 --latency 0.2 --concurrency 32
    python benchmarks/judge_throughput.py --requests 2000 --latency 0.2 --concurrency 32 --error-rate 0.2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mmpo import tables
from mmpo.files import write_parquet
from mmpo.judge.run import run_judge
from mmpo.params import JudgeParams


def write_inputs(folder: Path, count: int) -> dict[str, Path]:
    """Write ``count`` unscored responses with distinct texts and return the stage paths."""
    rows = [
        {
            "prompt_id": f"p{n // 4}",
            "group_id": f"p{n // 4}",
            "prompt": [{"role": "user", "content": f"Question number {n // 4}?"}],
            "response": f"Answer {n}: " + "x" * (n % 50),
            "score": None,
            "score_std": None,
            "num_scores": 0,
            "aspects": [],
            "judge": None,
            "source": "benchmark",
            "model": "generator",
            "origin": f"benchmark:{n + 1}",
        }
        for n in range(count)
    ]
    write_parquet(pa.Table.from_pylist(rows, schema=tables.RESPONSES), folder / "responses.parquet", {})
    names = ("judged", "judged_comparisons", "calls", "failures")
    paths = {name: folder / "out" / f"{name}.parquet" for name in names}
    return {"responses": folder / "responses.parquet", "comparisons": folder / "none.parquet", **paths}


def main() -> None:
    """Run the benchmark once and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per request, seconds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests given a 429 or 500")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "mmpo.judge.fake_server", "--latency", str(args.latency)]
        + ["--error-rate", str(args.error_rate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()
        os.environ["MMPO_BENCHMARK_KEY"] = "local-benchmark"
        params = JudgeParams.from_mapping(
            {
                "enabled": True,
                "base_url": base_url,
                "api_key_env": "MMPO_BENCHMARK_KEY",
                "concurrency": args.concurrency,
                "structured_output": False,
                "max_retries": 20,
                "backoff_base_s": 0.05,
                "backoff_max_s": 1.0,
            }
        )
        with tempfile.TemporaryDirectory() as folder:
            paths = write_inputs(Path(folder), args.requests)
            start = time.perf_counter()
            metrics = run_judge(params, paths, Path(folder) / "cache.sqlite")
            wall = time.perf_counter() - start
            scores = pq.read_table(paths["judged"]).column("score")
            failures = pq.read_table(paths["failures"]).num_rows
        with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats") as response:
            stats = json.loads(response.read())
    finally:
        server.terminate()
        server.wait()

    bound = args.requests * args.latency / args.concurrency
    result = {
        "requests": args.requests,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "error_rate": args.error_rate,
        "wall_s": round(wall, 3),
        "bound_s": bound,
        "ratio_to_bound": round(wall / bound, 3),
        "scored": scores.length() - scores.null_count,
        "failures": failures,
        "lost": args.requests - (scores.length() - scores.null_count) - failures,
        "requests_sent_by_client": metrics["requests_sent"],
        "server": stats,
    }
    print(json.dumps(result))  # noqa: T201 - the benchmark's output


if __name__ == "__main__":
    main()
