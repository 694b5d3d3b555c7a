"""The HTTP layer: API, ingest endpoint, health, metrics and the demo page. It only calls inwards."""
