"""Organisations, people, roles, API tokens, web sessions, and the access policy."""
