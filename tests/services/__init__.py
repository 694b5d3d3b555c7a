"""Fixtures that start and hand out real services for tests."""
