"""Upload the dashboards through Grafana's HTTP API (``grafana-client``).

Each dashboard goes to ``POST /api/dashboards/db`` with ``overwrite: true``, so
pushing again replaces the dashboard with the same uid; the folder is looked up
by title (``GET /api/folders``) and created when missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmpulse.dashboards.model import JSON
from llmpulse.errors import LlmpulseError

Credential = str | tuple[str, str] | None
GENERAL = ("", "general")


class GrafanaPushError(LlmpulseError):
    """Grafana could not be reached, refused the credentials, or rejected a dashboard."""


@dataclass(frozen=True)
class Pushed:
    uid: str
    title: str
    url: str
    version: int


def folder_uid_for(title: str) -> str:
    """A stable folder uid from its title (Grafana: at most 40 of [A-Za-z0-9_-])."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", title.lower()).strip("-")
    return slug[:40] or "llmpulse"


def push_dashboards(boards: Mapping[str, JSON], url: str, credential: Credential,
                    folder: str, timeout: float = 10.0) -> list[Pushed]:
    """Create ``folder`` if missing and upload every dashboard into it, replacing by uid."""
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException

    api: Any = GrafanaApi.from_url(_normalized(url), credential=credential, timeout=timeout)
    try:
        folder_uid = _ensure_folder(api, folder)
        return [_push_one(api, board, folder_uid) for board in boards.values()]
    except GrafanaClientError as exc:
        raise GrafanaPushError(_refused(url, exc.status_code, exc.message)) from None
    except GrafanaException as exc:
        raise GrafanaPushError(f"Grafana at {url} failed: {exc.message}") from None
    except OSError as exc:  # connection refused, DNS, TLS (the HTTP client's errors)
        raise GrafanaPushError(f"cannot reach Grafana at {url}: {exc}") from None


def _refused(url: str, status: int, message: str) -> str:
    if status in (401, 403):
        return (f"Grafana at {url} refused the request ({status} {message}): check --token "
                "or --user/--password, and that the account may edit dashboards and folders")
    return f"Grafana at {url} rejected the request ({status}): {message}"


def _normalized(url: str) -> str:
    """``url`` with a trailing slash on a sub-path (grafana-client appends ``api`` to it)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise GrafanaPushError(f"not a Grafana URL: {url!r} (expected http(s)://host:port)")
    path = parts.path if parts.path in ("", "/") or parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _ensure_folder(api: Any, title: str) -> str | None:
    """The uid of the folder titled ``title``, created if missing (None: General)."""
    if title.strip().lower() in GENERAL:
        return None
    for existing in api.folder.get_all_folders():
        if existing.get("title") == title:
            return str(existing["uid"])
    created = api.folder.create_folder(title, uid=folder_uid_for(title))
    return str(created["uid"])


def _push_one(api: Any, board: JSON, folder_uid: str | None) -> Pushed:
    body: JSON = {"dashboard": {**board, "id": None}, "overwrite": True,
                  "message": "llmpulse dashboards push"}
    if folder_uid is not None:
        body["folderUid"] = folder_uid
    reply = api.dashboard.update_dashboard(body)
    return Pushed(uid=str(reply.get("uid", board["uid"])), title=str(board["title"]),
                  url=str(reply.get("url", "")), version=int(reply.get("version", 0)))
