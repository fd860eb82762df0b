"""Release comparison: a candidate (prompt version, model version or model) against its
baseline over the same period, signal by signal, with always-valid statistics so a canary
may be checked again and again as its calls arrive.

Pure (no I/O): :mod:`.signals` says what is compared, :mod:`.sequential` holds the
statistics, :mod:`.compare` gives the verdicts; :mod:`.sources` reads the observations from
a JSONL file or from the store.
"""
