"""Notification channels as written in a rules file under ``channels: {name: {...}}``.

Each entry is tagged by ``type``::

    channels:
      oncall-slack: {type: slack, url: "https://hooks.slack.com/services/..."}
      pager: {type: pagerduty, routing_key_env: PD_ROUTING_KEY}
      audit: {type: webhook, url: "https://example.internal/hook", secret_env: HOOK_SECRET}

Secrets may be written inline or, better, named by an environment variable
(``*_env``); exactly one of the two is required. They are resolved against an
env mapping passed in, so tests and the worker decide where the values come from.
``retries`` counts the attempts after the first one (``retries: 0`` sends once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from llmpulse.errors import ConfigError

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


HttpUrlStr = Annotated[str, AfterValidator(_check_url)]
EnvName = Annotated[str, Field(min_length=1)]


def _one_of(inline: str | None, env_name: str | None, what: str) -> None:
    if (inline is None) == (env_name is None):
        raise ValueError(f"give exactly one of {what} and {what}_env")


def _from_env(inline: str | None, env_name: str | None, what: str,
              env: Mapping[str, str]) -> str:
    if inline is not None:
        return inline
    assert env_name is not None  # the model validator guarantees one of the two
    value = env.get(env_name)
    if not value:
        raise ConfigError(f"{what}: environment variable {env_name} is not set or empty")
    return value


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(5.0, gt=0, description="per attempt, connect to last byte")
    retries: int = Field(5, ge=0, le=20, description="attempts after the first one")


class SlackChannel(_Channel):
    """A Slack incoming webhook; the URL itself is the credential."""

    type: Literal["slack"]
    url: HttpUrlStr = Field(repr=False)


class PagerDutyChannel(_Channel):
    """A PagerDuty service's Events API v2 integration."""

    type: Literal["pagerduty"]
    routing_key: str | None = Field(None, min_length=1, repr=False)
    routing_key_env: EnvName | None = None
    url: HttpUrlStr = PAGERDUTY_EVENTS_URL

    @model_validator(mode="after")
    def _exactly_one_key(self) -> PagerDutyChannel:
        _one_of(self.routing_key, self.routing_key_env, "routing_key")
        return self

    def resolve_routing_key(self, env: Mapping[str, str]) -> str:
        """The routing key, inline or from ``env``; ConfigError naming the variable."""
        return _from_env(self.routing_key, self.routing_key_env, "PagerDuty routing key", env)


class WebhookChannel(_Channel):
    """Any HTTP endpoint; bodies are signed with HMAC-SHA256 (see ``notifiers``)."""

    type: Literal["webhook"]
    url: HttpUrlStr
    secret: str | None = Field(None, min_length=1, repr=False)
    secret_env: EnvName | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one_secret(self) -> WebhookChannel:
        _one_of(self.secret, self.secret_env, "secret")
        return self

    def resolve_secret(self, env: Mapping[str, str]) -> str:
        """The signing secret, inline or from ``env``; ConfigError naming the variable."""
        return _from_env(self.secret, self.secret_env, "webhook secret", env)


ChannelConfig = Annotated[
    SlackChannel | PagerDutyChannel | WebhookChannel, Field(discriminator="type")
]

def resolve_credential(name: str, channel: ChannelConfig, env: Mapping[str, str]
                       ) -> str | None:
    """The channel's routing key or secret (None for Slack); ConfigError names both."""
    try:
        if isinstance(channel, PagerDutyChannel):
            return channel.resolve_routing_key(env)
        if isinstance(channel, WebhookChannel):
            return channel.resolve_secret(env)
    except ConfigError as exc:
        raise ConfigError(f"channel {name!r}: {exc}") from None
    return None


_CHANNELS: TypeAdapter[dict[str, ChannelConfig]] = TypeAdapter(dict[str, ChannelConfig])


def parse_channels(raw: Mapping[str, Any]) -> dict[str, ChannelConfig]:
    """Validate the ``channels:`` mapping of a rules file; ConfigError on any mistake."""
    try:
        return _CHANNELS.validate_python(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"channels.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid channels: {problems}") from None
