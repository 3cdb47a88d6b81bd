"""Property tests (hypothesis) of soft targets, gamma fitting and pair accounting."""

import sys

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from mmpo.pairs import build_pairs
from mmpo.params import PAIR_STRATEGIES
from mmpo.strategies import cap_per_group
from mmpo.targets import soft_targets, stable_sigmoid
from mmpo.text import canonical_prompts, canonical_text, canonical_texts

# The same examples on every run, so CI cannot fail on a draw a developer never saw.
settings.register_profile("mmpo", derandomize=True, deadline=None)
settings.load_profile("mmpo")

margins = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
any_margins = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
gammas = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@given(margin=margins, gamma=gammas)
def test_property_p_in_upper_half(margin, gamma):
    p = soft_targets(np.array([margin]), gamma)[0]
    assert 0.5 <= p <= 1.0


@given(first=margins, second=margins, gamma=gammas)
def test_property_p_monotone(first, second, gamma):
    low, high = sorted((first, second))
    p = soft_targets(np.array([low, high]), gamma)
    assert p[0] <= p[1]


@given(x=any_margins)
def test_property_p_symmetric(x):
    # Both branches of the stable sigmoid share exp(-|x|), so the symmetry
    # holds up to the roundings of p and of 1 - p (a few units of 2**-53;
    # x = 2.0 gives 1.4e-16).
    assert abs(stable_sigmoid(np.array([-x]))[0] - (1.0 - stable_sigmoid(np.array([x]))[0])) <= 2**-51


@given(gamma=gammas)
def test_property_extremes_finite(gamma):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = stable_sigmoid(gamma * np.array([-1e6, 1e6]))
    assert np.isfinite(p).all()


@given(margin=any_margins)
def test_property_gamma_zero_half(margin):
    assert soft_targets(np.array([margin]), 0.0)[0] == 0.5


groups = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 3), st.sampled_from([1.0, 2.0, 2.0, 5.5, 9.0])),
    min_size=0,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows=groups, strategy=st.sampled_from(PAIR_STRATEGIES), keep_ties=st.booleans(), cap=st.integers(0, 3))
def test_property_pair_counts_add_up(rows, strategy, keep_ties, cap):
    table = pa.table(
        {
            "group_id": [f"g{g}" for g, _, _ in rows],
            "response": [f"text {t}" for _, t, _ in rows],
            "score": pa.array([s for _, _, s in rows], pa.float64()),
        }
    )
    pairs, counts = build_pairs(table, keep_ties, 1e-9, strategy=strategy, seed=1)
    size = {}
    for g, _, _ in rows:
        size[g] = size.get(g, 0) + 1
    all_pairs = sum(k * (k - 1) // 2 for k in size.values())

    assert counts.candidates + counts.not_in_strategy == all_pairs
    assert counts.pairs + counts.identical + counts.ties_dropped == counts.candidates
    assert (pairs.margin >= 0).all()
    assert len(pairs.chosen) == counts.pairs
    group_of = np.array([g for g, _, _ in rows], dtype=np.int64)
    kept = cap_per_group(group_of[pairs.chosen], pairs.margin, cap, "margin", 0)
    if cap:
        assert (np.bincount(group_of[pairs.chosen][kept], minlength=6) <= cap).all()


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(), max_size=8))
def test_property_arrow_canonical_matches_python(texts):
    assert canonical_texts(pa.array(texts, pa.string())).to_pylist() == [canonical_text(t) for t in texts]


@settings(max_examples=100, deadline=None)
@given(first=st.text(max_size=20), second=st.text(max_size=20))
def test_property_canonical_prompts_equal_iff_texts(first, second):
    prompts = pa.array(
        [[{"role": "user", "content": first}], [{"role": "user", "content": second}]],
        pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
    )
    keys = canonical_prompts(prompts).to_pylist()
    assert (keys[0] == keys[1]) == (canonical_text(first) == canonical_text(second))


def test_arrow_canonical_every_whitespace():
    whitespace = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    texts = [f"a{w}b" for w in whitespace] + [f"a{w}{w} b" for w in whitespace] + ["".join(whitespace) + "x "]
    assert canonical_texts(pa.array(texts)).to_pylist() == [canonical_text(t) for t in texts]
