"""Release comparison: a candidate (prompt version, model version or model) against its
baseline over the same period, signal by signal, with always-valid statistics so a canary
may be checked again and again as its calls arrive.

Pure (no I/O): :mod:`.signals` says what is compared, :mod:`.sequential` holds the
statistics, :mod:`.compare` gives the verdicts; :mod:`.from_file` and :mod:`.from_store`
read the observations from a JSONL file or from the store.

Live canaries: :mod:`.canary` decides which values a canary compares and when it ends
(pure), :mod:`.verdict` is what it publishes on ``llm.releases``, and
:mod:`.canary_desk` runs them in the worker (store reads, publication, the rollback
webhook).
"""
