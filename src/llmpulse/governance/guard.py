"""Keep erased subjects erased: rows written after an erasure are checked against it.

A worker may hold data of an erased request in memory (a half waiting in its join, a
batch being stored) or receive it later (a late response, feedback).  The store's writes
pass through an :class:`ErasureGuard`, which reads the ``erasures`` table at most every
:data:`REFRESH_S` seconds and drops matching rows: a request id for good, a user hash
or a tenant for rows dated up to the erasure (later calls are new data).

Feedback may name only its call's request id, not the tenant, and the call it would be
joined to is gone.  So a tenant's erasure also records the request ids of the tenant's
calls (kind :data:`TENANT_CALL`); a tenant may have millions of them, so they are never
read whole: while a tenant erasure is kept, the guard looks up the request ids of the rows
being written (:meth:`ErasureGuard.tenant_calls`, a primary-key lookup).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

#: How stale a guard's view of the erasures may be; `llmpulse erase` waits this long (and
#: a second) between recording an erasure and deleting, so no worker writes after it.
REFRESH_S = 5.0
KINDS = ("request_id", "user_hash", "tenant")
#: ``erasures`` rows naming (``value``) a request id of an erased tenant's call.
TENANT_CALL = "tenant_call"

#: ``query(sql)`` or ``query(sql, parameters)``: the rows.
Query = Callable[..., list[tuple[Any, ...]]]


@dataclass
class Erased:
    """The erased subjects: request ids, and when each user hash and tenant was erased."""

    request_ids: set[str] = field(default_factory=set)
    users: dict[str, datetime] = field(default_factory=dict)
    tenants: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Sequence[tuple[Any, ...]]) -> Erased:
        erased = cls()
        for kind, value, at in rows:
            when = at if at.tzinfo else at.replace(tzinfo=UTC)
            if kind == "request_id":
                erased.request_ids.add(str(value))
            elif kind == "user_hash":
                erased.users[str(value)] = when
            elif kind == "tenant":
                erased.tenants[str(value)] = when
        return erased

    def __bool__(self) -> bool:
        return bool(self.request_ids or self.users or self.tenants)

    def drops(self, request_id: str, when: datetime, user_hash: str | None = None,
              tenant: str | None = None) -> bool:
        """Whether a row of this request, user and tenant dated ``when`` is erased."""
        if request_id and request_id in self.request_ids:
            return True
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if user_hash and user_hash in self.users and when <= self.users[user_hash]:
            return True
        return bool(tenant is not None and tenant in self.tenants
                    and when <= self.tenants[tenant])


class ErasureGuard:
    """The erasures as last read (at most :data:`REFRESH_S` old when asked)."""

    def __init__(self, query: Query, clock: Callable[[], float] = time.monotonic,
                 refresh_s: float = REFRESH_S) -> None:
        self._query = query
        self._clock = clock
        self._refresh_s = refresh_s
        self._erased = Erased()
        self._read_at: float | None = None

    def current(self) -> Erased:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh_s:
            try:
                self._erased = Erased.of(self._query(
                    "SELECT kind, value, max(erased_at) FROM erasures "
                    f"WHERE kind != '{TENANT_CALL}' GROUP BY kind, value"))
            except Exception as exc:  # a store without the table yet: nothing erased
                if "erasures" not in str(exc):
                    raise
                log.debug("no erasures table: %s", exc)
            self._read_at = now
        return self._erased

    def tenant_calls(self, request_ids: Iterable[str]) -> set[str]:
        """Which of ``request_ids`` are calls of an erased tenant (asked of the store only
        while a tenant erasure is kept, and only for ids not dropped already)."""
        erased = self.current()
        if not erased.tenants:
            return set()
        ids = sorted({r for r in request_ids if r} - erased.request_ids)
        if not ids:
            return set()
        rows = self._query(
            f"SELECT DISTINCT value FROM erasures WHERE kind = '{TENANT_CALL}' "
            "AND value IN {ids:Array(String)}", {"ids": ids})
        return {str(r[0]) for r in rows}
