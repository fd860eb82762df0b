"""Checks beyond the values: `llmpulse config` reads the files and model folders the
settings name and reports every problem at once; services check theirs before starting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmpulse.config import check_settings, load_settings
from llmpulse.errors import ConfigError
from llmpulse.preflight import check, require


def _run_config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    return subprocess.run([sys.executable, "-m", "llmpulse", "config"], cwd=tmp_path,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_config_reports_every_missing_file_and_model_at_once(tmp_path: Path) -> None:
    done = _run_config(tmp_path, LLMPULSE_RULES_FILE=str(tmp_path / "rules.yml"),
                       LLMPULSE_PRICES_FILE=str(tmp_path / "prices.yml"),
                       LLMPULSE_TOXICITY_MODEL=str(tmp_path / "toxicity"),
                       LLMPULSE_GROUNDEDNESS_BACKEND="nli", LLMPULSE_PARTITIONS="zero")
    assert done.returncode == 2, done.stderr
    assert "invalid settings (5 problems):" in done.stderr
    for expected in (f"LLMPULSE_RULES_FILE: {tmp_path / 'rules.yml'} does not exist",
                     f"LLMPULSE_PRICES_FILE: {tmp_path / 'prices.yml'} does not exist",
                     f"LLMPULSE_TOXICITY_MODEL: {tmp_path / 'toxicity'} does not exist",
                     "LLMPULSE_GROUNDEDNESS_BACKEND=nli needs LLMPULSE_NLI_MODEL",
                     "LLMPULSE_PARTITIONS: got 'zero'"):
        assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert "LLMPULSE_RULES_FILE=" in done.stdout  # the effective values are still shown
    # ... but not a wrong value as the default checked in its place
    assert "LLMPULSE_PARTITIONS=(invalid: see below)" in done.stdout


def test_config_checks_what_the_files_hold(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("rules:\n  - {name: a, metric: calls, threshold: 1, channels: [nope]}\n")
    prices = tmp_path / "prices.yml"
    prices.write_text("overrides:\n  - {model: m, effective_from: 2026-01-01}\n")
    done = _run_config(tmp_path, LLMPULSE_RULES_FILE=str(rules),
                       LLMPULSE_PRICES_FILE=str(prices))
    assert done.returncode == 2
    assert f"{rules}:2:55: rules.0.channels.0: unknown channel 'nope'" in done.stderr
    assert "'input_per_mtok' is required" in done.stderr


def test_config_exits_0_and_says_what_it_checked(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yml"
    prices.write_text("overrides:\n  - {model: m, effective_from: 2026-01-01, "
                      "input_per_mtok: 1, output_per_mtok: 2}\n")
    done = _run_config(tmp_path, LLMPULSE_PRICES_FILE=str(prices))
    assert done.returncode == 0, done.stderr
    assert "shipped default rules" in done.stderr and "(1 overrides)" in done.stderr


def test_wrong_values_still_let_the_files_be_checked() -> None:
    settings, problems = check_settings({"LLMPULSE_BATCH_MAX_S": "-1",
                                         "LLMPULSE_RULES_FILE": "/nowhere/rules.yml",
                                         "LLMPULSE_NOPE": "1"})
    assert settings is not None and settings.batch_max_s == 0.5  # the default stands in
    assert [p.split(":")[0] for p in problems] == ["LLMPULSE_NOPE", "LLMPULSE_BATCH_MAX_S"]
    assert check(settings).problems == ("LLMPULSE_RULES_FILE: /nowhere/rules.yml does not exist",)
    with pytest.raises(ConfigError) as err:  # load_settings names both in one error
        load_settings({"LLMPULSE_BATCH_MAX_S": "-1", "LLMPULSE_NOPE": "1"})
    assert "LLMPULSE_NOPE" in str(err.value) and "LLMPULSE_BATCH_MAX_S" in str(err.value)


def test_each_service_checks_only_what_it_uses(tmp_path: Path) -> None:
    settings = load_settings({"LLMPULSE_RULES_FILE": str(tmp_path / "r.yml"),
                              "LLMPULSE_TOXICITY_MODEL": str(tmp_path / "t")})
    worker = check(settings, "worker").problems
    scorer = check(settings, "scorer").problems
    assert [p.split(":")[0] for p in worker] == ["LLMPULSE_BROKER", "LLMPULSE_RULES_FILE"]
    assert [p.split(":")[0] for p in scorer] == ["LLMPULSE_BROKER", "LLMPULSE_TOXICITY_MODEL"]
    assert not any("BROKER" in p for p in check(settings).problems)  # `demo` brings one
    with pytest.raises(ConfigError, match=r"invalid settings \(2 problems\)"):
        require(settings, "worker")


def test_model_folders_must_hold_their_files(tmp_path: Path) -> None:
    toxicity = tmp_path / "toxicity"
    toxicity.mkdir()
    (toxicity / "model.onnx").write_bytes(b"")
    nli = tmp_path / "nli"
    nli.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (nli / name).write_text("{}")
    (nli / "config.json").write_text(json.dumps({"id2label": {"0": "entailment",
                                                              "1": "neutral"}}))
    settings = load_settings({"LLMPULSE_TOXICITY_MODEL": str(toxicity),
                              "LLMPULSE_GROUNDEDNESS_BACKEND": "nli",
                              "LLMPULSE_NLI_MODEL": str(nli)})
    problems = check(settings, "scorer").problems
    assert f"LLMPULSE_TOXICITY_MODEL: {toxicity} lacks tokenizer.json, llmpulse-model.json" \
        in problems[1]
    assert "needs exactly one 'contradiction' label" in problems[2]
    (toxicity / "tokenizer.json").write_text("{}")
    (toxicity / "llmpulse-model.json").write_text("not json")
    assert "unreadable model manifest" in check(settings, "scorer").problems[1]


def test_an_empty_path_setting_means_unset() -> None:
    settings = load_settings({"LLMPULSE_RULES_FILE": "", "LLMPULSE_PRICES_FILE": " "})
    assert settings.rules_file is None and settings.prices_file is None  # not "."
    assert check(settings).problems == ()


def test_the_demo_refuses_before_it_starts_anything(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    done = subprocess.run([sys.executable, "-m", "llmpulse", "demo", "--duration", "1"],
                          cwd=tmp_path, env={**clean, "LLMPULSE_PRICES_FILE": "prices.yml"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "LLMPULSE_PRICES_FILE: prices.yml does not exist" in done.stderr
    assert not (tmp_path / "llmpulse-data").exists()  # no broker, store or worker started


def test_otlp_tls_settings_go_together() -> None:
    with pytest.raises(ConfigError, match="LLMPULSE_OTLP_TLS_CERT_FILE and "
                       "LLMPULSE_OTLP_TLS_KEY_FILE go together"):
        load_settings({"LLMPULSE_OTLP_TLS_CERT_FILE": "/x.crt"})
    with pytest.raises(ConfigError, match="LLMPULSE_OTLP_CLIENT_CA_FILE needs"):
        load_settings({"LLMPULSE_OTLP_CLIENT_CA_FILE": "/ca.pem"})


def test_otlp_tls_files_are_loaded_and_reported(tmp_path: Path) -> None:
    from tests.harness.certs import TestCA

    ca = TestCA(tmp_path, "server")
    server = ca.issue("otlp", server=True)
    good = {"LLMPULSE_OTLP_TLS_CERT_FILE": str(server.cert),
            "LLMPULSE_OTLP_TLS_KEY_FILE": str(server.key),
            "LLMPULSE_OTLP_CLIENT_CA_FILE": str(ca.pem)}
    report = check(load_settings(good), "otlp")
    assert report.problems == ()
    assert report.checked == (f"otlp TLS: HTTPS, client certificates of {ca.pem} required",)
    other = ca.issue("other", server=True)  # a key that is not the certificate's
    wrong = {**good, "LLMPULSE_OTLP_TLS_KEY_FILE": str(other.key),
             "LLMPULSE_OTLP_CLIENT_CA_FILE": str(tmp_path / "missing.pem")}
    problems = check(load_settings(wrong), "otlp").problems
    assert problems == (f"LLMPULSE_OTLP_CLIENT_CA_FILE: {tmp_path / 'missing.pem'} does not "
                        "exist",)
    with pytest.raises(ConfigError, match=r"LLMPULSE_OTLP_TLS_CERT_FILE/LLMPULSE_OTLP_TLS_KEY"
                       r"_FILE .* cannot be loaded"):
        require(load_settings({**wrong, "LLMPULSE_OTLP_CLIENT_CA_FILE": str(ca.pem)}), "otlp")
    assert check(load_settings({}), "worker").checked == check(
        load_settings(good), "worker").checked  # the worker does not check the receiver's


def test_the_scorer_check_names_the_offline_toxicity_scorer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def toxicity_note(env: dict[str, str]) -> str:
        notes = check(load_settings(env), "scorer").checked
        return next(note for note in notes if note.startswith("toxicity:"))

    assert toxicity_note({}) == ("toxicity: the all-MiniLM-L6-v2 classifier with the lexicon "
                                 "(LLMPULSE_TOXICITY_MODEL unset)")
    assert toxicity_note({"LLMPULSE_TOXICITY_BACKEND": "lexicon"}) == (
        "toxicity: the lexicon (LLMPULSE_TOXICITY_MODEL unset)")
    monkeypatch.setattr("llmpulse.preflight._missing_modules", lambda names: list(names))
    assert "lexicon (all-MiniLM-L6-v2 not installed)" in toxicity_note({})
