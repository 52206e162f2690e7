"""Qt-free core: read checkpoints, compute statistics, compare, run. Never imports Qt."""
