"""SyntheticDataFactory: the Python API, reproducibility, errors, and the sme CLI."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import (
    FidelityNotReachedError,
    InputDataError,
    SyntheticDataFactory,
    compute_metrics,
    load_ohlcv,
    load_sample,
)
from pipeline.cli import main
from pipeline.errors import ConfigError, MissingVolumeWarning

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample_ohlcv.csv"


@pytest.fixture(scope="module")
def sp500():
    return load_sample("sp500")


@pytest.fixture(scope="module")
def factory(sp500):
    return SyntheticDataFactory(sp500, seed=42)


def test_generate_returns_accepted_ohlcv_frames(factory, sp500):
    series = factory.generate(n_samples=6, min_fidelity=88.0)
    assert len(series) == 6 and series.scores.shape == (6,)
    assert (series.scores >= 88.0).all() and (series.scores <= 100).all()
    assert list(series.metrics.columns[:3]) == ["volatility", "skewness", "kurtosis"]
    for frame in series:
        assert list(frame.columns) == list(sp500.columns)
        assert frame.index.equals(sp500.index)
        o, h, lo, c = (frame[k].to_numpy() for k in ["Open", "High", "Low", "Close"])
        assert np.all(lo <= np.minimum(o, c)) and np.all(np.maximum(o, c) <= h)
        assert np.all(lo > 0) and (frame["Volume"] >= 0).all()
    # The scores the factory reports are the scores of the frames it returns.
    np.testing.assert_allclose(factory.score(list(series)), series.scores, rtol=1e-12)


def test_same_seed_same_series_bit_for_bit(sp500, factory):
    a = factory.generate(n_samples=3, min_fidelity=85.0)
    b = SyntheticDataFactory(sp500, seed=42).generate(n_samples=3, min_fidelity=85.0)
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y, check_exact=True)
    c = SyntheticDataFactory(sp500, seed=43).generate(n_samples=1, min_fidelity=85.0)
    assert not np.array_equal(a[0].to_numpy(), c[0].to_numpy())


def test_scenario_depends_only_on_seed_scenario_attempt(factory):
    """Scenario 4 is the same whether 5 or 8 scenarios are asked for."""
    five = factory.generate(n_samples=5, min_fidelity=85.0)
    eight = factory.generate(n_samples=8, min_fidelity=85.0)
    pd.testing.assert_frame_equal(five[4], eight[4], check_exact=True)
    assert five.attempts[4] == eight.attempts[4]


def test_original_scores_100_and_reference_metrics(factory, sp500):
    assert factory.score(sp500) == pytest.approx(100.0)
    pd.testing.assert_series_equal(
        factory.reference_metrics, compute_metrics(sp500).rename(None), check_names=False
    )


def test_unreachable_fidelity_raises_with_best_score(factory):
    with pytest.raises(FidelityNotReachedError) as info:
        factory.generate(n_samples=2, min_fidelity=99.99, max_attempts=5)
    err = info.value
    assert 0 < err.best_score < 99.99 and err.attempts == 10
    assert "best score reached" in str(err) and "max_attempts=5" in str(err)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_samples": 0}, "n_samples"), ({"min_fidelity": 101}, "min_fidelity"),
     ({"max_attempts": 0}, "max_attempts"), ({"n_samples": 2.5}, "n_samples")],
)
def test_bad_generate_arguments(factory, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        factory.generate(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"method": "bogus"}, "method"), ({"block_size": 0}, "block_size"),
     ({"length": 10}, "length"), ({"seed": -1}, "seed"), ({"start_price": -5.0}, "start_price"),
     ({"weights": {"nope": 1}}, "unknown metric")],
)
def test_bad_factory_arguments(sp500, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SyntheticDataFactory(sp500, **kwargs)


def test_longer_series_continue_the_business_day_calendar(sp500):
    f = SyntheticDataFactory(sp500, seed=1, length=6000, start_price=100.0)
    s = f.generate(n_samples=1, min_fidelity=0.0)[0]
    assert len(s) == 6000 and s.index.is_unique and s.index.is_monotonic_increasing
    assert (s.index[5031:].day_of_week < 5).all()
    # start_price is the close before the first bar
    first_return = np.log(s["Close"].iloc[0] / 100.0)
    assert abs(first_return) < 0.2


def test_input_without_volume_generates_without_volume(sp500):
    frame = sp500.drop(columns="Volume").iloc[:800]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingVolumeWarning)
        f = SyntheticDataFactory(frame, seed=2)
    s = f.generate(n_samples=2, min_fidelity=80.0)
    assert list(s[0].columns) == ["Open", "High", "Low", "Close"]
    assert s.metrics["volume_volatility_corr"].isna().all()
    assert "volume_volatility_corr" not in f.model.scorer.names


def test_factory_reads_files_and_rejects_bad_ones(tmp_path):
    f = SyntheticDataFactory(str(SAMPLE), seed=0)
    assert len(f.frame) == 750
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low\n2020-01-01,1,2,0.5\n")
    with pytest.raises(InputDataError, match="bad.csv"):
        SyntheticDataFactory(str(bad))


def test_progress_callback_counts(factory):
    seen = []
    factory.generate(n_samples=4, min_fidelity=85.0, progress=lambda a, n, e: seen.append((a, n, e)))
    assert seen[-1][0] == 4 and seen[-1][1] == 4 and seen[-1][2] >= 4


def test_explain_breaks_the_score_down(factory, sp500):
    table = factory.explain(sp500)
    assert set(table.columns) >= {"value", "original", "spreads_away", "similarity", "weight"}
    assert (table["similarity"] == 1.0).all()


# ---- CLI ---------------------------------------------------------------------------------


def test_cli_generate_writes_csvs(tmp_path, capsys):
    out = tmp_path / "gen"
    code = main(["generate", str(SAMPLE), "--n-samples", "3", "--min-fidelity", "80",
                 "--out", str(out), "--xlsx"])
    assert code == 0
    assert sorted(p.name for p in out.glob("synthetic_*.csv")) == [
        "synthetic_1.csv", "synthetic_2.csv", "synthetic_3.csv"]
    assert len(list(out.glob("*.xlsx"))) == 3
    frame = load_ohlcv(str(out / "synthetic_2.csv"))
    assert len(frame) == 750
    assert "3 series written" in capsys.readouterr().out


def test_cli_generate_with_regime_condition_and_a_timeframe(tmp_path, capsys):
    out = tmp_path / "stress"
    code = main(["generate", "sample:sp500", "--n-samples", "2", "--method", "regime",
                 "--condition", "high_volatility", "--share", "0.8", "--timeframes", "W",
                 "--out", str(out)])
    assert code == 0
    weekly = load_ohlcv(str(out / "synthetic_1_W.csv"))
    daily = load_ohlcv(str(out / "synthetic_1.csv"))
    assert weekly["High"].max() == daily["High"].max()
    scores = pd.read_csv(out / "scores.csv")
    assert scores["score_W"].between(0, 100).all()
    assert main(["generate", "sample:sp500", "--method", "regime", "--share", "0.8",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "need a condition" in capsys.readouterr().err


def test_cli_metrics_prints_table(capsys):
    assert main(["metrics", str(SAMPLE)]) == 0
    text = capsys.readouterr().out
    for name in ["volatility", "hurst", "arch_lm_p", "tail_index"]:
        assert name in text


@pytest.mark.parametrize(
    "args",
    [["metrics", "does-not-exist.csv"], ["generate", "sample:unknown"],
     ["generate", str(SAMPLE), "--block-size", "big"], ["generate", str(SAMPLE), "--n-samples",
                                                         "0"]],
)
def test_cli_bad_input_exits_2_with_one_line(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_cli_unreachable_fidelity_exits_3(capsys):
    code = main(["generate", str(SAMPLE), "--n-samples", "1", "--min-fidelity", "99.999",
                 "--max-attempts", "2", "--out", "/tmp/sme-never"])
    assert code == 3 and "best score" in capsys.readouterr().err


def test_sme_console_script_is_installed():
    sme = Path(sys.executable).parent / "sme"
    done = subprocess.run([str(sme), "metrics", "does-not-exist.csv"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "does-not-exist.csv" in done.stderr
    assert "Traceback" not in done.stderr
