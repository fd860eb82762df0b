"""Starting the scorer: configuration errors that must be clear, and the demo's reports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpulse.config import load_settings
from llmpulse.detectors.toxicity import LexiconToxicityModel
from llmpulse.errors import ConfigError
from llmpulse.metrics import build_metrics
from llmpulse.procs import WorkerProcess
from llmpulse.runner import start_metrics_server
from llmpulse.scoring.scorer import load_scorer


def test_a_configured_toxicity_model_that_is_not_there_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "toxicity-onnx"
    settings = load_settings({"LLMPULSE_TOXICITY_MODEL": str(missing),
                              "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing"})
    with pytest.raises(ConfigError, match=r"LLMPULSE_TOXICITY_MODEL: .*does not exist") as err:
        load_scorer(settings)
    assert str(missing) in str(err.value)
    unset = load_scorer(load_settings({"LLMPULSE_GROUNDEDNESS_BACKEND": "hashing",
                                       "LLMPULSE_TOXICITY_BACKEND": "lexicon"}))
    assert isinstance(unset.toxicity, LexiconToxicityModel)  # no model, the lexicon chosen


def test_without_minilm_the_embedding_backend_falls_back_to_the_lexicon(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("llmpulse.models.embedder.minilm_available", lambda: False)
    scorer = load_scorer(load_settings({"LLMPULSE_GROUNDEDNESS_BACKEND": "hashing"}))
    assert isinstance(scorer.toxicity, LexiconToxicityModel)
    assert scorer.toxicity.scorer == "lexicon@1" and scorer.threshold is None
    assert "toxicity falls back to the lexicon" in caplog.text


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("process", ["worker", "scorer"])
def test_a_taken_metrics_port_is_a_one_line_error_naming_the_setting(
        taken_port: int, process: str) -> None:
    settings = load_settings({"LLMPULSE_METRICS_HOST": "127.0.0.1",
                              "LLMPULSE_METRICS_PORT": str(taken_port)})
    with pytest.raises(ConfigError) as err:
        start_metrics_server(settings, build_metrics(), process)  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message and message.startswith("LLMPULSE_METRICS_PORT:")
    assert f"port {taken_port} on 127.0.0.1 is already in use" in message


def test_a_free_metrics_port_is_served() -> None:
    settings = load_settings({"LLMPULSE_METRICS_HOST": "127.0.0.1",
                              "LLMPULSE_METRICS_PORT": "0"})
    server = start_metrics_server(settings, build_metrics(), "scorer")
    try:
        assert server.port > 0
    finally:
        server.stop()


class FakeProcess(WorkerProcess):
    """A worker or scorer that starts (or fails to), without a child process."""

    def __init__(self, command: str, log_dir: Path, port: int | None) -> None:
        super().__init__({}, log_path=log_dir / f"{command}.log", command=command)
        self.port, self.stopped = port, False

    def start(self, timeout: float = 60.0) -> int:
        if self.port is None:
            raise RuntimeError(f"{self.command} exited with 2 during start:\nboom")
        return self.port

    def stop(self, timeout: float = 60.0) -> int:
        self.stopped = True
        return 0


def test_the_demo_points_at_the_scorer_log_when_the_scorer_does_not_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from llmpulse.demo import _start

    worker = FakeProcess("worker", tmp_path, 9000)
    scorer = FakeProcess("scorer", tmp_path, None)
    assert _start((worker, scorer)) is None
    err = capsys.readouterr().err
    assert "the scorer did not start" in err and f"see {tmp_path / 'scorer.log'}" in err
    assert worker.stopped  # the worker that did start is stopped again
    assert _start((FakeProcess("worker", tmp_path, 1), FakeProcess("scorer", tmp_path, 2))) == (
        1, 2)


def test_the_demo_reports_a_failed_scorer_with_its_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from llmpulse.demo import _report_exit, _scores_expected

    scorer = FakeProcess("scorer", tmp_path, 1)
    _report_exit(scorer, 0)
    assert capsys.readouterr().err == ""
    _report_exit(scorer, 1)
    assert capsys.readouterr().err.strip() == (
        f"llmpulse demo: scorer exited with 1; see {tmp_path / 'scorer.log'}")
    # a scorer that is not running sends no more scores: the demo does not wait for them
    assert _scores_expected({"llmpulse_scoring_sent_total": 50.0}, scorer) == 0.0
