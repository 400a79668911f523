"""Crash and fault injection: kills, network faults, concurrent runs, a ledger that goes away."""
