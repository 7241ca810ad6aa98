"""Reconciling parcel states from Sendcloud's parcels list, so lost webhooks are caught up."""

from bootstrap.reconcile.cli import reconcile_command, reconciler
from bootstrap.reconcile.reconciler import Reconciler, RunResult

__all__ = ["Reconciler", "RunResult", "reconcile_command", "reconciler"]
