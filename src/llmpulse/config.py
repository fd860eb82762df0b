"""Settings: read once from ``LLMPULSE_*`` variables (and an optional YAML file).

Precedence: environment variables over the YAML file named by
``LLMPULSE_CONFIG`` over defaults.  The result is frozen; a wrong value fails
at start-up with a :class:`~llmpulse.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmpulse.errors import ConfigError

ENV_PREFIX = "LLMPULSE_"
PiiPolicy = Literal["redact", "hash", "keep"]
Process = Literal["worker", "scorer"]
#: /metrics port of each process when LLMPULSE_METRICS_PORT is unset.
DEFAULT_METRICS_PORTS: dict[Process, int] = {"worker": 9464, "scorer": 9465}


class Settings(BaseSettings):
    """Every setting of llmpulse; the environment name is ``LLMPULSE_`` + upper-case name."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", case_sensitive=False
    )

    broker: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, e.g. 'kafka-0:9092,kafka-1:9092'. "
        "Unset: `demo` starts the embedded broker; `worker` refuses to start.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How every Kafka client connects (worker, scorer, CLI, simulator): "
        "PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS: managed Kafka).")
    kafka_ssl_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) the brokers' certificates are checked against; "
        "unset: the system's CAs.")
    kafka_ssl_cert_file: Path | None = Field(
        default=None,
        description="PEM client certificate (mutual TLS), with LLMPULSE_KAFKA_SSL_KEY_FILE.")
    kafka_ssl_key_file: Path | None = Field(
        default=None, description="PEM private key of LLMPULSE_KAFKA_SSL_CERT_FILE.")
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted LLMPULSE_KAFKA_SSL_KEY_FILE.")
    kafka_ssl_check_hostname: bool = Field(
        default=True,
        description="Check that a broker's certificate names the host connected to.")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = Field(
        default="PLAIN",
        description="SASL mechanism with a SASL_* security protocol: PLAIN and SCRAM-* log in "
        "with LLMPULSE_KAFKA_SASL_USERNAME/_PASSWORD, OAUTHBEARER with an OIDC access token "
        "(LLMPULSE_KAFKA_OAUTH_*).")
    kafka_sasl_username: str | None = Field(
        default=None, description="SASL user name (e.g. a Confluent Cloud API key).")
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        description="SASL password; or LLMPULSE_KAFKA_SASL_PASSWORD_FILE (not both).")
    kafka_sasl_password_file: Path | None = Field(
        default=None,
        description="File holding the SASL password (e.g. a mounted Kubernetes Secret); "
        "read at start-up, surrounding whitespace ignored.")
    kafka_oauth_token_url: str | None = Field(
        default=None,
        description="OIDC token endpoint that issues the OAUTHBEARER access tokens (client "
        "credentials grant), e.g. https://idp.example.com/realms/kafka/protocol/openid-connect/"
        "token.")
    kafka_oauth_client_id: str | None = Field(
        default=None, description="OAuth client id llmpulse asks the token endpoint for tokens as.")
    kafka_oauth_client_secret: SecretStr | None = Field(
        default=None,
        description="OAuth client secret; or LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE (not both).")
    kafka_oauth_client_secret_file: Path | None = Field(
        default=None,
        description="File holding the OAuth client secret (e.g. a mounted Kubernetes Secret); "
        "read at start-up, surrounding whitespace ignored.")
    kafka_oauth_scope: str | None = Field(
        default=None,
        description="Scope(s) asked for with the token, space-separated; unset: the identity "
        "provider's default.")
    kafka_oauth_extensions: str | None = Field(
        default=None,
        description="SASL extensions sent with the token, as key=value,key=value; Confluent "
        "Cloud wants logicalCluster=lkc-...,identityPoolId=pool-....")
    kafka_oauth_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) an https:// token endpoint's certificate is checked "
        "against; unset: the system's CAs (not LLMPULSE_KAFKA_SSL_CA_FILE, which is the "
        "brokers').")
    app_id: str = Field(default="llmpulse", pattern=r"^[A-Za-z0-9._-]+$",
                        description="Consumer group id and prefix of internal topics.")
    topic_prefix: str = Field(default="llm.", pattern=r"^[A-Za-z0-9._-]*$",
                              description="Prefix of every llmpulse topic.")
    partitions: int = Field(
        default=4, ge=1, le=1024,
        description="Partitions of every llmpulse topic (inputs co-partitioned).")
    replication_factor: int = Field(default=1, ge=1, le=7,
                                    description="Replication factor of topics llmpulse creates.")
    topic_retention_hours: float | None = Field(
        default=None, gt=0, le=10 * 365 * 24,
        description="retention.ms of the topics llmpulse creates (inputs, outputs, dead "
        "letters), in hours: how long Kafka keeps events, message bodies included, whatever "
        "the store erases. Unset: the broker's default (log.retention.hours, 168 in Apache "
        "Kafka). Existing topics are left as they are: change them with kafka-configs.")
    clickhouse_url: str = Field(
        default="chdb://./llmpulse-data/chdb",
        description="chdb://PATH (embedded: one process opens it; several share it through "
        "`llmpulse store serve` or LLMPULSE_WORKERS) or http(s)://user:pass@host:port/db.",
    )
    clickhouse_password_file: Path | None = Field(
        default=None,
        description="File holding the ClickHouse password (e.g. a mounted Kubernetes Secret), "
        "used instead of a password in LLMPULSE_CLICKHOUSE_URL; read at start-up.")
    clickhouse_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) an https:// ClickHouse server's certificate is "
        "checked against; unset: the system's CAs.")
    clickhouse_cert_file: Path | None = Field(
        default=None,
        description="PEM client certificate for an https:// ClickHouse server (mutual TLS), "
        "with LLMPULSE_CLICKHOUSE_KEY_FILE.")
    clickhouse_key_file: Path | None = Field(
        default=None, description="PEM private key of LLMPULSE_CLICKHOUSE_CERT_FILE.")
    clickhouse_verify: bool = Field(
        default=True,
        description="Check an https:// ClickHouse server's certificate (false only for tests).")
    store_wait_s: float | None = Field(
        default=None, ge=0, le=366 * 86_400,
        description="How long the worker waits at start-up for an unreachable store "
        "(connection refused, no DNS yet, an embedded store held by another process), "
        "retrying with backoff while /metrics reports llmpulse_store_up 0; unset: for ever "
        "(start order does not matter), 0: fail at once. A malformed URL or a refused login "
        "fails at once.")
    workers: int = Field(
        default=1, ge=1, le=1024,
        description="Worker processes `llmpulse worker` starts and supervises in the consumer "
        "group (restarting one that dies); each gets LLMPULSE_METRICS_PORT + its index "
        "(0 stays 0), its own instance id (an explicit LLMPULSE_INSTANCE_ID + '-' + index) "
        "and LLMPULSE_DATA_DIR/worker-<index>. With chdb://PATH they share PATH through a "
        "store server process on loopback (as `llmpulse store serve`). Keep it at most "
        "LLMPULSE_PARTITIONS.")
    metrics_host: str = Field(default="0.0.0.0", description="Address of the /metrics endpoint.")
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="Port of the /metrics endpoint (0 = pick a free one); unset: 9464 for "
        "`worker`, 9465 for `scorer` (so both can run on one host). A scorer uses "
        "LLMPULSE_SCORER_METRICS_PORT first when that is set.")
    scorer_metrics_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="Port of the scorer's /metrics endpoint (0 = pick a free one), for a "
        "scorer that shares its environment with a worker (`llmpulse demo`, one host); "
        "unset: LLMPULSE_METRICS_PORT, else 9465.")
    prometheus_tenants: int = Field(
        default=0, ge=0, le=10_000,
        description="Tenants named in the tenant label of the window gauges "
        "(llmpulse_window_*): the first N each worker sees; the windows of other tenants "
        "are merged into tenant 'other'. 0 = none: every tenant's windows are merged into "
        "tenant '*' (per model, route and prompt version). Per-tenant windows are in "
        "ClickHouse whatever this is.")
    join_timeout_s: float = Field(
        default=60.0, gt=0, le=86_400,
        description="How long a request waits for its response (and vice versa) before it is "
        "recorded alone.",
    )
    dedup_horizon_s: float = Field(
        default=900.0, ge=0, le=7 * 86_400,
        description="How long a finished request_id is remembered to drop redelivered duplicates.",
    )
    drift_every_s: float = Field(
        default=300.0, ge=5, le=86_400,
        description="Drift is checked per model over windows of this length (the last closed "
        "one, once its calls are stored), against the model's reference.")
    drift_reference: Literal["auto", "trailing"] = Field(
        default="auto",
        description="Reference when no baseline is pinned (`llmpulse drift baseline set`): "
        "auto = the first LLMPULSE_DRIFT_REFERENCE_EVENTS calls of the prompt version that "
        "makes up at least half of the window, else of the model; trailing = the 6 windows "
        "before the current one.")
    drift_reference_events: int = Field(default=2000, ge=100, le=100_000,
                                        description="Calls in an automatic reference.")
    drift_min_samples: int = Field(default=100, ge=10, le=100_000,
                                   description="Calls a window (and its reference) needs "
                                   "before it is checked: no alarm on tiny windows.")
    drift_max_routes: int = Field(
        default=5, ge=0, le=1000,
        description="Routes of a model also checked for drift on their own per drift window, "
        "busiest first, each with at least LLMPULSE_DRIFT_MIN_SAMPLES calls in the window and "
        "in its reference (0 = per model only).")
    drift_embedder: Literal["auto", "minilm", "hashing", "none"] = Field(
        default="auto",
        description="Prompt embeddings for drift: auto = the offline MiniLM model when "
        "installed, else the hashing embedder; none = no embedding drift.")
    feedback_horizon_s: float = Field(
        default=7 * 86_400, gt=0, le=366 * 86_400,
        description="Feedback given up to this long after its call joins the call's model and "
        "route in the feedback windows; older feedback is stored and counted, not windowed.",
    )
    batch_max_rows: int = Field(default=2000, ge=1, le=1_000_000,
                                description="Rows buffered before a ClickHouse insert.")
    batch_max_s: float = Field(default=0.5, gt=0, le=300,
                               description="Longest time rows wait before a ClickHouse insert.")
    dlq_max_ratio: float = Field(
        default=1.0, ge=0, le=1,
        description="Stop the worker when more than this share of the last 1000 events is invalid "
        "(1.0 = never stop).",
    )
    session_timeout_s: float = Field(
        default=10.0, ge=1, le=300,
        description="Consumer group session/rebalance timeout: how soon a crashed worker's "
        "partitions move to the others.",
    )
    instance_id: str = Field(
        default="auto", pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="Static group membership: a restarted worker with the same id gets its "
        "partitions back at once, and one gone for good keeps them until "
        "LLMPULSE_SESSION_TIMEOUT_S expires. auto = <hostname>-<metrics port> when "
        "LLMPULSE_METRICS_PORT is not 0 (stable per host and StatefulSet pod, distinct for "
        "two processes on one host); none = dynamic membership; else the id itself, unique "
        "in the group.")
    drain_timeout_s: float = Field(
        default=25.0, ge=1, le=3600,
        description="On SIGTERM (or SIGINT) the worker and the scorer finish and acknowledge "
        "the batch in flight, commit, close their producers and leave the group (a static "
        "member, see LLMPULSE_INSTANCE_ID, stays) within this bound; past it they exit with "
        "status 1 saying what they abandoned (nothing "
        "accepted is lost: unacknowledged messages are redelivered). Keep it below the "
        "pod's terminationGracePeriodSeconds (30 s by default).")
    live_stall_s: float = Field(
        default=60.0, ge=2, le=3600,
        description="/healthz answers 503 when the event loop has not run its "
        "once-a-second heartbeat for this long (a blocked or hung process).")
    ready_stuck_s: float = Field(
        default=300.0, ge=1, le=86_400,
        description="/readyz answers 503 when a batch has been in flight (its failing "
        "step retried) for longer than this, or when an assigned input partition has had "
        "messages waiting with nothing read from it for this long.")
    otlp_topic: str = Field(
        default="", pattern=r"^[A-Za-z0-9._-]*$",
        description="Topic of OTLP trace batches (the OpenTelemetry Collector's Kafka "
        "exporter writes `otlp_spans` by default; `llmpulse otlp` publishes there): the "
        "worker turns their GenAI spans into inference events. Empty: not read.")
    otlp_host: str = Field(
        default="127.0.0.1",
        description="Address `llmpulse otlp` listens on (loopback unless told otherwise: "
        "anyone who can post spans can raise alerts).")
    otlp_port: int = Field(default=4318, ge=0, le=65535,
                           description="Port of `llmpulse otlp` (OTLP/HTTP; 0: a free one).")
    otlp_max_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024,
        description="Largest OTLP/HTTP request body `llmpulse otlp` takes, after gzip "
        "(larger: 413).")
    otlp_tokens: SecretStr | None = Field(
        default=None,
        description="Bearer tokens `llmpulse otlp` accepts, comma-separated; `TOKEN:TENANT` "
        "pins a token to a tenant (its spans get that tenant). Set (or the file): requests "
        "without a known token get 401.")
    otlp_tokens_file: Path | None = Field(
        default=None,
        description="File of `llmpulse otlp` tokens, one `TOKEN` or `TOKEN:TENANT` a line "
        "(# comments); read at start-up.")
    otlp_tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate (chain) `llmpulse otlp` serves HTTPS with, with "
        "LLMPULSE_OTLP_TLS_KEY_FILE. Unset: plain HTTP.")
    otlp_tls_key_file: Path | None = Field(
        default=None, description="PEM private key of LLMPULSE_OTLP_TLS_CERT_FILE.")
    otlp_client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA(s) for client certificates (mutual TLS; needs "
        "LLMPULSE_OTLP_TLS_CERT_FILE): a request without a client certificate gets 401, a "
        "certificate they did not sign fails the TLS handshake. Tokens, when set, are "
        "required as well.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="debug, info, warning or error.")
    data_dir: Path = Field(default=Path("./llmpulse-data"),
                           description="Local directory for the demo's data.")
    rules_file: Path | None = Field(
        default=None,
        description="YAML file of alert rules, channels and budgets (unset: the shipped "
        "default rules, which notify no one until channels are configured).")
    prices_file: Path | None = Field(
        default=None,
        description="YAML file of operator price overrides (private deployments, negotiated "
        "prices) with effective dates; they win over genai-prices.")
    notify_queue_max: int = Field(
        default=500, ge=1, le=100_000,
        description="Alert deliveries queued per notification channel (each channel is "
        "served in order on its own, so a dead receiver delays only its own channel); when "
        "one channel has this many waiting, or 4x as many alert messages are not yet "
        "delivered everywhere, reading llm.alerts waits.")
    window_pane_s: float = Field(
        default=5.0, gt=0, le=3600,
        description="Granularity of the in-stream windows that rules evaluate (a rule window "
        "is a whole number of panes).")
    window_lateness_s: float = Field(
        default=30.0, ge=0, le=3600,
        description="How late (event time) a call may arrive and still count in its window; "
        "later ones are counted as late.")

    pii_prompt: PiiPolicy = Field(
        default="redact",
        description="Personal data (emails, phones, cards, IPs, IBANs) in prompts and system "
        "instructions: redact, hash (keyed, joinable) or keep.")
    pii_response: PiiPolicy = Field(default="redact",
                                    description="Personal data in responses: redact, hash or keep.")
    pii_context: PiiPolicy = Field(
        default="redact",
        description="Personal data in retrieved context documents: redact, hash or keep.")
    pii_feedback: PiiPolicy = Field(
        default="redact",
        description="Personal data in feedback corrections and comments: redact, hash or keep.")
    pii_hash_key: SecretStr | None = Field(
        default=None,
        description="Secret key of the 'hash' PII policy (required when a field uses hash).")
    dlq_payload: Literal["raw", "redacted"] = Field(
        default="raw",
        description="What a dead letter keeps of its message: raw (the original bytes; "
        "`dlq replay` can send it again) or redacted (reason, source and a copy with emails, "
        "phones, cards, IPs and IBANs replaced; cannot be replayed) for stores that may not "
        "keep raw personal data.")
    retention_calls_days: int = Field(
        default=0, ge=0, le=36_500,
        description="Days calls (inference_events rows) are kept, by call time; 0 = for ever. "
        "Applied as a ClickHouse TTL at start-up when changed; expired rows go at the next "
        "merge.")
    retention_messages_days: int = Field(
        default=30, ge=0, le=36_500,
        description="Days message bodies (system instructions, input and output messages, "
        "context documents) and quality-score explanations are kept; then they read as "
        "empty while the call's other columns stay. 0 = for ever.")
    retention_signals_days: int = Field(
        default=0, ge=0, le=36_500,
        description="Days signals (per-call metrics and quality scores) are kept; 0 = for ever.")
    retention_feedback_days: int = Field(
        default=0, ge=0, le=36_500,
        description="Days feedback (thumbs, ratings, corrections) is kept; 0 = for ever.")
    retention_windows_days: int = Field(
        default=0, ge=0, le=36_500,
        description="Days window aggregates are kept, by window start; 0 = for ever.")
    retention_alerts_days: int = Field(
        default=0, ge=0, le=36_500,
        description="Days alert notifications are kept, and alert states that are not "
        "pending or firing (by their last update); 0 = for ever.")
    retention_retrain_days: int = Field(
        default=0, ge=0, le=36_500,
        description="Days retraining triggers are kept, by creation; 0 = for ever.")
    score_sample_rate: float = Field(
        default=0.1, ge=0, le=1,
        description="Share of ordinary calls sent to the quality scorer (toxicity, "
        "groundedness); flagged calls, negative feedback and new versions always go.")
    score_budget_per_s: float = Field(
        default=50.0, ge=0, le=1_000_000,
        description="Most calls per second each worker sends to the scorer (a token bucket "
        "that bounds the scoring backlog); mandatory ones still go.")
    score_new_version_calls: int = Field(
        default=100, ge=0, le=1_000_000,
        description="The first N calls of a new model / prompt version are always scored.")
    score_max_age_s: float = Field(
        default=20.0, gt=0, le=86_400,
        description="The scorer drops sampled tasks older than this (counted); mandatory "
        "ones are always scored.")
    score_batch_size: int = Field(default=32, ge=1, le=4096,
                                  description="Texts per model batch in the scorer.")
    toxicity_model: Path | None = Field(
        default=None,
        description="Folder of an exported ONNX toxicity model (`llmpulse models "
        "export-toxicity`); unset: the offline scorer of LLMPULSE_TOXICITY_BACKEND (a path "
        "that does not exist is an error).")
    toxicity_backend: Literal["embedding", "lexicon"] = Field(
        default="embedding",
        description="Offline toxicity scorer when LLMPULSE_TOXICITY_MODEL is unset: embedding "
        "(a classifier on all-MiniLM-L6-v2 trained at start-up on the shipped corpus, with the "
        "lexicon, `lexicon+minilm@2`; the lexicon alone if llmpulse[models] is not installed) "
        "or lexicon (`lexicon@1`).")
    toxicity_threshold: float | None = Field(
        default=None, gt=0, lt=1,
        description="Toxicity score from which a response is toxic; unset: the scorer's own "
        "(0.5 for ONNX and the lexicon, cross-validated on the corpus for the embedding "
        "classifier).")
    groundedness_backend: Literal["embedding", "nli", "hashing"] = Field(
        default="embedding",
        description="embedding (all-MiniLM-L6-v2 if installed, else hashing), nli (an ONNX "
        "NLI cross-encoder in LLMPULSE_NLI_MODEL) or hashing (no model).")
    nli_model: Path | None = Field(
        default=None, description="Folder of an ONNX NLI cross-encoder (model.onnx, "
        "tokenizer.json, config.json) for LLMPULSE_GROUNDEDNESS_BACKEND=nli.")
    judge_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL (e.g. http://host:8000/v1) of an LLM judge "
        "for groundedness; unset: no judge.")
    judge_model: str = Field(default="gpt-4o-mini", description="Model name sent to the judge.")
    judge_api_key: SecretStr | None = Field(default=None,
                                            description="Bearer key of the judge endpoint.")
    judge_sample_rate: float = Field(
        default=0.05, ge=0, le=1,
        description="Share of scored RAG answers also sent to the judge (answers users gave "
        "negative feedback on always, within the token budget).")
    judge_tokens_per_min: int = Field(default=60_000, ge=0,
                                      description="Token budget of the judge per scorer worker.")
    judge_timeout_s: float = Field(default=20.0, gt=0, le=600,
                                   description="Timeout of one judge request.")

    drills: str = Field(
        default="",
        description="Fault windows to rehearse the alerts on llmpulse itself: "
        "KIND@START+SECONDS, comma-separated, START in epoch seconds; kinds store_down "
        "(the worker's store fails) and scorer_slow (the scorer sheds). Empty: none. "
        "`llmpulse demo` sets them in its long schedule.")

    @field_validator("drills")
    @classmethod
    def _drills(cls, value: str) -> str:
        from llmpulse.drills import parse_drills

        parse_drills(value)
        return value

    @property
    def drill_list(self) -> tuple[Any, ...]:
        from llmpulse.drills import parse_drills

        return parse_drills(self.drills)

    @field_validator("rules_file", "prices_file", "toxicity_model", "nli_model",
                     "otlp_tokens_file", "otlp_tls_cert_file", "otlp_tls_key_file",
                     "otlp_client_ca_file", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: Any) -> Any:
        """``LLMPULSE_RULES_FILE=`` means unset, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("must start with chdb://, http:// or https://")
        if value.startswith("chdb://") and len(value) == len("chdb://"):
            raise ValueError("chdb:// needs a path, e.g. chdb://./llmpulse-data/chdb")
        if value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            try:
                parts.port  # noqa: B018  (raises on a port that is not a number)
            except ValueError:
                raise ValueError("has a port that is not a number 0-65535") from None
            if not parts.hostname:
                raise ValueError("needs a host, e.g. http://user:pass@clickhouse:8123/db")
        return value

    @field_validator("broker")
    @classmethod
    def _hosts(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        hosts = [h.strip() for h in value.removeprefix("kafka://").split(",")]
        for host in hosts:
            name, sep, port = host.rpartition(":")
            if not sep or not name or not port.isdigit():
                raise ValueError(f"'{host}' is not host:port (e.g. localhost:9092)")
        return ",".join(hosts)

    @field_validator("kafka_oauth_token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("is not an http(s) URL with a host, e.g. "
                             "https://idp.example.com/oauth2/token")
        return value

    @field_validator("kafka_oauth_extensions")
    @classmethod
    def _extensions(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_extensions(value)
        return value.strip()

    @model_validator(mode="after")
    def _clickhouse_tls(self, info: ValidationInfo) -> Settings:
        if _lenient(info):
            return self
        tls = [name for name in ("ca", "cert", "key")
               if getattr(self, f"clickhouse_{name}_file") is not None]
        if tls and not self.clickhouse_url.startswith("https://"):
            raise ValueError(f"LLMPULSE_CLICKHOUSE_{tls[0].upper()}_FILE needs an https:// "
                             "LLMPULSE_CLICKHOUSE_URL")
        if (self.clickhouse_cert_file is None) != (self.clickhouse_key_file is None):
            raise ValueError("LLMPULSE_CLICKHOUSE_CERT_FILE and LLMPULSE_CLICKHOUSE_KEY_FILE go "
                             "together (a client certificate and its key)")
        if self.clickhouse_password_file is not None and self.embedded_store:
            raise ValueError("LLMPULSE_CLICKHOUSE_PASSWORD_FILE is for a ClickHouse server "
                             "(http(s)://...), not the embedded store")
        return self

    @model_validator(mode="after")
    def _otlp_tls(self, info: ValidationInfo) -> Settings:
        if _lenient(info):
            return self
        if (self.otlp_tls_cert_file is None) != (self.otlp_tls_key_file is None):
            raise ValueError("LLMPULSE_OTLP_TLS_CERT_FILE and LLMPULSE_OTLP_TLS_KEY_FILE go "
                             "together (the receiver's certificate and its key)")
        if self.otlp_client_ca_file is not None and self.otlp_tls_cert_file is None:
            raise ValueError("LLMPULSE_OTLP_CLIENT_CA_FILE needs LLMPULSE_OTLP_TLS_CERT_FILE "
                             "and LLMPULSE_OTLP_TLS_KEY_FILE: client certificates are only "
                             "asked for over TLS")
        return self

    @model_validator(mode="after")
    def _kafka_security(self, info: ValidationInfo) -> Settings:
        if _lenient(info):
            return self
        protocol = self.kafka_security_protocol
        oauth = protocol.startswith("SASL_") and self.kafka_sasl_mechanism == "OAUTHBEARER"
        oauth_set = [name for name in _OAUTH_FIELDS if getattr(self, name) is not None]
        if oauth_set and not oauth:
            raise ValueError(
                f"{ENV_PREFIX}{oauth_set[0].upper()} is set but the Kafka clients do not "
                "log in with OAUTHBEARER (LLMPULSE_KAFKA_SECURITY_PROTOCOL=SASL_SSL or "
                "SASL_PLAINTEXT and LLMPULSE_KAFKA_SASL_MECHANISM=OAUTHBEARER)")
        if oauth:
            self._check_oauth(protocol)
        elif protocol.startswith("SASL_"):
            if not self.kafka_sasl_username:
                raise ValueError(f"LLMPULSE_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                                 "LLMPULSE_KAFKA_SASL_USERNAME")
            if (self.kafka_sasl_password is None) == (self.kafka_sasl_password_file is None):
                raise ValueError(f"LLMPULSE_KAFKA_SECURITY_PROTOCOL={protocol} needs exactly one "
                                 "of LLMPULSE_KAFKA_SASL_PASSWORD and "
                                 "LLMPULSE_KAFKA_SASL_PASSWORD_FILE")
        elif self.kafka_sasl_username or self.kafka_sasl_password is not None \
                or self.kafka_sasl_password_file is not None:
            raise ValueError("LLMPULSE_KAFKA_SASL_* credentials are set but "
                             f"LLMPULSE_KAFKA_SECURITY_PROTOCOL={protocol} does not use SASL "
                             "(SASL_SSL or SASL_PLAINTEXT)")
        tls_files = [name for name in ("ca", "cert", "key")
                     if getattr(self, f"kafka_ssl_{name}_file") is not None]
        if tls_files and not protocol.endswith("SSL"):
            raise ValueError(f"LLMPULSE_KAFKA_SSL_{tls_files[0].upper()}_FILE is set but "
                             f"LLMPULSE_KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS "
                             "(SSL or SASL_SSL)")
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError("LLMPULSE_KAFKA_SSL_CERT_FILE and LLMPULSE_KAFKA_SSL_KEY_FILE go "
                             "together (a client certificate and its key)")
        return self

    def _check_oauth(self, protocol: str) -> None:
        where = f"LLMPULSE_KAFKA_SECURITY_PROTOCOL={protocol} with " \
                "LLMPULSE_KAFKA_SASL_MECHANISM=OAUTHBEARER"
        for name in ("kafka_oauth_token_url", "kafka_oauth_client_id"):
            if not getattr(self, name):
                raise ValueError(f"{where} needs {ENV_PREFIX}{name.upper()}")
        if (self.kafka_oauth_client_secret is None) == (self.kafka_oauth_client_secret_file
                                                        is None):
            raise ValueError(f"{where} needs exactly one of LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET "
                             "and LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE")
        if self.kafka_sasl_username or self.kafka_sasl_password is not None \
                or self.kafka_sasl_password_file is not None:
            raise ValueError(f"LLMPULSE_KAFKA_SASL_USERNAME/_PASSWORD are not used with {where}: "
                             "the login is the access token of LLMPULSE_KAFKA_OAUTH_CLIENT_ID; "
                             "unset them")
        if self.kafka_oauth_ca_file is not None and not str(
                self.kafka_oauth_token_url).startswith("https://"):
            raise ValueError("LLMPULSE_KAFKA_OAUTH_CA_FILE needs an https:// "
                             "LLMPULSE_KAFKA_OAUTH_TOKEN_URL")

    @model_validator(mode="after")
    def _hash_needs_key(self, info: ValidationInfo) -> Settings:
        if _lenient(info):
            return self
        hashed = [f for f in ("prompt", "response", "context", "feedback")
                  if getattr(self, f"pii_{f}") == "hash"]
        key = self.pii_hash_key.get_secret_value() if self.pii_hash_key is not None else ""
        if hashed and not key.strip():
            raise ValueError(
                f"LLMPULSE_PII_{hashed[0].upper()}=hash needs LLMPULSE_PII_HASH_KEY, a "
                "non-empty secret (without it a hashed phone number could be guessed by "
                "brute force)")
        return self

    @property
    def embedded_store(self) -> bool:
        return self.clickhouse_url.startswith("chdb://")

    @property
    def chdb_path(self) -> Path:
        return Path(self.clickhouse_url.removeprefix("chdb://"))

    def metrics_port_for(self, process: Process) -> int:
        """The configured /metrics port of ``process``, else its default."""
        if process == "scorer" and self.scorer_metrics_port is not None:
            return self.scorer_metrics_port
        return DEFAULT_METRICS_PORTS[process] if self.metrics_port is None else self.metrics_port

    def instance_id_for(self, process: Process) -> str | None:
        """The group.instance.id of ``process`` (None: dynamic membership)."""
        if self.instance_id == "none":
            return None
        if self.instance_id != "auto":
            return self.instance_id
        port = self.metrics_port_for(process)
        if port == 0:  # a port picked at start: nothing stable to name the process by
            return None
        host = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())
        return f"{host or 'localhost'}-{port}"

    def topic(self, role: str) -> str:
        """Full topic name for a role such as 'requests' or 'dlq'."""
        return f"{self.topic_prefix}{role}"


def parse_extensions(text: str) -> dict[str, str]:
    """``key=value,key=value`` as SASL/OAUTHBEARER extensions (RFC 7628: keys of
    letters, values of printable ASCII; ``auth`` is reserved); ValueError otherwise."""
    found: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z]+", key) or key == "auth":
            raise ValueError(f"{item.strip()!r} is not key=value with a key of letters "
                             "(not 'auth'), e.g. logicalCluster=lkc-abc12,identityPoolId="
                             "pool-Ab1c")
        if not re.fullmatch(r"[\x21-\x7E \t\r\n]+", value):
            raise ValueError(f"the value of {key!r} must be printable ASCII")
        found[key] = value
    return found


#: The settings of the OAUTHBEARER login (only with LLMPULSE_KAFKA_SASL_MECHANISM=OAUTHBEARER).
_OAUTH_FIELDS = ("kafka_oauth_token_url", "kafka_oauth_client_id", "kafka_oauth_client_secret",
                 "kafka_oauth_client_secret_file", "kafka_oauth_scope",
                 "kafka_oauth_extensions", "kafka_oauth_ca_file")


def markdown_table() -> str:
    """Every setting as a Markdown table (``llmpulse config --markdown``, the README's)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = "" if info.default is None else f"`{info.default}`"
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {default} | {info.description or ''} |")
    return "\n".join(rows)


def _lenient(info: ValidationInfo) -> bool:
    """Checks across settings are skipped when ``check_settings`` rebuilds settings
    without their wrong values (it has reported those already)."""
    return bool(info.context and info.context.get("lenient"))


def _yaml_values(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"LLMPULSE_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"LLMPULSE_CONFIG: {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"LLMPULSE_CONFIG: {path} must hold a mapping of setting: value")
    return {str(k).lower(): v for k, v in loaded.items()}


def _describe_lines(exc: ValidationError, from_env: set[str]) -> list[str]:
    lines = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not err["loc"]:
            lines.append(msg)
            continue
        field = str(err["loc"][0])
        name = ENV_PREFIX + field.upper()
        where = "environment" if field in from_env else "config"
        allowed = Settings.model_fields.get(field)
        hint = f" ({allowed.description})" if allowed is not None and allowed.description else ""
        got = err.get("input")
        shown = f" got {got!r} from the {where};" if not isinstance(got, dict) else ""
        lines.append(f"{name}:{shown} {msg}{hint}")
    return lines


def _describe(lines: list[str]) -> str:
    return "invalid settings:\n  " + "\n  ".join(lines)


def _gather(environ: Mapping[str, str] | None, overrides: Mapping[str, Any]
            ) -> tuple[dict[str, Any], set[str], list[str]]:
    """(values by field, the fields set by the environment, problems found meanwhile)."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    problems: list[str] = []
    config_file = env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        try:
            values.update(_yaml_values(Path(config_file)))
        except ConfigError as exc:
            problems.append(str(exc))
    from_env = set()
    for key, value in env.items():
        if key.upper().startswith(ENV_PREFIX) and key.upper() != ENV_PREFIX + "CONFIG":
            field = key[len(ENV_PREFIX):].lower()
            if field not in Settings.model_fields:
                problems.append(
                    f"{key.upper()}: unknown setting; known: "
                    + ", ".join(ENV_PREFIX + f.upper() for f in Settings.model_fields))
                continue
            values[field] = value
            from_env.add(field)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return values, from_env, problems


def load_settings(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Read the settings once; ``overrides`` win over everything (used by the CLI).  Every
    problem (unknown variables, wrong values) is reported in one ConfigError."""
    settings, problems = check_settings(environ, **overrides)
    if problems or settings is None:
        raise ConfigError(_describe(problems))
    return settings


def check_settings(environ: Mapping[str, str] | None = None, **overrides: Any
                   ) -> tuple[Settings | None, list[str]]:
    """The settings and every problem with them.  Settings with problems are still
    returned when the other values make a valid whole (the wrong ones at their
    defaults), so that ``llmpulse config`` can check the files they name too."""
    values, from_env, problems = _gather(environ, overrides)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems.extend(_describe_lines(exc, from_env))
        wrong = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        defaults = {k: Settings.model_fields[k].get_default(call_default_factory=True)
                    for k in wrong if k in Settings.model_fields}
        try:  # the defaults given explicitly: pydantic-settings would read the environment
            settings = Settings.model_validate({**values, **defaults}, context={"lenient": True})
        except ValidationError:
            settings = None
    return settings, problems


def redacted_url(url: str) -> str:
    """``url`` without the password of its user part (for logs and ``llmpulse config``)."""
    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)


def read_secret_file(path: Path, setting: str) -> str:
    """The text of a secret file a setting names (a mounted Secret), read when it is used;
    ConfigError naming the setting when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
