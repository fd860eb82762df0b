"""ClickHouse's HTTP interface served over the embedded engine (chdb).

chdb admits one process per store path.  ``llmpulse store serve`` opens the path once and
serves it on loopback the way a ClickHouse server does, so several processes (workers,
``llmpulse sql``, the alert and retrain commands) share one embedded store through the
same client code they use for a real server.
"""

from llmpulse.store_server.http import StoreServer

__all__ = ["StoreServer"]
