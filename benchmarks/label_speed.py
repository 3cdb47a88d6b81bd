"""Benchmark the label stage against a per-row ``datasets.map`` baseline and the I/O floor.

Generates UltraFeedback-shaped responses (P prompts x K scored responses,
scores 1-10 in half steps) in the responses schema, then times:

- mmpo: ``run_label`` in a child process (all pairs with different scores,
  soft targets, at most ``--cap`` pairs per prompt kept by largest margin,
  split, write both sets and the dataset card), timed inside the child after
  its imports, with the child's peak resident memory. The plots, which cost
  about the same at any size, are timed separately in the same child.
- baseline: the same pairs and targets written the per-row way: Python loops
  group the rows by prompt and form pairs, ``datasets.Dataset.map`` computes
  the soft target with ``math.exp`` one row at a time, a Python loop over the
  rows applies the per-prompt cap, and ``to_parquet`` writes the result.
- I/O floor: ``pyarrow`` reading the input and writing a table of the
  output's size (zstd, the same row-group size).

Usage (sizes are flags, so a small run checks the script quickly):

    python benchmarks/label_speed.py --prompts 2500
    python benchmarks/label_speed.py --prompts 250000 --workdir /tmp/label-bench --repeats 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmpo import tables  # noqa: E402
from mmpo.files import ROW_GROUP_SIZE  # noqa: E402

logger = logging.getLogger("label_speed")

WORDS = np.array("the a model answer helps with clear steps code data test value result when then".split())


def _texts(rng: np.random.Generator, count: int, chars: int, pool: int = 997) -> list[str]:
    """Return ``count`` texts of about ``chars`` characters; a pool keeps generation fast."""
    words_per_text = max(1, chars // 5)
    base = [" ".join(rng.choice(WORDS, words_per_text)) for _ in range(pool)]
    return [f"{base[i % pool]} [{i}]" for i in range(count)]


def generate(path: Path, prompts: int, per_prompt: int, response_chars: int, prompt_chars: int, seed: int):
    """Write a responses table of ``prompts * per_prompt`` rows to ``path``."""
    rng = np.random.default_rng(seed)
    rows = prompts * per_prompt
    prompt_of = np.repeat(np.arange(prompts), per_prompt)
    prompt_texts = np.array(_texts(rng, prompts, prompt_chars), dtype=object)[prompt_of]
    messages = pa.StructArray.from_arrays(
        [pa.array(["user"] * rows), pa.array(prompt_texts, pa.string())], fields=list(tables.MESSAGE)
    )
    prompt_ids = pa.array([f"uf-{p:07d}" for p in prompt_of], pa.string())
    columns = {
        "prompt_id": prompt_ids,
        "group_id": prompt_ids,
        "prompt": pa.ListArray.from_arrays(pa.array(np.arange(rows + 1, dtype=np.int32)), messages),
        "response": pa.array(_texts(rng, rows, response_chars), pa.string()),
        "score": pa.array(rng.integers(2, 21, rows) / 2.0, pa.float64()),
        "score_std": pa.nulls(rows, pa.float64()),
        "num_scores": pa.array(np.ones(rows, dtype=np.int64)),
        "aspects": pa.array([[]] * rows, tables.RESPONSES.field("aspects").type),
        "judge": pa.array(["gpt-4"] * rows, pa.string()),
        "source": pa.array(["ultrafeedback"] * rows, pa.string()),
        "model": pa.array([f"model-{i % per_prompt}" for i in range(rows)], pa.string()),
        "origin": pa.array([f"bench.jsonl:{i + 1}" for i in range(rows)], pa.string()),
    }
    table = pa.table(columns, schema=tables.RESPONSES)
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP_SIZE)  # as ingest writes it


CHILD = """
import json, resource, sys, time
from pathlib import Path
from mmpo.label import run_label
from mmpo.params import LabelParams

