"""Retraining triggers: policies in the rules file, published on llm.retrain."""
