"""Benchmarks for stockbridge: ``python -m bench`` (``--quick`` for a smoke run, ``--case``).

Each case generates its data deterministically (fixed seed, numpy) into a temporary folder,
then a worker process runs the InterStock flow in-process: one warm-up run with an empty
import folder, timed runs with an empty import folder, and one timed run with the data. The
figure reported is the marginal cost of the work, ``data run - empty run``, so interpreter
and Prefect start-up are excluded. Beside it, a plain-Python reference (csv module, one
UPDATE and one audit INSERT per line in SQLite, one transaction per file, csv writer for
the export) does the same work and is timed the same way.

Results are printed and written to ``bench/results/<timestamp>.json`` and ``latest.json``.
"""
