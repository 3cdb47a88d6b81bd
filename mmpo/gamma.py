"""Gamma, the scale of the margin in p_chosen = sigmoid(gamma * margin).

Gamma is a fixed value, one value per source, the value that gives a target
mean p_chosen, or ``auto``: the maximum-likelihood fit on pairs that carry
independent votes. A gamma means something only together with the score
scale and the margin function, so the label stage stores them side by side.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from mmpo.targets import soft_targets, stable_sigmoid

logger = logging.getLogger(__name__)

Z_95 = 1.959963984540054  # two-sided 95% quantile of the standard normal


@dataclasses.dataclass(frozen=True)
class GammaFit:
    """A fitted gamma and its evidence.

    Attributes:
        gamma: the maximum-likelihood value, > 0, per margin unit.
        log_likelihood: vote-weighted Bernoulli log-likelihood at ``gamma`` (nats).
        ci_low, ci_high: Wald 95% interval from the observed Fisher information.
        comparisons, votes: rows and total votes the fit used.
    """

    gamma: float
    log_likelihood: float
    ci_low: float
    ci_high: float
    comparisons: int
    votes: float


def log_likelihood(gamma: float, margin: np.ndarray, p_vote: np.ndarray, votes: np.ndarray) -> float:
    """Return sum votes * (p log sigmoid(gamma m) + (1 - p) log sigmoid(-gamma m)), in nats."""
    z = gamma * margin
    log_sig = -np.logaddexp(0.0, -z)
    log_sig_neg = -np.logaddexp(0.0, z)
    return float(np.sum(votes * (p_vote * log_sig + (1.0 - p_vote) * log_sig_neg)))


def fit_gamma(margin: np.ndarray, p_vote: np.ndarray, votes: np.ndarray) -> GammaFit:
    """Fit gamma by maximum likelihood with Newton steps on the concave log-likelihood.

    Args:
        margin: float64 (K,), value_a - value_b of the pair from its scores.
        p_vote: float64 (K,), share of votes for response a, in [0, 1].
        votes: float64 (K,), independent votes behind each share, > 0.

    Raises:
        ValueError: no pair has a non-zero margin, or the votes favour the
            lower-scored responses so the maximum lies at gamma <= 0.
    """
    margin, p_vote, votes = (np.asarray(a, dtype=np.float64) for a in (margin, p_vote, votes))
    if not np.any(margin != 0):
        raise ValueError("gamma auto: no compared pair has a score margin, so gamma cannot be fitted")
    gradient_at_zero = np.sum(votes * margin * (p_vote - 0.5))
    if gradient_at_zero <= 0:
        raise ValueError(
            "gamma auto: the votes favour the lower-scored responses on balance, so the fitted "
            "gamma would be <= 0; check that scores and votes point the same way"
        )

    gamma = 0.0
    for _ in range(100):
        p_model = stable_sigmoid(gamma * margin)
        gradient = np.sum(votes * margin * (p_vote - p_model))
        curvature = np.sum(votes * margin**2 * p_model * (1.0 - p_model))
        step = gradient / curvature if curvature > 0 else math.inf
        new_gamma = gamma + step
        while new_gamma <= 0 or log_likelihood(new_gamma, margin, p_vote, votes) < log_likelihood(
            gamma, margin, p_vote, votes
        ):
            step /= 2.0
            new_gamma = gamma + step
            if abs(step) < 1e-15:
                break
        if abs(new_gamma - gamma) <= 1e-12 * max(1.0, new_gamma):
            gamma = new_gamma
            break
        gamma = new_gamma

    p_model = stable_sigmoid(gamma * margin)
    information = np.sum(votes * margin**2 * p_model * (1.0 - p_model))
    half_width = Z_95 / math.sqrt(information) if information > 0 else math.inf
    return GammaFit(
        gamma=float(gamma),
        log_likelihood=log_likelihood(gamma, margin, p_vote, votes),
        ci_low=float(max(gamma - half_width, 0.0)),
        ci_high=float(gamma + half_width),
        comparisons=int(len(margin)),
        votes=float(votes.sum()),
    )


def gamma_for_mean(margin: np.ndarray, target: float) -> float:
    """Return the gamma whose mean sigmoid(gamma * margin) equals ``target``.

    The mean rises monotonically from 0.5 at gamma = 0 towards the share of
    positive margins, so bisection on log(gamma) finds it.

    Args:
        margin: float64 (N,), margins >= 0.
        target: wanted mean p_chosen, in (0.5, 1).

    Raises:
        ValueError: no margin is positive, or ``target`` cannot be reached.
    """
    margin = np.asarray(margin, dtype=np.float64)
    positive = margin > 0
    reachable = 0.5 + 0.5 * positive.mean() if len(margin) else 0.5
    if not positive.any() or target >= reachable:
        raise ValueError(
            f"gamma target_mean: a mean p_chosen of {target} is out of reach; with these margins "
            f"it must stay below {reachable:.6f}. Lower label.target_mean_p"
        )
    low, high = -40.0, 40.0  # log(gamma) bounds; the mean is monotone in between
    for _ in range(200):
        middle = 0.5 * (low + high)
        if soft_targets(margin, math.exp(middle)).mean() < target:
            low = middle
        else:
            high = middle
    return math.exp(0.5 * (low + high))


def gamma_per_pair(sources: np.ndarray, per_source: dict[str, float], default: float) -> np.ndarray:
    """Return gamma (N,) float64 for each pair from its source, ``default`` for unlisted sources."""
    sources = np.asarray(sources, dtype=object)
    gammas = np.full(len(sources), default, dtype=np.float64)
    for source, value in per_source.items():
        gammas[sources == source] = value
    unlisted = sorted(set(sources.tolist()) - set(per_source))
    if unlisted:
        logger.warning(
            "label: sources %s are not in label.gamma_per_source and use label.gamma = %s",
            unlisted,
            default,
        )
    return gammas


def vote_margins(
    responses_key: dict[tuple[str, int], float], evidence
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (margin, p_vote, votes) for the compared pairs whose two responses are both scored.

    Args:
        responses_key: (prompt_id, text fingerprint) -> margin-function value
            of each scored response; the fingerprint is ``text_fingerprints``
            of the response text.
        evidence: a ``mmpo.label_votes.VoteEvidence``: the comparisons that
            carry votes, with the fingerprints of both texts.

    Returns:
        Three float64 arrays of shape (K,): value_a - value_b, the share of
        votes for a, and the number of votes.
    """
    margins, shares, votes = [], [], []
    rows = zip(
        evidence.prompt_ids.tolist(),
        evidence.fingerprint_a.tolist(),
        evidence.fingerprint_b.tolist(),
        evidence.p_a.tolist(),
        evidence.votes.tolist(),
        strict=True,
    )
    for prompt_id, fingerprint_a, fingerprint_b, p_a, count in rows:
        value_a = responses_key.get((prompt_id, fingerprint_a))
        value_b = responses_key.get((prompt_id, fingerprint_b))
        if value_a is None or value_b is None:
            continue
        margins.append(value_a - value_b)
        shares.append(p_a)
        votes.append(count)
    return (
        np.array(margins, dtype=np.float64),
        np.array(shares, dtype=np.float64),
        np.array(votes, dtype=np.float64),
    )
