"""The judge stage end to end: pairwise mode, the CLI, a killed run resumed, and the public sample."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from conftest import REPO
from judge_helpers import judge_params, response_row, write_responses

from mmpo.cli import main
from mmpo.judge.fake_server import Reply, judged_response, rating_judge, rating_script
from mmpo.judge.run import run_judge
from mmpo.label import run_label
from mmpo.params import LabelParams

BLOCK = r"<<<RESPONSE-{name}-(\w+)>>>\n(.*)\n<<<END-RESPONSE-{name}-\1>>>"


def shown_pair(body):
    content = body["messages"][1]["content"]
    a = re.search(BLOCK.format(name="A"), content, re.DOTALL).group(2)
    b = re.search(BLOCK.format(name="B"), content, re.DOTALL).group(2)
    return a, b


def longer_wins(body, number):
    a, b = shown_pair(body)
    return Reply("Verdict: [[A]]" if len(a) > len(b) else "Verdict: [[B]]")


PAIR_ROWS = [
    response_row("short", prompt="p", line=1),
    response_row("a longer one", prompt="p", line=2),
    response_row("the longest answer", prompt="p", line=3),
    response_row("alone", prompt="q", line=4),
]


def test_pairwise_both_orders_consistent(tmp_path, chat_server, api_key):
    server = chat_server(longer_wins)
    paths = write_responses(tmp_path, PAIR_ROWS)
    metrics = run_judge(judge_params(server, rubric="pairwise"), paths, tmp_path / "cache.sqlite")

    assert len(server.requests) == 6
    shown = sorted(shown_pair(request.body) for request in server.requests)
    texts = ["short", "a longer one", "the longest answer"]
    assert shown == sorted((a, b) for a in texts for b in texts if a != b)
    comparisons = pq.read_table(paths["judged_comparisons"]).to_pylist()
    assert [(c["response_a"], c["response_b"], c["p_a"], c["votes"]) for c in comparisons] == [
        ("short", "a longer one", 0.0, 2.0),
        ("short", "the longest answer", 0.0, 2.0),
        ("a longer one", "the longest answer", 0.0, 2.0),
    ]
    assert metrics["pairs"] == 3
    assert metrics["comparisons_written"] == 3
    assert pq.read_table(paths["judged"]).to_pylist() == pq.read_table(paths["responses"]).to_pylist()

    label = run_label(
        LabelParams(),
        paths["judged"],
        tmp_path / "train.parquet",
        tmp_path / "test.parquet",
        paths["judged_comparisons"],
    )
    assert label["pairs"] == 3
    assert label["unscored_responses"] == 4


def test_pairwise_disagreement_kept(tmp_path, chat_server, api_key):
    """A judge that always picks the first position disagrees with itself across orders."""
    server = chat_server(lambda body, number: Reply("Verdict: [[A]]"))
    paths = write_responses(tmp_path, PAIR_ROWS)
    metrics = run_judge(judge_params(server, rubric="pairwise"), paths, tmp_path / "cache.sqlite")
    assert pq.read_table(paths["judged_comparisons"]).num_rows == 0
    failures = pq.read_table(paths["failures"]).to_pylist()
    assert [f["reason"] for f in failures] == ["order_disagreement"] * 3
    assert metrics["pairs_failed_by_reason"] == {"order_disagreement": 3}
    assert len(pq.read_table(paths["calls"])) == 6

    metrics = run_judge(
        judge_params(server, rubric="pairwise", allow_ties=True), paths, tmp_path / "cache.sqlite"
    )
    comparisons = pq.read_table(paths["judged_comparisons"]).to_pylist()
    assert [c["p_a"] for c in comparisons] == [0.5, 0.5, 0.5]
    assert len(server.requests) == 6


def test_pairwise_missing_order_failure(tmp_path, chat_server, api_key):
    def script(body, number):
        a, b = shown_pair(body)
        return Reply("Verdict: [[A]]" if a == "short" else "no verdict")

    server = chat_server(script)
    paths = write_responses(tmp_path, PAIR_ROWS[:2])
    run_judge(judge_params(server, rubric="pairwise"), paths, tmp_path / "cache.sqlite")
    failure = pq.read_table(paths["failures"]).to_pylist()[0]
    assert failure["reason"] == "unparseable"
    assert "no verdict" in failure["detail"]


def stage_arguments(tmp_path, server):
    return [
        "--params",
        str(REPO / "params.yaml"),
        "--responses",
        str(tmp_path / "responses.parquet"),
        "--comparisons",
        str(tmp_path / "comparisons.parquet"),
        "--judged",
        str(tmp_path / "judged" / "responses.parquet"),
        "--judged-comparisons",
        str(tmp_path / "judged" / "comparisons.parquet"),
        "--calls",
        str(tmp_path / "judged" / "calls.parquet"),
        "--failures",
        str(tmp_path / "judged" / "failures.parquet"),
        "--metrics",
        str(tmp_path / "judge.json"),
        "--cache",
        str(tmp_path / "cache" / "judge.sqlite"),
        "--set",
        "judge.enabled=true",
        "--set",
        f"judge.base_url={server.base_url}",
        "--set",
        "judge.backoff_base_s=0.01",
    ]


def test_judge_cli_writes_metrics(tmp_path, chat_server, api_key):
    server = chat_server(rating_script(latency=0.0, error_rate=0.0, seed=0))
    write_responses(tmp_path, [response_row("x" * n, line=n) for n in range(1, 4)])
    assert main(["judge", *stage_arguments(tmp_path, server)]) == 0
    metrics = json.loads((tmp_path / "judge.json").read_text())
    assert metrics["responses_scored"] == 3
    assert metrics["calls_by_status"] == {"ok": 3}


def test_judge_cli_fatal_error_exit_code(tmp_path, chat_server, api_key):
    from mmpo.judge.fake_server import Failure

    server = chat_server(lambda body, number: Failure(401))
    write_responses(tmp_path, [response_row("x")])
    with pytest.raises(SystemExit) as raised:
        main(["judge", *stage_arguments(tmp_path, server)])
    assert raised.value.code == 2


def test_judge_resume_after_sigkill(tmp_path, chat_server, api_key):
    """A run killed with SIGKILL keeps its received replies; the rerun sends only the rest."""
    server = chat_server(rating_script(latency=0.03, error_rate=0.0, seed=0))
    total = 40
    write_responses(tmp_path, [response_row("w" * n, line=n) for n in range(1, total + 1)])
    command = [sys.executable, "-m", "pipeline.judge", *stage_arguments(tmp_path, server)]
    command += ["--set", "judge.concurrency=2"]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while server.stats()["successes"] < 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    first_run = len(server.requests)
    assert 10 <= first_run < total

    with sqlite3.connect(tmp_path / "cache" / "judge.sqlite") as connection:
        stored = connection.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    assert stored >= 10 - 2  # at most the 2 requests in flight were answered but not yet stored

    assert main(["judge", *stage_arguments(tmp_path, server)]) == 0
    second_run = len(server.requests) - first_run
    assert second_run == total - stored
    scores = pq.read_table(tmp_path / "judged" / "responses.parquet").column("score").to_pylist()
    assert scores == [1 + n % 10 for n in range(1, total + 1)]


def test_judge_arena_bench_end_to_end(shared_data, tmp_path, chat_server, api_key):
    """Ingest the Arena-Bench sample, rescore every response with the scripted judge, then label."""
    server = chat_server(lambda body, number: Reply(f"Scripted.\nRating: [[{rating_judge(body)}]]"))
    ingest = [
        "ingest",
        "--params",
        str(REPO / "params.yaml"),
        "--responses",
        str(tmp_path / "responses.parquet"),
        "--quarantine",
        str(tmp_path / "quarantine.parquet"),
        "--comparisons",
        str(tmp_path / "comparisons.parquet"),
        "--metrics",
        str(tmp_path / "ingest.json"),
        "--set",
        "ingest.source=mtbench",
        "--set",
        f"ingest.path={shared_data / 'arena_bench_v1'}",
        "--set",
        "ingest.judge=gpt-4",
    ]
    assert main(ingest) == 0
    judge = ["judge", *stage_arguments(tmp_path, server), "--set", "judge.rescore=true"]
    judge += ["--set", "judge.concurrency=16"]
    assert main(judge) == 0
    label = [
        "label",
        "--params",
        str(REPO / "params.yaml"),
        "--responses",
        str(tmp_path / "judged" / "responses.parquet"),
        "--comparisons",
        str(tmp_path / "judged" / "comparisons.parquet"),
        "--train",
        str(tmp_path / "train.parquet"),
        "--test",
        str(tmp_path / "test.parquet"),
        "--metrics",
        str(tmp_path / "label.json"),
    ]
    assert main(label) == 0

    responses = pq.read_table(tmp_path / "responses.parquet").to_pylist()
    judged = pq.read_table(tmp_path / "judged" / "responses.parquet").to_pylist()
    assert len(judged) == len(responses) == len({request.key for request in server.requests})
    expected = [1 + len(row["response"].encode("utf-8")) % 10 for row in responses]
    assert [row["score"] for row in judged] == expected
    assert {judged_response(request.body) for request in server.requests} == {
        r["response"] for r in responses
    }
    label_metrics = json.loads((tmp_path / "label.json").read_text())
    assert label_metrics["unscored_responses"] == 0
    assert (
        label_metrics["pairs"] + label_metrics["ties_dropped"] + label_metrics["identical_pairs_dropped"]
        == (label_metrics["candidate_pairs"])
    )
    assert label_metrics["pairs"] > 0
    train = pq.read_table(tmp_path / "train.parquet").to_pylist()
    assert all(row["judge"] == "gpt-4o-mini" for row in train)


def test_dvc_judge_stage_placement():
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages)[:3] == ["ingest", "judge", "label"]
    assert "--responses data/judged/responses.parquet" in stages["label"]["cmd"]
    assert "--comparisons data/judged/comparisons.parquet" in stages["label"]["cmd"]
    assert "data/judged" in stages["label"]["deps"]
    assert stages["judge"]["outs"] == ["data/judged"]
    assert "--cache .mmpo-cache/judge.sqlite" in stages["judge"]["cmd"]
    assert ".mmpo-cache/" in (REPO / ".gitignore").read_text().splitlines()
    assert ".mmpo-cache/" in (REPO / ".dvcignore").read_text().splitlines()
