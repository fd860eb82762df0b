"""Helpers the tests use to run brokers and pick ports."""
