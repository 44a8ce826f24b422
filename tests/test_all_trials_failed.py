"""A search whose every trial failed trained nothing: it exits non-zero, saying so and where each error is."""

from __future__ import annotations

from pathlib import Path

import pytest
from commands import merauto


@pytest.mark.slow
def test_a_search_whose_every_trial_failed_exits_non_zero_and_says_where_the_errors_are(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    search = ["search", "--synthetic-size", "tiny", "--max-epochs", "2", "--budget", "1", "--seed-presets", "--run-dir", str(run_dir)]
    failed = merauto(*search, "--trial-timeout", "0.01", cache=cache_dir, check=False)
    err = " ".join(failed.stderr.split())
    assert failed.returncode == 2 and "Traceback" not in err, err
    assert "trial 0 failed: TrialTimeout" in err, "the report lists the trial's error"
    assert "error: all 1 trial(s) of study 'synthetic-tiny' failed: no pipeline was trained" in err, err
    assert str(run_dir / "report.html") in err and "fix: fix what the errors name, then search again in a new --run-dir" in err, err
    assert "next: merauto report" not in err
