"""A misspelt option is refused naming the closest option of the same command (Python 3.11's argparse has no suggest_on_error)."""

from __future__ import annotations

import pytest

from merauto.cli import main


@pytest.mark.parametrize(
    ("argv", "unknown", "fix"),
    [
        (["search", "--budjet", "5"], "--budjet 5", "did you mean --budget?"),
        (["search", "--max-epoks=3"], "--max-epoks=3", "did you mean --max-epochs?"),
        (["datasets", "check", "--synthetic-sise", "tiny"], "--synthetic-sise tiny", "did you mean --synthetic-size?"),
        (["dashboard", "run", "--prot", "8081"], "--prot 8081", "did you mean --port?"),
        (["report", "run", "--zzzz"], "--zzzz", "see merauto report --help for the options"),
    ],
)
def test_an_unknown_option_is_refused_with_the_closest_one(
    argv: list[str], unknown: str, fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"error: unrecognized arguments: {unknown}\n  fix: {fix}\n" in err, err
