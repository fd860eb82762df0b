"""Model files for the quality scorers: ONNX sessions, loading and export."""
