"""The default sampling undersamples only as far as the prevalence needs (issue 25): the
seed recipe's 1/3 of the negatives at a screening prevalence, balanced data left balanced."""

from __future__ import annotations

import numpy as np
import pytest

from mammokit.core.errors import ConfigError
from mammokit.train.sampling import Undersample, epoch_mix


def _positive_share(labels: np.ndarray, sampler: Undersample) -> float:
    plan = sampler.plan(labels, epoch=0, seed=0, batch_size=8)
    assert len(set(plan)) == len(plan)
    return float(labels[plan].mean())


def test_at_a_screening_prevalence_it_keeps_a_third_of_the_negatives() -> None:
    labels = np.array([1] * 20 + [0] * 980)
    plan = Undersample().plan(labels, epoch=0, seed=0, batch_size=8)
    assert (labels[plan] == 0).sum() == round(980 / 3)
    assert (labels[plan] == 1).sum() == 20


@pytest.mark.parametrize("prevalence", [0.3, 0.49, 0.5, 0.7])
def test_balanced_or_positive_heavy_data_never_tips_past_half_positive(prevalence: float) -> None:
    n_pos = round(1000 * prevalence)
    labels = np.array([1] * n_pos + [0] * (1000 - n_pos))
    share = _positive_share(labels, Undersample())
    assert share <= 0.5 + 1e-9 or (labels == 0).sum() < n_pos  # all negatives kept then
    if prevalence >= 0.5:
        assert share == pytest.approx(prevalence)  # nothing to undersample
    else:
        assert share == pytest.approx(0.5, abs=2e-3)


def test_the_cap_is_an_option_and_one_turns_it_off() -> None:
    labels = np.array([1] * 100 + [0] * 900)
    assert _positive_share(labels, Undersample()) == pytest.approx(0.25)  # 300 negatives
    assert _positive_share(labels, Undersample(max_positive_fraction=0.2)) == pytest.approx(0.2)
    labels = np.array([1] * 490 + [0] * 510)
    assert _positive_share(labels, Undersample(max_positive_fraction=1.0)) == pytest.approx(
        490 / (490 + 170)
    )
    with pytest.raises(ConfigError, match="max_positive_fraction"):
        Undersample(max_positive_fraction=0)


def test_the_epoch_mix_says_what_a_plan_draws() -> None:
    labels = np.array([1] * 20 + [0] * 980)
    mix = epoch_mix(Undersample(), labels, seed=0, batch_size=8)
    assert mix == {"rows_per_epoch": 20 + round(980 / 3), "positive_rows": 20,
                   "positive_fraction": round(20 / (20 + round(980 / 3)), 4),
                   "data_positive_fraction": 0.02}  # fmt: skip
