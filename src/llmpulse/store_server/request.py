"""An HTTP request to the ClickHouse interface, read into one statement and its data."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from llmpulse.store_server.encoding import decode_content, unframe_blocks
from llmpulse.store_server.errors import ServerError
from llmpulse.store_server.statement import expects_data, split_insert

SYNTAX_ERROR = 62
NOT_IMPLEMENTED = 48
#: URL parameters of the HTTP interface that are not query settings.  Those the engine
#: cannot honour (sessions, progress headers, response compression) are accepted and
#: ignored: each request runs on its own, and responses are sent whole.
TRANSPORT_PARAMS = frozenset({
    "query", "database", "default_format", "query_id", "session_id", "session_timeout",
    "session_check", "compress", "decompress", "buffer_size", "wait_end_of_query",
    "client_protocol_version", "quota_key", "role", "user", "password",
    "send_progress_in_http_headers", "enable_http_compression", "add_http_cors_header",
    "cancel_http_readonly_queries_on_client_close", "max_query_size_http",
})
PARAM_PREFIX = "param_"


@dataclass(frozen=True)
class StoreRequest:
    """One statement to run: its text, insert data (``None`` when none), bind parameters
    (without the ``param_`` prefix) and settings."""

    query: str
    data: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    query_id: str = ""
    default_format: str = "TabSeparated"


def read_request(query_string: str, headers: Mapping[str, str], body: bytes) -> StoreRequest:
    """The statement of a GET/POST to ``/``: from the ``query`` parameter (or form field)
    and the body, the way ClickHouse's HTTP handler combines them."""
    fields = dict(parse_qsl(query_string, keep_blank_values=True))
    content_type = headers.get("Content-Type", "")
    if content_type.lower().startswith("multipart/form-data"):
        fields.update(_form_fields(content_type, body))
        body = b""
    else:
        body = decode_content(body, headers.get("Content-Encoding"))
        if fields.get("decompress") in ("1", "true") and body:
            body = unframe_blocks(body)
    if fields.get("compress") in ("1", "true"):
        raise ServerError(NOT_IMPLEMENTED, "compress=1 (compressed response blocks) is not "
                                           "supported by this server; use HTTP compression")
    query, data = _statement(fields.get("query", ""), body)
    if not query.strip():
        raise ServerError(SYNTAX_ERROR, "Empty query")
    return StoreRequest(
        query=query, data=data,
        params={k.removeprefix(PARAM_PREFIX): v for k, v in fields.items()
                if k.startswith(PARAM_PREFIX)},
        settings={k: v for k, v in fields.items() if is_setting(k)},
        database=fields.get("database") or None,
        query_id=fields.get("query_id") or str(uuid.uuid4()),
        default_format=fields.get("default_format") or "TabSeparated")


def is_setting(name: str) -> bool:
    """Whether a URL parameter is a query setting to pass to the engine."""
    return not (name in TRANSPORT_PARAMS or name.startswith((PARAM_PREFIX, "http_")))


def _statement(query: str, body: bytes) -> tuple[str, bytes | None]:
    if query:
        if not body:
            return query, None
        if expects_data(query):
            return query, body
        return f"{query}\n{body.decode('utf-8')}", None
    split = split_insert(body)
    if split is not None:
        return split
    return body.decode("utf-8"), None


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body (query and bind parameters);
    external data tables (file fields) are not supported."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            raise ServerError(NOT_IMPLEMENTED, f"external data ({name}) is not supported "
                                               "by this server")
        payload = part.get_payload(decode=True)
        if name and isinstance(payload, bytes):
            fields[str(name)] = payload.decode("utf-8")
    return fields
