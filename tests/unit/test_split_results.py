"""Split-test results: the SRM check, the winner rule, and the chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from scipy import stats

from domain.analytics.split_chart import rates_chart_svg
from domain.analytics.split_results import SrmCheck, VariantCounts, analyse, sample_ratio_check

SETTINGS = {"alpha": 0.05, "tau": 0.02, "min_sample": 100}


def _two(control: tuple[int, int], treatment: tuple[int, int]) -> list[VariantCounts]:
    return [
        VariantCounts("control", 50, control[1], control[0]),
        VariantCounts("b", 50, treatment[1], treatment[0]),
    ]


def test_srm_by_hand_and_against_scipy() -> None:
    # 5100 vs 4900 at 50/50: chi2 = 2 * 100^2 / 5000 = 4, p = 2 * (1 - Phi(2)) = 0.0455
    check = sample_ratio_check(_two((0, 5100), (0, 4900)))
    assert check.p_value == pytest.approx(0.0455, abs=1e-4)
    assert not check.flagged
    # 5300 vs 4700: chi2 = 36, p = 2 * (1 - Phi(6)) ~ 2e-9: flagged
    assert sample_ratio_check(_two((0, 5300), (0, 4700))).flagged
    three = [
        VariantCounts("a", 50, 5030, 0),
        VariantCounts("b", 30, 2890, 0),
        VariantCounts("c", 20, 2080, 0),
    ]
    reference = stats.chisquare([5030, 2890, 2080], [5000, 3000, 2000]).pvalue
    assert sample_ratio_check(three).p_value == pytest.approx(reference, abs=1e-9)


def test_srm_edges() -> None:
    assert sample_ratio_check(_two((0, 0), (0, 0))).p_value is None
    traffic_to_a_zero_share = [VariantCounts("a", 100, 50, 0), VariantCounts("b", 0, 1, 0)]
    assert sample_ratio_check(traffic_to_a_zero_share).flagged


def test_a_clear_winner_is_called_by_the_msprt() -> None:
    result = analyse(_two((500, 5000), (650, 5000)), **SETTINGS)
    assert (result.status, result.winner) == ("winner", "b")
    assert result.decision_method == "msprt_normal_mixture"
    treatment = result.variants[1]
    assert treatment.always_valid is not None
    assert treatment.always_valid.p_value <= 0.05
    assert treatment.fixed_horizon is not None
    assert treatment.fixed_horizon.p_value is not None
    assert treatment.chance_to_beat_control is not None
    assert treatment.chance_to_beat_control > 0.99
    assert result.variants[0].is_control
    assert result.variants[0].fixed_horizon is None


def test_fixed_horizon_significance_alone_calls_no_winner() -> None:
    # the hand example: fixed-horizon p = 0.035, always-valid p = 0.40
    result = analyse(_two((100, 1000), (130, 1000)), **SETTINGS)
    treatment = result.variants[1]
    assert treatment.fixed_horizon is not None
    assert treatment.fixed_horizon.p_value is not None
    assert treatment.fixed_horizon.p_value < 0.05
    assert (result.status, result.winner) == ("no_winner_yet", None)


def test_control_wins_when_every_treatment_is_worse() -> None:
    result = analyse(_two((650, 5000), (500, 5000)), **SETTINGS)
    assert (result.status, result.winner) == ("winner", "control")


def test_no_winner_before_the_minimum_sample() -> None:
    result = analyse(_two((5, 99), (60, 100)), **SETTINGS)
    assert (result.status, result.winner) == ("insufficient_sample", None)
    # the figures are still there to read
    assert result.variants[1].always_valid is not None


def test_no_winner_while_the_sample_ratio_is_off() -> None:
    result = analyse(_two((530, 5300), (900, 4700)), **SETTINGS)
    assert result.srm.flagged
    assert (result.status, result.winner) == ("sample_ratio_mismatch", None)


def test_several_treatments_split_alpha_by_bonferroni() -> None:
    variants = [
        VariantCounts("control", 34, 3400, 340),
        VariantCounts("b", 33, 3300, 335),
        VariantCounts("c", 33, 3300, 480),
    ]
    result = analyse(variants, **SETTINGS)
    assert result.alpha_per_comparison == pytest.approx(0.025)
    assert (result.status, result.winner) == ("winner", "c")


def test_empty_variants_give_no_figures_and_no_error() -> None:
    result = analyse(_two((0, 0), (0, 0)), **SETTINGS)
    assert result.status == "insufficient_sample"
    assert result.variants[1].rate is None
    assert result.variants[1].fixed_horizon is None
    assert result.variants[1].chance_to_beat_control == pytest.approx(0.5)


def test_the_chart_is_svg_naming_every_variant() -> None:
    variants = [
        VariantCounts("control", 34, 3400, 340),
        VariantCounts("Long headline", 33, 3300, 335),
        VariantCounts("$7 price & <b>", 33, 3300, 480),
    ]
    svg = rates_chart_svg(analyse(variants, **SETTINGS))
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is XML
    assert root.tag.endswith("svg")
    texts = " ".join("".join(t.itertext()) for t in root.iter() if t.tag.endswith("text"))
    assert "control (control)" in texts
    assert "Long headline" in texts
    assert "$7 price & <b> (winner)" in texts
    assert svg == rates_chart_svg(analyse(variants, **SETTINGS))  # same result, same bytes


def test_the_chart_draws_variants_without_exposures() -> None:
    svg = rates_chart_svg(analyse(_two((0, 0), (0, 0)), **SETTINGS))
    root = ET.fromstring(svg)  # noqa: S314
    texts = " ".join("".join(t.itertext()) for t in root.iter() if t.tag.endswith("text"))
    assert "control (control)" in texts
    assert "b" in texts.split()


def test_a_single_configured_variant_has_no_mismatch_to_test() -> None:
    only = [VariantCounts("a", 100, 40, 0), VariantCounts("b", 0, 0, 0)]
    assert sample_ratio_check(only) == SrmCheck(1.0, False)


@pytest.mark.parametrize(
    ("variants", "alpha"),
    [
        ([VariantCounts("a", 100, 10, 1)], 0.05),
        ([VariantCounts("a", 50, 10, 1), VariantCounts("b", 50, 10, 1)], 0.0),
        ([VariantCounts("a", 50, 10, 1), VariantCounts("b", 50, 10, 1)], 1.0),
    ],
)
def test_analyse_refuses_what_it_cannot_answer(variants: list[VariantCounts], alpha: float) -> None:
    with pytest.raises(ValueError, match=r"variants|alpha"):
        analyse(variants, alpha=alpha, tau=0.02, min_sample=1)
