"""Alerting: the per-(rule, group) state machine; rules, windows and notifiers plug in here."""
