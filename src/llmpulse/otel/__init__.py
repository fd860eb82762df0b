"""OpenTelemetry GenAI ingest: OTLP trace batches in, inference events out.

:mod:`~llmpulse.otel.decode` reads an ``ExportTraceServiceRequest`` (protobuf or OTLP
JSON), :mod:`~llmpulse.otel.mapping` turns each GenAI span into an ``InferenceEvent``,
:mod:`~llmpulse.otel.translate` does a whole batch (what the worker's translator agent
produces), and :mod:`~llmpulse.otel.receiver` serves OTLP/HTTP (``llmpulse otlp``).
"""
