"""The sandbox's own knobs (token lifetime, retry speed), read from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from receivers.errors import ConfigurationError
from receivers.settings import decimal_number, whole_number

# Sendcloud retries after 5 minutes first; 1/300 makes that one second in the sandbox.
DEFAULT_RETRY_SCALE = 1 / 300


@dataclass(frozen=True)
class SandboxConfig:
    """How the emulated Sendcloud behaves where real Sendcloud would be too slow to test."""

    token_lifetime: int = 3600  # seconds, Sendcloud's 1 hour
    retry_scale: float = DEFAULT_RETRY_SCALE  # 1.0 = Sendcloud's real retry schedule


def load_sandbox_config(env: Mapping[str, str]) -> SandboxConfig:
    """Read SANDBOX_TOKEN_LIFETIME and SANDBOX_RETRY_SCALE; raise ConfigurationError if bad."""
    problems: list[str] = []
    lifetime = whole_number(
        env,
        "SANDBOX_TOKEN_LIFETIME",
        SandboxConfig.token_lifetime,
        problems,
        what="a number of seconds > 0",
        valid=lambda n: n > 0,
    )
    scale = decimal_number(
        env,
        "SANDBOX_RETRY_SCALE",
        DEFAULT_RETRY_SCALE,
        problems,
        what="a factor > 0 and <= 1 (1 = Sendcloud's real retry schedule)",
        valid=lambda f: 0 < f <= 1,
    )
    if problems:
        raise ConfigurationError(problems)
    return SandboxConfig(token_lifetime=lifetime, retry_scale=scale)
