"""Trusted-partner governance: registry, access requests, panels, ballots, appeals, statistics."""
