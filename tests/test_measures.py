"""The arithmetic behind every strength number a clinician reads."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipext.core import measures as mx
from hipext.core.case import NEWTONS_PER_KGF, NEWTONS_PER_LBF, Measurement

force = st.floats(min_value=1, max_value=3000, allow_nan=False)
lever = st.floats(min_value=0.1, max_value=1.0, allow_nan=False)


def test_best_trial_is_reported_with_mean_and_variation():
    best, mean, cv = mx.summarize_trials([182, 190, 186])
    assert best == 190
    assert mean == pytest.approx(186)
    assert cv == pytest.approx(2.15, abs=0.01)


def test_single_trial_has_no_variation():
    assert mx.summarize_trials([150])[2] is None


def test_empty_trials_are_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="trials"):
        mx.summarize_trials([])


@given(st.lists(force, min_size=1, max_size=6))
def test_best_is_never_below_the_mean(trials):
    best, mean, _ = mx.summarize_trials(trials)
    assert best >= mean - 1e-9


@given(force, lever, st.floats(min_value=1.01, max_value=3))
def test_torque_scales_with_lever_arm(f, arm, k):
    assert mx.torque_nm(force_n=f, lever_arm_m=arm * k / 3) == pytest.approx(
        mx.torque_nm(force_n=f, lever_arm_m=arm / 3) * k)


@given(force)
def test_lsi_of_equal_sides_is_100(x):
    assert mx.lsi_percent(involved=x, uninvolved=x) == pytest.approx(100)
    assert mx.lsi_percent(involved=x, uninvolved=x, better="lower") == pytest.approx(100)


@given(force, force)
def test_lsi_below_100_always_means_the_involved_side_is_worse(a, b):
    assert (mx.lsi_percent(involved=a, uninvolved=b) < 100) == (a < b)
    # for times, lower is better: a slower involved side gives an LSI below 100
    assert (mx.lsi_percent(involved=a, uninvolved=b, better="lower") < 100) == (a > b)


@given(force, force)
def test_asymmetry_is_symmetric_and_bounded(a, b):
    assert mx.asymmetry_percent(a, b) == pytest.approx(mx.asymmetry_percent(b, a))
    assert 0 <= mx.asymmetry_percent(a, b) < 100


def test_percent_body_weight():
    # 78 kg x 9.80665 = 764.9 N; 190 N is 24.8 % of it
    assert mx.percent_body_weight(190, 78) == pytest.approx(24.84, abs=0.01)


def test_force_units_convert_to_newtons():
    assert Measurement(test="x", trials_lbf=[10]).force_trials_n() == [pytest.approx(44.482216)]
    assert Measurement(test="x", trials_kgf=[10]).force_trials_n() == [pytest.approx(98.0665)]
    assert NEWTONS_PER_LBF / NEWTONS_PER_KGF == pytest.approx(0.45359237)  # the pound is 0.45359237 kg


def test_mmt_grades_order_but_are_never_ratios():
    grades = ["3", "3+", "4-", "4", "4+", "5-", "5"]
    ordinals = [mx.mmt_ordinal(g) for g in grades]
    assert ordinals == sorted(ordinals) and len(set(ordinals)) == len(ordinals)


def test_rounding_keeps_missing_values_missing():
    assert mx.rounded(None) is None
    assert mx.rounded(math.nan) is None
    assert mx.rounded(1.26, 1) == 1.3


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6),
                          st.floats(min_value=0, max_value=2000, allow_subnormal=False)), min_size=2, max_size=12))
def test_trial_sd_is_the_standard_librarys_to_the_last_bit(values):
    import statistics

    assert mx.sample_sd(values) == statistics.stdev(values)


def test_trial_sd_of_awkward_inputs_is_the_standard_librarys():
    import statistics

    for values in ([182.0, 190.0, 186.0], [0.1, 0.2, 0.3], [5e-324, 1e308, -1e308], [3, 3.0, 3], [1e16, 1.0, -1e16],
                   [True, 2.0], [182, 190, 186]):
        assert mx.sample_sd(values) == statistics.stdev(values), values
