"""Benchmarks and the results table, run from the repository root as modules.

    python -m bench.bench     speed and memory, each figure a ratio against a baseline run alongside
    python -m bench.levers    training speed of the levers a Keras user would try
    python -m bench.grids     the results table: every grid, the default network and the original U-Net
"""
