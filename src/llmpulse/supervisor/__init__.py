"""``LLMPULSE_WORKERS=N llmpulse worker``: N worker processes in one consumer group on one
host, and (for the embedded store) the store server they share, supervised by the
process that started them."""

from llmpulse.supervisor.fleet import run_fleet

__all__ = ["run_fleet"]
