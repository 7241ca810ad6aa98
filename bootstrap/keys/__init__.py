"""Sendcloud keys entered on the onboarding page: stored encrypted, combined with the env."""