responses, out, gamma, cap = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
params = LabelParams.from_mapping({"gamma": gamma, "max_pairs_per_prompt": cap, "score_scale": [1, 10]})
start = time.perf_counter()
metrics = run_label(params, responses, out / "train.parquet", out / "test.parquet")
seconds = time.perf_counter() - start
# VmHWM starts afresh at exec; ru_maxrss would keep the parent's size from before the exec.
status = Path("/proc/self/status")
lines = status.read_text().splitlines() if status.exists() else []
high_water = [int(line.split()[1]) for line in lines if line.startswith("VmHWM:")]
peak = (high_water[0] if high_water else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024.0

from mmpo.label_plots import write_plots
import pyarrow as pa, pyarrow.parquet as pq
columns = ["prompt_id", "source", "score_chosen", "score_rejected", "margin", "p_chosen", "weight"]
sets = [pq.read_table(out / f"{name}.parquet", columns=columns) for name in ("train", "test")]
table = pa.concat_tables(sets)
start = time.perf_counter()
write_plots(table, out / "plots")
plots = time.perf_counter() - start
report = {"seconds": seconds, "pairs": metrics["pairs"], "plots_seconds": plots, "peak_rss_mb": peak}
print(json.dumps(report))
"""


def run_mmpo(responses: Path, out: Path, gamma: float, cap: int) -> dict:
    """Run ``run_label`` in a child process; return its wall seconds (imports excluded) and peak RSS.

    The peak resident memory is the child's own high-water mark (``VmHWM``
    on Linux) read right after ``run_label`` returns, so the plot timing
    that follows, which reads the written sets back, does not count.
    ``ru_maxrss`` is not used on Linux because it keeps the parent's
    resident size from before the exec.
    """
    command = [sys.executable, "-c", CHILD, str(responses), str(out), str(gamma), str(cap)]
    start = time.perf_counter()
    result = subprocess.run(command, check=True, cwd=REPO, capture_output=True, text=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["process_seconds"] = time.perf_counter() - start
    return report


def run_baseline(responses: Path, out: Path, gamma: float, cap: int) -> dict:
    """Label the per-row way with ``datasets``; return wall seconds and the pair count."""
    start = time.perf_counter()
    rows = datasets.Dataset.from_parquet(str(responses), cache_dir=str(out / "cache"))
    by_prompt: dict[str, list[dict]] = {}
    for row in rows:
        by_prompt.setdefault(row["prompt_id"], []).append(row)
    pairs = []
    for prompt_id, group in by_prompt.items():
        for a, b in itertools.combinations(group, 2):
            if a["score"] == b["score"]:
                continue
            chosen, rejected = (a, b) if a["score"] > b["score"] else (b, a)
            pairs.append(
                {
                    "prompt_id": prompt_id,
                    "prompt": chosen["prompt"],
                    "chosen": [{"role": "assistant", "content": chosen["response"]}],
                    "rejected": [{"role": "assistant", "content": rejected["response"]}],
                    "score_chosen": chosen["score"],
                    "score_rejected": rejected["score"],
                }
            )
    dataset = datasets.Dataset.from_list(pairs)

    def soft_target(row):
        margin = row["score_chosen"] - row["score_rejected"]
        return {"margin": margin, "p_chosen": 1.0 / (1.0 + math.exp(-gamma * margin))}

    dataset = dataset.map(soft_target)
    kept_by_prompt: dict[str, list[tuple[float, int]]] = {}
    for index, row in enumerate(dataset):
        kept_by_prompt.setdefault(row["prompt_id"], []).append((row["margin"], index))
    kept = []
    for candidates in kept_by_prompt.values():
        candidates.sort(key=lambda item: (-item[0], item[1]))
        kept.extend(index for _, index in candidates[:cap])
    dataset = dataset.select(sorted(kept))
    dataset.to_parquet(str(out / "baseline.parquet"))
    return {"seconds": time.perf_counter() - start, "pairs": dataset.num_rows}


FLOOR_CHILD = """
import json, sys, time
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq

responses, out, row_group_size = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
output = pa.concat_tables([pq.read_table(out / "train.parquet"), pq.read_table(out / "test.parquet")])
start = time.perf_counter()
pq.read_table(responses)
pq.write_table(output, out / "floor.parquet", compression="zstd", row_group_size=row_group_size)
print(json.dumps({"seconds": time.perf_counter() - start, "rows": output.num_rows}))
"""


def run_io_floor(responses: Path, out: Path) -> dict:
    """Time reading the input and writing a table of the output's size with pyarrow, in a child process.

    A fresh process, like mmpo's child, so neither gets memory that an
    earlier run of this script already mapped.
    """
    command = [sys.executable, "-c", FLOOR_CHILD, str(responses), str(out), str(ROW_GROUP_SIZE)]
    result = subprocess.run(command, check=True, cwd=REPO, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=2500, help="prompts to generate")
    parser.add_argument("--per-prompt", type=int, default=4, help="scored responses per prompt")
    parser.add_argument("--response-chars", type=int, default=300, help="approximate characters per response")
    parser.add_argument("--prompt-chars", type=int, default=120, help="approximate characters per prompt")
    parser.add_argument("--cap", type=int, default=3, help="pairs kept per prompt, by largest margin")
    parser.add_argument("--gamma", type=float, default=0.5)
    parser.add_argument("--skip-baseline", action="store_true", help="time mmpo and the I/O floor only")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of mmpo and of the floor; the median is reported"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="folder for the files (default: a temp dir)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    datasets.disable_progress_bars()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="label-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    responses = workdir / "responses.parquet"
    generate(responses, args.prompts, args.per_prompt, args.response_chars, args.prompt_chars, args.seed)
    logger.info("generated %d responses in %s", args.prompts * args.per_prompt, responses)

    report = {
        "machine": f"{platform.machine()}, {platform.system()}, python {platform.python_version()}",
        "args": {k: str(v) for k, v in vars(args).items()},
        "input_mb": responses.stat().st_size / 1e6,
    }
    # mmpo and the floor take turns, so drift in machine load affects both alike.
    runs = {"mmpo": [], "io_floor": []}
    for _ in range(args.repeats):
        runs["mmpo"].append(run_mmpo(responses, workdir, args.gamma, args.cap))
        runs["io_floor"].append(run_io_floor(responses, workdir))
    for name, results in runs.items():
        seconds = [result["seconds"] for result in results]
        report[name] = {**results[-1], "seconds": statistics.median(seconds), "runs_seconds": seconds}
    report["mmpo"]["peak_rss_mb"] = max(result["peak_rss_mb"] for result in runs["mmpo"])
    report["mmpo_vs_io_floor"] = report["mmpo"]["seconds"] / report["io_floor"]["seconds"]
    if not args.skip_baseline:
        report["baseline"] = run_baseline(responses, workdir, args.gamma, args.cap)
        report["baseline_vs_mmpo"] = report["baseline"]["seconds"] / report["mmpo"]["seconds"]
    logger.info("%s", json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
