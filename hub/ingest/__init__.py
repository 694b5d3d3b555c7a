"""The ingest pipeline: deliveries → decode → counters → store + immediate rules → durable → acknowledged."""

from hub.ingest.pipeline import Pipeline

__all__ = ["Pipeline"]
