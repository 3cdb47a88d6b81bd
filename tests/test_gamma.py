"""Gamma modes: maximum-likelihood fit, target mean and per-source values."""

import logging
import math

import numpy as np
import pytest

from mmpo.gamma import fit_gamma, gamma_for_mean, gamma_per_pair, log_likelihood


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_fit_gamma_recovers_expected_shares():
    # Vote shares equal to sigmoid(0.7 * m) make 0.7 the exact maximum, since
    # the score equation sum n m (p - sigmoid(g m)) = 0 then holds at g = 0.7.
    margin = np.array([0.5, 1.0, 2.0, 3.0, -1.5])
    share = np.array([sigmoid(0.7 * m) for m in margin])
    votes = np.array([10.0, 20.0, 5.0, 8.0, 12.0])
    fit = fit_gamma(margin, share, votes)

    assert fit.gamma == pytest.approx(0.7, abs=1e-10)
    expected_ll = sum(
        n * (p * math.log(sigmoid(0.7 * m)) + (1 - p) * math.log(sigmoid(-0.7 * m)))
        for m, p, n in zip(margin, share, votes, strict=True)
    )
    assert fit.log_likelihood == pytest.approx(expected_ll, rel=1e-10)
    information = sum(
        n * m * m * sigmoid(0.7 * m) * (1 - sigmoid(0.7 * m)) for m, n in zip(margin, votes, strict=True)
    )
    assert fit.ci_high - fit.gamma == pytest.approx(1.959963984540054 / math.sqrt(information), rel=1e-8)
    assert fit.ci_low < 0.7 < fit.ci_high
    assert fit.comparisons == 5
    assert fit.votes == 55.0


def test_fit_gamma_beats_neighbours():
    margin = np.array([1.0, 2.0, 1.0, 4.0])
    share = np.array([0.6, 1.0, 0.4, 0.9])
    votes = np.array([5.0, 1.0, 5.0, 10.0])
    fit = fit_gamma(margin, share, votes)
    for other in (fit.gamma * 0.99, fit.gamma * 1.01):
        assert log_likelihood(other, margin, share, votes) < fit.log_likelihood


def test_fit_gamma_no_margin_rejected():
    with pytest.raises(ValueError, match="no compared pair has a score margin"):
        fit_gamma(np.zeros(3), np.full(3, 0.7), np.ones(3))


def test_fit_gamma_reversed_votes_rejected():
    with pytest.raises(ValueError, match="votes favour the lower-scored responses"):
        fit_gamma(np.array([1.0, 2.0]), np.array([0.2, 0.3]), np.array([4.0, 4.0]))


def test_gamma_for_mean_hits_target():
    margin = np.array([1.0, 2.0, 4.0, 0.0])
    gamma = gamma_for_mean(margin, 0.7)
    assert sum(sigmoid(gamma * m) for m in margin) / 4 == pytest.approx(0.7, abs=1e-12)


def test_gamma_for_mean_unreachable_rejected():
    # With one positive margin in three, the mean stays below 0.5 + 0.5 / 3.
    with pytest.raises(ValueError, match=r"out of reach.*below 0.666667"):
        gamma_for_mean(np.array([0.0, 0.0, 1.0]), 0.7)


def test_gamma_per_pair_falls_back(caplog):
    sources = np.array(["uf", "shp", "uf", "other"], dtype=object)
    with caplog.at_level(logging.WARNING):
        gamma = gamma_per_pair(sources, {"uf": 0.5, "shp": 2.0}, 1.0)
    assert gamma.tolist() == [0.5, 2.0, 0.5, 1.0]
    assert "['other'] are not in label.gamma_per_source" in caplog.text
