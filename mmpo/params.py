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
LOSSES = ("mmpo", "hard")
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
            or null to the quarantine; ``keep`` keeps it with a null score, for
            the judge stage to fill (``scored_responses`` source only).
    """

    source: str = "scored_responses"
    path: str = "data/sample/responses.jsonl"
    hf_dataset: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    judge: str | None = None
    missing_scores: str = "quarantine"

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
        max_pairs_per_prompt: at most this many pairs per prompt; 0 means no cap.
        cap_order: which pairs the cap keeps: ``margin`` (largest margins) or
            ``random`` (drawn with ``seed``).
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
        loss: ``mmpo`` uses the soft target p_chosen; ``hard`` uses 1 for every
            pair (standard DPO / Bradley-Terry), as a baseline on the same data.
        model: ``tiny`` (built from a config, no download), a Hugging Face model
            id or a local model folder.
        beta: DPO temperature on the log-probability ratios; > 0.
        epochs, batch_size: passes over the train split and pairs per step.
        learning_rate: AdamW step size; weight_decay its decoupled decay.
        max_length, max_prompt_length: token budgets; the prompt is cut from the
            left first, then the response from the right.
        max_grad_norm: gradient clipping norm; 0 turns clipping off.
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
            seed=_integer(where, "seed", get("seed", cls.seed), 0),
            device=_choice(where, "device", get("device", cls.device), ("auto", "cpu", "cuda")),
        )
        if params.max_prompt_length >= params.max_length:
            raise ParamsError(
                f"{where}.max_prompt_length ({params.max_prompt_length}) must be below "
                f"max_length ({params.max_length}) to leave room for the response"
            )
        return params


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    """Evaluation settings: ``batch_size`` pairs per forward pass."""

    batch_size: int = 16

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "evaluate") -> "EvaluateParams":
        _check_keys(cls, values, where)
        return cls(batch_size=_integer(where, "batch_size", values.get("batch_size", cls.batch_size), 1))


STAGE_PARAMS = {
    "ingest": IngestParams,
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
