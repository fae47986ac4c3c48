"""The policy service's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from jamjet_common.config import CommonConfig, Env
from jamjet_common.streams import StreamLimits


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    common: CommonConfig
    limits: StreamLimits
    cmd_batch: int
    """Tenant commands fetched at once (JAMJET_POLICY_CMD_BATCH)."""
    cmd_ack_wait_secs: float
    """Seconds a fetched command stays hidden from other replicas (JAMJET_POLICY_CMD_ACK_WAIT_SECS)."""

    @classmethod
    def from_env(cls, env: Env) -> PolicyConfig:
        return cls(
            common=CommonConfig.from_env(env, "policy"),
            limits=StreamLimits.from_env(env),
            cmd_batch=env.integer("JAMJET_POLICY_CMD_BATCH", 16, minimum=1),
            cmd_ack_wait_secs=env.number("JAMJET_POLICY_CMD_ACK_WAIT_SECS", 30.0, minimum=1.0),
        )
