"""Microinvest Warehouse Pro and a Seliton e-shop (MISSION system 4).

Each run: the shop's new orders into Warehouse Pro, each once and with its УНП on both
sides; reservations of orders Warehouse Pro sold or cancelled released; goods created on the
shop downloaded (when enabled); the chosen groups' changed goods sent to the shop with their
available quantities (when enabled).
"""

from __future__ import annotations

from prefect import flow

from stockbridge.context import RunContext
from stockbridge.integrations.seliton.config import check_secret_is_a_reference
from stockbridge.integrations.seliton.steps import open_session, run_steps
from stockbridge.run import run_store


@flow(name="seliton", log_prints=False, validate_parameters=True)
def seliton(config_path: str):
    """One sync of one Seliton store, described by the YAML file at ``config_path``."""
    return run_store(config_path, "seliton", lambda ctx: sync(ctx, config_path))


def sync(ctx: RunContext, config_path: str) -> None:
    check_secret_is_a_reference(config_path)
    session = open_session(ctx)
    try:
        run_steps(ctx, session)
    finally:
        session.close()
