"""The voluntary pre-release review programme: sealed benchmark and determinations, review windows,
the model gateway and trusted partners (DESIGN.md §3)."""
