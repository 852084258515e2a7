"""Benchmarks: speed (speed.py) and quality (fidelity.py, tasks/) per quant, with reports."""
