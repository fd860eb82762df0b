"""The quality scoring stage: which calls to score, the task and result messages, and
the scorer that runs the model detectors over a batch of tasks."""
