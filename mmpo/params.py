"""Typed, validated stage parameters read from ``params.yaml``.

Each stage has one frozen dataclass. ``from_mapping`` rejects unknown keys and
values of the wrong type or range with a ``ParamsError`` that names the key and
the fix, so a typo in ``params.yaml`` fails before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping

import yaml

SOURCES = ("scored_responses", "binarized_pairs", "mtbench")
OBJECTIVES = ("dpo", "reward")
LOSSES = ("mmpo", "hard", "cdpo", "ipo", "margin")
PRECISIONS = ("fp32", "bf16", "fp16")
LR_SCHEDULERS = ("constant", "linear", "cosine")
MISSING_SCORES = ("quarantine", "keep")
PAIR_STRATEGIES = ("all", "best_worst", "best_vs_rest", "best_vs_random", "adjacent")
CAP_ORDERS = ("margin", "random")
MARGIN_FUNCTIONS = ("difference", "log_ratio", "zscore", "rank")
NORMALIZE_BY = ("judge", "source")
GAMMA_MODES = ("fixed", "per_source", "auto", "target_mean")
WEIGHT_MODES = ("none", "score_agreement")

# Canonical field -> default column (dotted paths reach into nested objects).
SOURCE_FIELDS: dict[str, dict[str, str]] = {
    "scored_responses": {
        "prompt_id": "prompt_id",
        "prompt": "prompt",
        "response": "response",
        "score": "score",
        "model": "model",
        "judge": "judge",
    },
    "binarized_pairs": {
        "prompt": "prompt",
        "chosen": "chosen",
        "rejected": "rejected",
        "score_chosen": "score_chosen",
        "score_rejected": "score_rejected",
    },
    "mtbench": {},
}

# Sources added for more dataset families; their layouts are fixed, except the
# generic ``comparisons`` source, whose columns are mapped with ingest.fields.
SOURCES += (
    "ultrafeedback",
    "helpsteer",
    "stack_exchange",
    "chatbot_arena",
    "arena_hard",
    "hh_rlhf",
    "pku_saferlhf",
    "alpaca_eval",
    "comparisons",
)
SOURCE_FIELDS.update({name: {} for name in SOURCES if name not in SOURCE_FIELDS})
SOURCE_FIELDS["comparisons"] = {
    "prompt_id": "prompt_id",
    "prompt": "prompt",
    "response_a": "response_a",
    "response_b": "response_b",
    "label": "label",
    "p_a": "p_a",
    "model_a": "model_a",
    "model_b": "model_b",
    "judge": "judge",
}


class ParamsError(ValueError):
    """A parameter is unknown, missing, of the wrong type or out of range."""


def _check_keys(cls: type, values: Mapping[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParamsError(
            f"{where}: unknown key(s) {unknown}; known keys are {sorted(known)}. Remove or rename them."
        )


def _number(where: str, key: str, value: Any, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamsError(f"{where}.{key}: expected a number, got {value!r}")
    if not (low <= value <= high) or math.isnan(value):
        raise ParamsError(f"{where}.{key}: {value!r} is outside [{low}, {high}]")
    return float(value)


def _integer(where: str, key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"{where}.{key}: expected an integer, got {value!r}")
    if value < low:
        raise ParamsError(f"{where}.{key}: {value!r} is below the minimum {low}")
    return value


def _optional_integer(where: str, key: str, value: Any, low: int) -> int | None:
    return None if value is None else _integer(where, key, value, low)


def _choice(where: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ParamsError(f"{where}.{key}: {value!r} is not one of {list(choices)}")
    return value


def _flag(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamsError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _optional_text(where: str, key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ParamsError(f"{where}.{key}: expected a string or null, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class IngestParams:
    """Input location and reading options.

    Attributes:
        source: adapter name, one of ``SOURCES``.
        path: input file or folder (JSONL, JSON array, CSV or Parquet; a folder
            for ``mtbench``). Also the DVC dependency of the stage.
        hf_dataset: a Hugging Face dataset name or local dataset folder; when
            set it is read with ``datasets.load_dataset`` instead of ``path``.
        hf_config, hf_split: dataset configuration and split for ``hf_dataset``.
        fields: canonical field -> input column (dotted paths reach nested
            objects), overriding the adapter's defaults.
        judge: value of the ``judge`` column when the input names no judge.
        missing_scores: ``quarantine`` sends a response whose score is absent
            or null to the quarantine. ``keep`` keeps it with a null score for
            the judge stage to fill (``scored_responses`` source only).
        max_text_length: longest prompt message or response kept, in
            characters (>= 1); longer rows go to the quarantine as
            ``text_too_long``.
        score_range: ``[low, high]`` of valid scores in source units,
            replacing the source's declared range; scores outside it go to
            the quarantine as ``score_out_of_range``, never clamped.
        reparse_ratings: for ``mtbench``, read a null score from the
            ``[[rating]]`` in the judgment text; each such row is counted.
        ultrafeedback, helpsteer, pku_saferlhf, arena_hard, comparisons:
            options of those sources (see their classes).
    """

    source: str = "scored_responses"
    path: str = "data/sample/responses.jsonl"
    hf_dataset: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    judge: str | None = None
    missing_scores: str = "quarantine"
    max_text_length: int = 200_000
    score_range: tuple[float, float] | None = None
    reparse_ratings: bool = False
    ultrafeedback: "UltraFeedbackParams" = dataclasses.field(default_factory=lambda: UltraFeedbackParams())
    helpsteer: "HelpSteerParams" = dataclasses.field(default_factory=lambda: HelpSteerParams())
    pku_saferlhf: "PkuSafeRlhfParams" = dataclasses.field(default_factory=lambda: PkuSafeRlhfParams())
    arena_hard: "ArenaHardParams" = dataclasses.field(default_factory=lambda: ArenaHardParams())
    comparisons: "ComparisonParams" = dataclasses.field(default_factory=lambda: ComparisonParams())

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "ingest") -> "IngestParams":
        _check_keys(cls, values, where)
        source = _choice(where, "source", values.get("source", cls.source), SOURCES)
        fields = values.get("fields") or {}
        if not isinstance(fields, dict):
            raise ParamsError(f"{where}.fields: expected a mapping, got {fields!r}")
        unknown = sorted(set(fields) - set(SOURCE_FIELDS[source]))
        if unknown:
            raise ParamsError(
                f"{where}.fields: {unknown} are not fields of source {source!r}; "
                f"its fields are {sorted(SOURCE_FIELDS[source])}"
            )
        for key, column in fields.items():
            if not isinstance(column, str) or not column:
                raise ParamsError(f"{where}.fields.{key}: expected a column name, got {column!r}")
        path = values.get("path", cls.path)
        if not isinstance(path, str) or not path:
            raise ParamsError(f"{where}.path: expected a file or folder path, got {path!r}")
        hf_split = values.get("hf_split", cls.hf_split)
        if not isinstance(hf_split, str):
            raise ParamsError(f"{where}.hf_split: expected a split name, got {hf_split!r}")
        return cls(
            source=source,
            path=path,
            hf_dataset=_optional_text(where, "hf_dataset", values.get("hf_dataset")),
            hf_config=_optional_text(where, "hf_config", values.get("hf_config")),
            hf_split=hf_split,
            fields=dict(fields),
            judge=_optional_text(where, "judge", values.get("judge")),
            missing_scores=_choice(
                where, "missing_scores", values.get("missing_scores", cls.missing_scores), MISSING_SCORES
            ),
            **_source_options(values, where),
        )

    def field_map(self) -> dict[str, str]:
        """Return the adapter's default fields with the user's overrides applied."""
        return {**SOURCE_FIELDS[self.source], **self.fields}


@dataclasses.dataclass(frozen=True)
class LabelParams:
    """Settings of pair building, soft targets and the train/test split.

    Attributes:
        gamma: scale of the margin in p_chosen = sigmoid(gamma * margin), per
            score unit; > 0. Its meaning depends on the score scale (1-10 here).
        keep_ties: keep pairs whose scores tie, with p_chosen = 0.5, instead of
            dropping and counting them.
        tie_tolerance: score gaps at or below this (in score units) are ties,
            so float noise such as 7.0 vs 7.000000001 counts as a tie.
        test_fraction: expected share of prompts in the test split, in [0, 1).
        seed: salt of the prompt hash that assigns splits, and seed of the
            random pair strategy and the random cap.
        pair_strategy: which pairs of one prompt's responses to form, one of
            ``PAIR_STRATEGIES``: ``all`` pairs; ``best_worst`` (highest vs
            lowest score); ``best_vs_rest`` (highest vs each other);
            ``best_vs_random`` (highest vs one other drawn with ``seed``);
            ``adjacent`` (neighbours in the score ranking).
        max_pairs_per_prompt: at most this many pairs of scored responses per
            prompt, and at most this many comparison pairs per prompt (the two
            kinds are capped apart); 0 means no cap.
        cap_order: which pairs the cap keeps: ``margin`` (largest margins, or
            largest p_chosen for comparison pairs) or ``random`` (drawn with
            ``seed``).
        margin_function: ``difference`` (score gap), ``log_ratio``
            (log((s_c + offset) / (s_r + offset)), for vote counts), ``zscore``
            or ``rank`` (scores standardised or ranked per ``normalize_by``).
        normalize_by: ``judge`` or ``source``, the groups that ``zscore`` and
            ``rank`` normalise within.
        log_ratio_offset: added to both counts before the log ratio, > 0 when
            counts can be 0; counts at or below -offset are an error.
        min_margin: pairs with a margin below this (margin units) are dropped
            and counted; kept ties are exempt.
        gamma_mode: ``fixed`` (``gamma``), ``per_source`` (``gamma_per_source``,
            falling back to ``gamma``), ``auto`` (maximum likelihood on
            comparisons with votes for scored pairs) or ``target_mean`` (the
            gamma whose mean p_chosen is ``target_mean_p``).
        score_scale: ``[low, high]`` of the score scale, stored with gamma;
            null records the observed minimum and maximum instead.
        label_smoothing: a single hard vote gets p_chosen = 1 - label_smoothing.
        weight: ``none`` (every pair 1.0) or ``score_agreement``
            (1 / (1 + std_chosen^2 + std_rejected^2) from the judges' spread).
        stratify_by_source: give each source the test fraction separately.
    """

    gamma: float = 0.5
    keep_ties: bool = False
    tie_tolerance: float = 1e-9
    test_fraction: float = 0.2
    seed: int = 0
    pair_strategy: str = "all"
    max_pairs_per_prompt: int = 0
    cap_order: str = "margin"
    margin_function: str = "difference"
    normalize_by: str = "judge"
    log_ratio_offset: float = 1.0
    min_margin: float = 0.0
    gamma_mode: str = "fixed"
    gamma_per_source: dict[str, float] = dataclasses.field(default_factory=dict)
    target_mean_p: float = 0.75
    score_scale: list[float] | None = None
    label_smoothing: float = 0.0
    weight: str = "none"
    stratify_by_source: bool = False

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "label") -> "LabelParams":
        _check_keys(cls, values, where)
        gamma = _number(where, "gamma", values.get("gamma", cls.gamma), 0.0)
        if gamma == 0.0:
            raise ParamsError(f"{where}.gamma: must be > 0 (0 makes every p_chosen 0.5)")
        return cls(
            gamma=gamma,
            keep_ties=_flag(where, "keep_ties", values.get("keep_ties", cls.keep_ties)),
            tie_tolerance=_number(
                where, "tie_tolerance", values.get("tie_tolerance", cls.tie_tolerance), 0.0
            ),
            test_fraction=_number(
                where, "test_fraction", values.get("test_fraction", cls.test_fraction), 0.0, 0.99
            ),
            seed=_integer(where, "seed", values.get("seed", cls.seed), 0),
            **_label_depth_fields(cls, values, where),
        )


def _label_depth_fields(cls: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate the pair, margin, gamma, weight and split options of ``LabelParams``."""
    get = values.get
    per_source = get("gamma_per_source") or {}
    if not isinstance(per_source, dict):
        raise ParamsError(
            f"{where}.gamma_per_source: expected a mapping of source to gamma, got {per_source!r}"
        )
    for source, value in per_source.items():
        if _number(where, f"gamma_per_source.{source}", value, 0.0) == 0.0:
            raise ParamsError(f"{where}.gamma_per_source.{source}: must be > 0")
    scale = get("score_scale")
    if scale is not None:
        if not isinstance(scale, list) or len(scale) != 2:
            raise ParamsError(f"{where}.score_scale: expected [low, high] or null, got {scale!r}")
        low, high = (_number(where, "score_scale", bound, -math.inf) for bound in scale)
        if not low < high:
            raise ParamsError(f"{where}.score_scale: low {low} must be below high {high}")
    target = _number(where, "target_mean_p", get("target_mean_p", cls.target_mean_p), 0.5, 1.0)
    if target in (0.5, 1.0):
        raise ParamsError(f"{where}.target_mean_p: must lie strictly between 0.5 and 1")
    return {
        "pair_strategy": _choice(
            where, "pair_strategy", get("pair_strategy", cls.pair_strategy), PAIR_STRATEGIES
        ),
        "max_pairs_per_prompt": _integer(
            where, "max_pairs_per_prompt", get("max_pairs_per_prompt", cls.max_pairs_per_prompt), 0
        ),
        "cap_order": _choice(where, "cap_order", get("cap_order", cls.cap_order), CAP_ORDERS),
        "margin_function": _choice(
            where, "margin_function", get("margin_function", cls.margin_function), MARGIN_FUNCTIONS
        ),
        "normalize_by": _choice(where, "normalize_by", get("normalize_by", cls.normalize_by), NORMALIZE_BY),
        "log_ratio_offset": _number(
            where, "log_ratio_offset", get("log_ratio_offset", cls.log_ratio_offset), 0.0
        ),
        "min_margin": _number(where, "min_margin", get("min_margin", cls.min_margin), 0.0),
        "gamma_mode": _choice(where, "gamma_mode", get("gamma_mode", cls.gamma_mode), GAMMA_MODES),
        "gamma_per_source": {str(k): float(v) for k, v in per_source.items()},
        "target_mean_p": target,
        "score_scale": None if scale is None else [float(scale[0]), float(scale[1])],
        "label_smoothing": _number(
            where, "label_smoothing", get("label_smoothing", cls.label_smoothing), 0.0, 0.49
        ),
        "weight": _choice(where, "weight", get("weight", cls.weight), WEIGHT_MODES),
        "stratify_by_source": _flag(
            where, "stratify_by_source", get("stratify_by_source", cls.stratify_by_source)
        ),
    }


@dataclasses.dataclass(frozen=True)
class TinyModelParams:
    """Size of the model built from a config when ``train.model`` is ``tiny``."""

    layers: int = 2
    hidden: int = 64
    heads: int = 2

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "train.tiny") -> "TinyModelParams":
        _check_keys(cls, values, where)
        params = cls(
            layers=_integer(where, "layers", values.get("layers", cls.layers), 1),
            hidden=_integer(where, "hidden", values.get("hidden", cls.hidden), 8),
            heads=_integer(where, "heads", values.get("heads", cls.heads), 1),
        )
        if params.hidden % params.heads:
            raise ParamsError(f"{where}: hidden ({params.hidden}) must be a multiple of heads")
        return params


