"""`llmpulse report`'s command line (the page itself: test_report_*.py)."""

from __future__ import annotations

from click.testing import CliRunner

from llmpulse.cli.main import cli


def test_times_are_checked_before_the_store_is_opened() -> None:
    runner = CliRunner()
    wrong = runner.invoke(cli, ["report", "--from", "2026-12-02T00:00:00Z", "--to",
                                "2026-12-01T00:00:00Z"])
    assert wrong.exit_code == 2 and "--to must be after --from" in wrong.output
    bad = runner.invoke(cli, ["report", "--from", "yesterday"])
    assert bad.exit_code == 2 and "'yesterday' is not an ISO time" in bad.output


def test_the_command_is_listed_with_its_options() -> None:
    done = CliRunner().invoke(cli, ["report", "--help"])
    assert done.exit_code == 0
    for option in ("--from", "--to", "--model", "-o, --output"):
        assert option in done.output
