"""Console scripts: each module parses its options and wires library calls (``pyproject.toml`` names them)."""
