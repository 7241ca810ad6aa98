"""Reconciling parcel states from Sendcloud's parcels list, so lost webhooks are caught up."""