@dataclasses.dataclass(frozen=True)
class TrainParams:
    """Model, objective and optimiser settings of the train stage.

    Attributes:
        objective: ``dpo`` trains a causal LM policy against a frozen reference;
            ``reward`` trains a sequence-classification head with one output.
        loss: ``mmpo`` uses the soft target p_chosen. ``hard`` uses 1 for
            every pair (standard DPO or Bradley-Terry), and ``cdpo`` uses 1 -
            ``label_smoothing``. ``ipo`` is IPO, for policies only. ``margin``
            is the Llama 2 loss -log sigmoid(z - margin_scale * margin).
        label_smoothing: cDPO's epsilon, in [0, 0.5).
        margin_scale: logit units per score unit in the ``margin`` loss, >= 0.
        model: ``tiny`` (built from a config, no download), a Hugging Face model
            id or a local model folder.
        beta: DPO temperature on the log-probability ratios; > 0.
        epochs, batch_size: passes over the train split and pairs per step.
        learning_rate: AdamW step size; weight_decay its decoupled decay.
        max_length, max_prompt_length: token budgets; the prompt is cut from the
            left first, then the response from the right.
        max_grad_norm: gradient clipping norm; 0 turns clipping off.
        gradient_accumulation_steps: batches per optimiser step, >= 1.
        max_steps: stop after this many optimiser steps; 0 runs all epochs.
        lr_scheduler: ``constant``, ``linear`` or ``cosine`` decay, no warm-up.
        precision: ``fp32``, or ``bf16`` / ``fp16`` mixed precision (GPU).
        save_steps: write a checkpoint every this many steps; 0 writes none.
        eval_steps: evaluate on the test split (``--test``) every this many
            optimiser steps and after the last step; 0 evaluates after the last
            step only, and null turns evaluation during training off.
        resume: continue from the last checkpoint in the model folder.
        lora_rank: rank of LoRA adapters trained instead of all weights (needs
            the ``peft`` package); 0 trains every weight. The adapters are
            merged into the saved model.
        lora_alpha: LoRA scaling numerator (the update is scaled by alpha / rank).
        seed: seed of model initialisation and data order.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """

    objective: str = "dpo"
    loss: str = "mmpo"
    model: str = "tiny"
    tiny: TinyModelParams = dataclasses.field(default_factory=TinyModelParams)
    beta: float = 0.1
    epochs: int = 2
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    max_length: int = 384
    max_prompt_length: int = 192
    max_grad_norm: float = 1.0
    label_smoothing: float = 0.0
    margin_scale: float = 1.0
    gradient_accumulation_steps: int = 1
    max_steps: int = 0
    lr_scheduler: str = "constant"
    precision: str = "fp32"
    save_steps: int = 0
    eval_steps: int | None = 0
    resume: bool = False
    lora_rank: int = 0
    lora_alpha: float = 16.0
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "train") -> "TrainParams":
        _check_keys(cls, values, where)
        get = values.get
        model = get("model", cls.model)
        if not isinstance(model, str) or not model:
            raise ParamsError(f"{where}.model: expected 'tiny', a model id or a path, got {model!r}")
        beta = _number(where, "beta", get("beta", cls.beta), 0.0)
        if beta == 0.0:
            raise ParamsError(f"{where}.beta: must be > 0")
        params = cls(
            objective=_choice(where, "objective", get("objective", cls.objective), OBJECTIVES),
            loss=_choice(where, "loss", get("loss", cls.loss), LOSSES),
            model=model,
            tiny=TinyModelParams.from_mapping(get("tiny") or {}, f"{where}.tiny"),
            beta=beta,
            epochs=_integer(where, "epochs", get("epochs", cls.epochs), 1),
            batch_size=_integer(where, "batch_size", get("batch_size", cls.batch_size), 1),
            learning_rate=_number(where, "learning_rate", get("learning_rate", cls.learning_rate), 0.0),
            weight_decay=_number(where, "weight_decay", get("weight_decay", cls.weight_decay), 0.0),
            max_length=_integer(where, "max_length", get("max_length", cls.max_length), 8),
            max_prompt_length=_integer(
                where, "max_prompt_length", get("max_prompt_length", cls.max_prompt_length), 1
            ),
            max_grad_norm=_number(where, "max_grad_norm", get("max_grad_norm", cls.max_grad_norm), 0.0),
            label_smoothing=_number(
                where, "label_smoothing", get("label_smoothing", cls.label_smoothing), 0.0, 0.499
            ),
            margin_scale=_number(where, "margin_scale", get("margin_scale", cls.margin_scale), 0.0),
            gradient_accumulation_steps=_integer(
                where,
                "gradient_accumulation_steps",
                get("gradient_accumulation_steps", cls.gradient_accumulation_steps),
                1,
            ),
            max_steps=_integer(where, "max_steps", get("max_steps", cls.max_steps), 0),
            lr_scheduler=_choice(where, "lr_scheduler", get("lr_scheduler", cls.lr_scheduler), LR_SCHEDULERS),
            precision=_choice(where, "precision", get("precision", cls.precision), PRECISIONS),
            save_steps=_integer(where, "save_steps", get("save_steps", cls.save_steps), 0),
            eval_steps=_optional_integer(where, "eval_steps", get("eval_steps", cls.eval_steps), 0),
            resume=_flag(where, "resume", get("resume", cls.resume)),
            lora_rank=_integer(where, "lora_rank", get("lora_rank", cls.lora_rank), 0),
            lora_alpha=_number(where, "lora_alpha", get("lora_alpha", cls.lora_alpha), 0.0),
            seed=_integer(where, "seed", get("seed", cls.seed), 0),
            device=_choice(where, "device", get("device", cls.device), ("auto", "cpu", "cuda")),
        )
        if params.loss == "ipo" and params.objective == "reward":
            raise ParamsError(
                f"{where}.loss: ipo applies to policies only; use objective dpo or another loss"
            )
        if params.max_prompt_length >= params.max_length:
            raise ParamsError(
                f"{where}.max_prompt_length ({params.max_prompt_length}) must be below "
                f"max_length ({params.max_length}) to leave room for the response"
            )
        return params


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    """Evaluation settings.

    Attributes:
        batch_size: pairs per forward pass.
        calibration_bins: equal-mass bins of the expected calibration error, >= 1.
        margin_edges: increasing score-margin edges of the accuracy buckets,
            starting at 0 (score units); the last bucket is open-ended.
    """

    batch_size: int = 16
    calibration_bins: int = 10
    margin_edges: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 6.0)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "evaluate") -> "EvaluateParams":
        _check_keys(cls, values, where)
        edges = values.get("margin_edges", list(cls.margin_edges))
        if not isinstance(edges, list) or not edges:
            raise ParamsError(f"{where}.margin_edges: expected a non-empty list of numbers, got {edges!r}")
        edges = tuple(_number(where, "margin_edges", e, 0.0) for e in edges)
        if edges[0] != 0.0 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise ParamsError(f"{where}.margin_edges: {list(edges)} must start at 0 and increase")
        return cls(
            batch_size=_integer(where, "batch_size", values.get("batch_size", cls.batch_size), 1),
            calibration_bins=_integer(
                where, "calibration_bins", values.get("calibration_bins", cls.calibration_bins), 1
            ),
            margin_edges=edges,
        )


