"""Apache Kafka whose SASL_SSL listener also takes OAUTHBEARER logins, as managed Kafka
with an identity provider does (Confluent Cloud, Aiven, Strimzi with Keycloak).

Tokens are checked by Kafka's own ``OAuthBearerValidatorCallbackHandler``: the
signature against the keys at the provider's JWKS URL, the audience and the issuer.
Kafka 4 fetches only URLs listed in the ``org.apache.kafka.sasl.oauthbearer.allowed.urls``
system property, which the JVM is started with.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.kafka_tls import SecureApacheKafka
from tests.harness.oidc import OidcProvider

_HANDLER = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
_LOGIN = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"


class OAuthApacheKafka(SecureApacheKafka):
    """:class:`SecureApacheKafka` whose SASL_SSL listener adds OAUTHBEARER, validated
    against ``provider`` (started before the broker)."""

    def __init__(self, provider: OidcProvider) -> None:
        super().__init__()
        self.provider = provider

    def _write_config(self, broker_port: int, controller_port: int) -> Path:
        config = super()._write_config(broker_port, controller_port)
        settings = dict(line.split("=", 1) for line in config.read_text().splitlines()
                        if "=" in line)
        mechanisms = settings["listener.name.sasl_ssl.sasl.enabled.mechanisms"] + ",OAUTHBEARER"
        prefix = "listener.name.sasl_ssl.oauthbearer."
        settings.update({
            "sasl.enabled.mechanisms": mechanisms,
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": mechanisms,
            prefix + "sasl.jaas.config": _LOGIN,
            prefix + "sasl.server.callback.handler.class": _HANDLER,
            # as managed Kafka does: a session ends when its token expires (a client
            # re-authenticates, or is disconnected and logs in again with a new token)
            prefix + "connections.max.reauth.ms": "3600000",
            "sasl.oauthbearer.jwks.endpoint.url": self.provider.jwks_url,
            "sasl.oauthbearer.expected.audience": self.provider.audience,
            "sasl.oauthbearer.expected.issuer": self.provider.issuer,
        })
        config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return config

    def _jvm(self, java: str, libs: Path) -> list[str]:
        command = super()._jvm(java, libs)
        allowed = f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={self.provider.jwks_url}"
        return [command[0], allowed, *command[1:]]
