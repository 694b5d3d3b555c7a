"""Deployment: broker credentials and ACLs, configuration generation, backups."""