JUDGE_RUBRICS = ("mtbench_single", "ultrafeedback", "pairwise", "file")


def _optional_number(where: str, key: str, value: Any, low: float) -> float | None:
    return None if value is None else _number(where, key, value, low)


def _text(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ParamsError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def _judge_models(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and m for m in value):
        raise ParamsError(f"{where}.models: expected a non-empty list of model names, got {value!r}")
    if len(set(value)) != len(value):
        raise ParamsError(f"{where}.models: {value!r} names a model twice")
    return tuple(value)


def _judge_prices(where: str, value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict):
        raise ParamsError(f"{where}.prices: expected a mapping of model -> prices, got {value!r}")
    prices = {}
    for model, price in value.items():
        keys = {"input_per_million", "output_per_million"}
        if not isinstance(price, dict) or set(price) != keys:
            raise ParamsError(
                f"{where}.prices.{model}: expected {{input_per_million: USD, output_per_million: USD}}, "
                f"got {price!r}"
            )
        prices[model] = {k: _number(f"{where}.prices.{model}", k, price[k], 0.0) for k in sorted(keys)}
    return prices


@dataclasses.dataclass(frozen=True)
class JudgeParams:
    """Settings of the judge stage, which scores responses with a model behind an OpenAI-compatible API.

    Attributes:
        enabled: false passes the responses through unchanged with no API call.
        rubric: ``mtbench_single`` (rating 1-10), ``ultrafeedback`` (four
            aspects rated 1-5, averaged), ``pairwise`` (each pair of responses
            to a prompt compared in both orders, written as comparisons) or
            ``file`` (``rubric_file``).
        rubric_file: YAML file with ``instructions``, ``min_score`` and
            ``max_score`` (and optional ``name``, ``system``) when rubric is ``file``.
        base_url: the server's OpenAI-compatible base URL, ending in ``/v1``.
        api_key_env: name of the environment variable that contains the API key.
        models: judge model names; each response is judged by every model.
        name: value of the ``judge`` column; null joins the model names with ``+``.
        rescore: false judges only responses without a score; true judges all.
        samples: replies per response and model (> 1 needs temperature > 0).
        temperature, max_tokens, seed: sampling settings sent with each request.
        structured_output: ask for a JSON verdict with ``response_format``;
            after the server rejects it, plain replies are parsed.
        allow_ties: pairwise only: a pair whose two orders disagree becomes a
            tie (p = 0.5) instead of a failure row ``order_disagreement``.
        concurrency: requests in flight at most, >= 1.
        requests_per_minute, tokens_per_minute: rate limits; null is unlimited.
        timeout_s: seconds before a request times out and is retried.
        max_retries: retries after a 429, a 5xx, a timeout or a malformed reply.
        backoff_base_s, backoff_max_s: exponential backoff start and cap, seconds.
        budget_usd: spending cap in USD; null is no cap (needs ``prices``).
        prices: model -> {input_per_million, output_per_million} in USD per
            million tokens, for the cost estimate and the budget.
    """

    enabled: bool = False
    rubric: str = "mtbench_single"
    rubric_file: str | None = None
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    models: tuple[str, ...] = ("gpt-4o-mini",)
    name: str | None = None
    rescore: bool = False
    samples: int = 1
    temperature: float = 0.0
    max_tokens: int = 1024
    seed: int | None = None
    structured_output: bool = True
    allow_ties: bool = False
    concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    timeout_s: float = 120.0
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    budget_usd: float | None = None
    prices: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "judge") -> "JudgeParams":
        _check_keys(cls, values, where)
        get = values.get
        seed = get("seed")
        params = cls(
            enabled=_flag(where, "enabled", get("enabled", cls.enabled)),
            rubric=_choice(where, "rubric", get("rubric", cls.rubric), JUDGE_RUBRICS),
            rubric_file=_optional_text(where, "rubric_file", get("rubric_file")),
            base_url=_text(where, "base_url", get("base_url", cls.base_url)),
            api_key_env=_text(where, "api_key_env", get("api_key_env", cls.api_key_env)),
            models=_judge_models(where, get("models", list(cls.models))),
            name=_optional_text(where, "name", get("name")),
            rescore=_flag(where, "rescore", get("rescore", cls.rescore)),
            samples=_integer(where, "samples", get("samples", cls.samples), 1),
            temperature=_number(where, "temperature", get("temperature", cls.temperature), 0.0, 2.0),
            max_tokens=_integer(where, "max_tokens", get("max_tokens", cls.max_tokens), 1),
            seed=None if seed is None else _integer(where, "seed", seed, 0),
            structured_output=_flag(
                where, "structured_output", get("structured_output", cls.structured_output)
            ),
            allow_ties=_flag(where, "allow_ties", get("allow_ties", cls.allow_ties)),
            concurrency=_integer(where, "concurrency", get("concurrency", cls.concurrency), 1),
            requests_per_minute=_optional_number(
                where, "requests_per_minute", get("requests_per_minute"), 1.0
            ),
            tokens_per_minute=_optional_number(where, "tokens_per_minute", get("tokens_per_minute"), 1.0),
            timeout_s=_number(where, "timeout_s", get("timeout_s", cls.timeout_s), 0.001),
            max_retries=_integer(where, "max_retries", get("max_retries", cls.max_retries), 0),
            backoff_base_s=_number(where, "backoff_base_s", get("backoff_base_s", cls.backoff_base_s), 0.0),
            backoff_max_s=_number(where, "backoff_max_s", get("backoff_max_s", cls.backoff_max_s), 0.0),
            budget_usd=_optional_number(where, "budget_usd", get("budget_usd"), 0.0),
            prices=_judge_prices(where, {} if get("prices") is None else get("prices")),
        )
        _check_judge_params(params, where)
        return params


