"""Data governance: retention TTLs, erasure of a request, user or tenant, the audit log."""
