"""The `keras-music` command line: `tag`, `embed`, `evaluate`, `export`."""