def _check_judge_params(params: JudgeParams, where: str) -> None:
    if not params.base_url.startswith(("http://", "https://")):
        raise ParamsError(f"{where}.base_url: {params.base_url!r} must start with http:// or https://")
    if (params.rubric == "file") != (params.rubric_file is not None):
        raise ParamsError(
            f"{where}.rubric_file: set it exactly when rubric is 'file' (rubric is {params.rubric!r})"
        )
    if params.samples > 1 and params.temperature == 0.0:
        raise ParamsError(f"{where}.samples: {params.samples} samples need temperature > 0, or they repeat")
    unpriced = sorted(set(params.models) - set(params.prices))
    if params.budget_usd is not None and unpriced:
        raise ParamsError(
            f"{where}.budget_usd: models {unpriced} have no entry in {where}.prices; add their prices "
            "(USD per million input and output tokens) or remove the budget"
        )


ULTRAFEEDBACK_ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")
ULTRAFEEDBACK_SCORES = ("overall", "aspects_mean", "aspects_weighted")
HELPSTEER_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
PKU_PREFERENCES = ("better", "safer")
COMPARISON_TARGETS = ("label", "p_a", "annotators")


def _weights(where: str, key: str, value: Any, names: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ParamsError(f"{where}.{key}: expected a mapping of name -> weight, got {value!r}")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ParamsError(f"{where}.{key}: {unknown} are not among {list(names)}")
    weights = {name: _number(where, f"{key}.{name}", value[name], 0.0) for name in sorted(value)}
    if value and sum(weights.values()) == 0.0:
        raise ParamsError(f"{where}.{key}: the weights sum to 0; give at least one a positive weight")
    return weights


@dataclasses.dataclass(frozen=True)
class UltraFeedbackParams:
    """Score of a raw UltraFeedback completion.

    Attributes:
        score: ``overall`` (the ``overall_score`` field, 1-10), ``aspects_mean``
            (mean of the four aspect ratings, 1-5) or ``aspects_weighted``
            (weighted mean of the aspect ratings, 1-5, weights below).
        weights: aspect name -> weight >= 0 for ``aspects_weighted``.
    """

    score: str = "overall"
    weights: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> "UltraFeedbackParams":
        _check_keys(cls, values, where)
        score = _choice(where, "score", values.get("score", cls.score), ULTRAFEEDBACK_SCORES)
        weights = _weights(where, "weights", values.get("weights") or {}, ULTRAFEEDBACK_ASPECTS)
        if score == "aspects_weighted" and not weights:
            raise ParamsError(f"{where}.weights: score aspects_weighted needs weights per aspect")
        return cls(score=score, weights=weights)


@dataclasses.dataclass(frozen=True)
class HelpSteerParams:
    """Score of a HelpSteer response (attributes rated 0-4).

    Attributes:
        attribute: the one attribute used as the score, when ``weights`` is empty.
        weights: attribute -> weight >= 0; when set, the score is the weighted
            mean of the attributes (0-4) and ``attribute`` is ignored.
    """

    attribute: str = "helpfulness"
    weights: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> "HelpSteerParams":
        _check_keys(cls, values, where)
        attribute = _choice(where, "attribute", values.get("attribute", cls.attribute), HELPSTEER_ATTRIBUTES)
        weights = _weights(where, "weights", values.get("weights") or {}, HELPSTEER_ATTRIBUTES)
        return cls(attribute=attribute, weights=weights)


@dataclasses.dataclass(frozen=True)
class PkuSafeRlhfParams:
    """``preference``: ``better`` (helpfulness label) or ``safer`` (safety label)."""

    preference: str = "better"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> "PkuSafeRlhfParams":
        _check_keys(cls, values, where)
        preference = _choice(where, "preference", values.get("preference", cls.preference), PKU_PREFERENCES)
        return cls(preference=preference)


@dataclasses.dataclass(frozen=True)
class ArenaHardParams:
    """Texts of Arena-Hard battles, which store only question ids and model names.

    Attributes:
        questions: JSONL file of ``question_id`` and ``turns: [{content}]``.
        answers: folder of ``<model>.jsonl`` files with ``question_id``,
            ``model_id`` and ``choices: [{turns: [{content}]}]``.
    """

    questions: str | None = None
    answers: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> "ArenaHardParams":
        _check_keys(cls, values, where)
        return cls(
            questions=_optional_text(where, "questions", values.get("questions")),
            answers=_optional_text(where, "answers", values.get("answers")),
        )


@dataclasses.dataclass(frozen=True)
class ComparisonParams:
    """Layout of a generic file of pairwise judgments (source ``comparisons``).

    Attributes:
        target: ``label`` (one code column, field ``label``), ``p_a`` (a soft
            probability that A is preferred, field ``p_a``, in [0, 1]) or
            ``annotators`` (one code column per annotator, ``annotator_fields``,
            aggregated into a vote share with ties counting half).
        label_a, label_b, label_tie: codes meaning "A wins", "B wins" and
            "tie"; declared, never guessed, because datasets disagree. Codes
            are compared as numbers when both sides are numeric, else as text.
        annotator_fields: input columns with one annotator's code each.
    """

    target: str = "label"
    label_a: tuple = ()
    label_b: tuple = ()
    label_tie: tuple = ()
    annotator_fields: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> "ComparisonParams":
        _check_keys(cls, values, where)
        codes = {key: _codes(where, key, values.get(key)) for key in ("label_a", "label_b", "label_tie")}
        shared = (set(codes["label_a"]) & set(codes["label_b"])) | (
            set(codes["label_tie"]) & (set(codes["label_a"]) | set(codes["label_b"]))
        )
        if shared:
            raise ParamsError(f"{where}: codes {sorted(map(str, shared))} are declared for two outcomes")
        annotators = values.get("annotator_fields") or []
        if not isinstance(annotators, list) or not all(isinstance(a, str) and a for a in annotators):
            raise ParamsError(
                f"{where}.annotator_fields: expected a list of column names, got {annotators!r}"
            )
        params = cls(
            target=_choice(where, "target", values.get("target", cls.target), COMPARISON_TARGETS),
            annotator_fields=tuple(annotators),
            **codes,
        )
        return params

    def check_complete(self, where: str) -> None:
        """Raise ``ParamsError`` unless the declared codes and columns suffice for ``target``."""
        if self.target != "p_a" and not (self.label_a and self.label_b):
            raise ParamsError(f"{where}: target {self.target!r} needs label_a and label_b codes")
        if self.target == "annotators" and not self.annotator_fields:
            raise ParamsError(f"{where}.annotator_fields: target annotators needs at least one column")


def _codes(where: str, key: str, value: Any) -> tuple:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ParamsError(f"{where}.{key}: expected codes (strings or numbers), got {item!r}")
    return tuple(items)


def _score_range(where: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ParamsError(f"{where}.score_range: expected [low, high], got {value!r}")
    low = _number(where, "score_range[0]", value[0], -math.inf)
    high = _number(where, "score_range[1]", value[1], -math.inf)
    if low > high:
        raise ParamsError(f"{where}.score_range: low {low} is above high {high}")
    return (low, high)


def _source_options(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate the IngestParams fields that only some sources read."""
    get = values.get
    options = {
        "max_text_length": _integer(where, "max_text_length", get("max_text_length", 200_000), 1),
        "score_range": _score_range(where, get("score_range")),
        "reparse_ratings": _flag(where, "reparse_ratings", get("reparse_ratings", False)),
    }
    nested = {
        "ultrafeedback": UltraFeedbackParams,
        "helpsteer": HelpSteerParams,
        "pku_saferlhf": PkuSafeRlhfParams,
        "arena_hard": ArenaHardParams,
        "comparisons": ComparisonParams,
    }
    for key, cls in nested.items():
        section = get(key) or {}
        if not isinstance(section, dict):
            raise ParamsError(f"{where}.{key}: expected a mapping, got {section!r}")
        options[key] = cls.from_mapping(section, f"{where}.{key}")
    if get("source") == "comparisons":
        options["comparisons"].check_complete(f"{where}.comparisons")
    return options


STAGE_PARAMS = {
    "ingest": IngestParams,
    "judge": JudgeParams,
    "label": LabelParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
}


def read_params_file(path: str | Path) -> dict[str, Any]:
    """Read ``params.yaml`` into a dict; top-level keys are stage names.

    Raises:
        ParamsError: the file is missing, not YAML, or has an unknown stage key.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found; pass --params PATH")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(values, dict):
        raise ParamsError(f"{path}: expected a mapping of stage names, got {type(values).__name__}")
    unknown = sorted(set(values) - set(STAGE_PARAMS))
    if unknown:
        raise ParamsError(f"{path}: unknown stage key(s) {unknown}; known: {sorted(STAGE_PARAMS)}")
    return values


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``stage.key=value`` overrides (values parsed as YAML) to a params dict.

    Example: ``["label.gamma=2", "train.tiny.layers=4"]``.
    """
    result = yaml.safe_load(yaml.safe_dump(values)) or {}
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ParamsError(f"override {override!r}: expected KEY=VALUE, e.g. label.gamma=2")
        parts = key.split(".")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamsError(f"override {override!r}: {part!r} is not a mapping")
        node[parts[-1]] = yaml.safe_load(raw)
    return result


def load_stage_params(stage: str, params_path: str | Path, overrides: list[str] = ()):
    """Read one stage's params from a file plus overrides and validate them."""
    values = apply_overrides(read_params_file(params_path), list(overrides))
    section = values.get(stage) or {}
    if not isinstance(section, dict):
        raise ParamsError(f"{params_path}: {stage} must be a mapping, got {section!r}")
    return STAGE_PARAMS[stage].from_mapping(section, where=f"{params_path}: {stage}")


def params_to_dict(params: Any) -> dict[str, Any]:
    """Return a dataclass of params as plain JSON-ready values."""
    return dataclasses.asdict(params)
