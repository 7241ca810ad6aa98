"""The sandbox's own knobs (token lifetime, retry speed), read from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from receivers.errors import ConfigurationError

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
    lifetime = SandboxConfig.token_lifetime
    raw = env.get("SANDBOX_TOKEN_LIFETIME", "").strip()
    if raw:
        if raw.isdigit() and int(raw) > 0:
            lifetime = int(raw)
        else:
            problems.append(f"SANDBOX_TOKEN_LIFETIME must be a number of seconds > 0, got {raw!r}")
    scale = DEFAULT_RETRY_SCALE
    raw = env.get("SANDBOX_RETRY_SCALE", "").strip()
    if raw:
        try:
            scale = float(raw)
        except ValueError:
            scale = -1.0
        if not 0 < scale <= 1:
            problems.append(
                f"SANDBOX_RETRY_SCALE must be a factor > 0 and <= 1 "
                f"(1 = Sendcloud's real retry schedule), got {raw!r}"
            )
    if problems:
        raise ConfigurationError(problems)
    return SandboxConfig(token_lifetime=lifetime, retry_scale=scale)
