"""Benchmark: ingest of raw UltraFeedback-shaped JSONL against a pyarrow read-and-write floor.

The floor is ``pyarrow.json.read_json`` + ``pyarrow.parquet.write_table`` on
the same file, the least work that turns the file into Parquet. Each
measurement runs in a fresh subprocess, so its peak resident memory
(``ru_maxrss``) is its own.

Usage::

    python benchmarks/ingest_speed.py --responses 250000 --workdir /tmp/mmpo-bench
    python benchmarks/ingest_speed.py --responses 125000 250000 --repeats 3  # two sizes
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

COMPLETIONS_PER_PROMPT = 4
ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")
WORDS = "the a model answer prompt score rating because which number data value result reason".split()

logger = logging.getLogger(__name__)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def write_ultrafeedback(path: Path, responses: int, seed: int = 0) -> None:
    """Write ``responses`` completions, 4 per prompt, in the openbmb/UltraFeedback layout."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as stream:
        for index in range(responses // COMPLETIONS_PER_PROMPT):
            completions = []
            for model in range(COMPLETIONS_PER_PROMPT):
                annotations = {
                    aspect: {"Rating": str(rng.randint(1, 5)), "Rationale": _text(rng, 20)}
                    for aspect in ASPECTS
                }
                completions.append(
                    {
                        "model": f"model-{model}",
                        "principle": "helpfulness",
                        "custom_system_prompt": "Answer helpfully.",
                        "response": _text(rng, 120),
                        "annotations": annotations,
                        "fine-grained_score": rng.randint(10, 50) / 10,
                        "overall_score": rng.randint(10, 100) / 10,
                        "critique": _text(rng, 30),
                    }
                )
            row = {"source": "bench", "instruction": f"{index}: {_text(rng, 25)}", "completions": completions}
            stream.write(json.dumps(row) + "\n")


def run_floor(path: Path, out: Path) -> None:
    """Read the file with pyarrow.json and write it back as Parquet."""
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    pq.write_table(pj.read_json(path), out, compression="zstd")


def run_mmpo(path: Path, out: Path) -> None:
    """Run the ingest stage with the ultrafeedback source on the file."""
    from mmpo.ingest import run_ingest
    from mmpo.params import IngestParams

    params = IngestParams.from_mapping({"source": "ultrafeedback", "path": str(path)})
    metrics = run_ingest(params, out / "responses.parquet", out / "quarantine.parquet")
    assert metrics["accounting"]["balanced"], metrics


def measure(kind: str, path: Path, workdir: Path) -> dict[str, float]:
    """Run one measurement in a subprocess; return its seconds (imports excluded) and peak RSS in MiB."""
    command = [sys.executable, __file__, "--run", kind, "--input", str(path), "--workdir", str(workdir)]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, nargs="+", default=[250_000], help="completions per file")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/.work"), help="scratch folder")
    parser.add_argument("--run", choices=("floor", "mmpo"), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.run is not None:
        out = args.workdir / f"out-{args.run}"
        out.mkdir(parents=True, exist_ok=True)
        # Both sides import their modules before the clock starts.
        import pyarrow.json  # noqa: F401
        import pyarrow.parquet  # noqa: F401

        import mmpo.ingest  # noqa: F401

        start = time.perf_counter()
        if args.run == "floor":
            run_floor(args.input, out / "floor.parquet")
        else:
            run_mmpo(args.input, out)
        seconds = time.perf_counter() - start
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
        sys.stdout.write(json.dumps({"seconds": seconds, "peak_rss_mib": peak_mib}) + "\n")
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    for responses in args.responses:
        path = args.workdir / f"ultrafeedback_{responses}.jsonl"
        if not path.exists():
            write_ultrafeedback(path, responses)
        size_mib = path.stat().st_size / 2**20
        # The fastest of several runs is reported: other processes on a shared machine only add time.
        floor = min(
            (measure("floor", path, args.workdir) for _ in range(args.repeats)), key=lambda m: m["seconds"]
        )
        mmpo = min(
            (measure("mmpo", path, args.workdir) for _ in range(args.repeats)), key=lambda m: m["seconds"]
        )
        result = {
            "responses": responses,
            "file_mib": round(size_mib, 1),
            "floor_s": round(floor["seconds"], 2),
            "mmpo_s": round(mmpo["seconds"], 2),
            "speed_ratio": round(floor["seconds"] / mmpo["seconds"], 3),
            "floor_peak_rss_mib": round(floor["peak_rss_mib"]),
            "mmpo_peak_rss_mib": round(mmpo["peak_rss_mib"]),
        }
        logger.info(json.dumps(result))


if __name__ == "__main__":
    main()
