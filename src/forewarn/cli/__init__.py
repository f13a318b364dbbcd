"""The ``forewarn`` command line (Typer)."""
