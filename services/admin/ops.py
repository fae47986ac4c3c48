"""What ``jamjet-admin`` does: keys for the service users, tenants' accounts, the server's reload,
the streams."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from jamjet_common import subjects
from jamjet_common.config import Env
from jamjet_common.errors import ConflictError, NotFoundError
from services.admin.accounts import ACTIVE, SUSPENDED, AuthDir, account_name
from services.admin.permissions import SERVICE_USERS

RELOADS = 2
RELOAD_INTERVAL_SECS = 0.5


def auth_init(auth: AuthDir) -> list[str]:
    """Give every service user a key (existing ones are kept); return the users that got one."""
    state = auth.load()
    created = [name for name in SERVICE_USERS if name not in state.users]
    for name in created:
        state.users[name] = auth.new_key(name)
    auth.save(state)
    return created


def tenant_add(auth: AuthDir, tenant: str) -> Path:
    """Create (or re-activate, with a new key) ``tenant``'s account; return its client's seed file."""
    subjects.check_token(tenant, "tenant")
    state = auth.load()
    if state.tenants.get(tenant, {}).get("status") == ACTIVE:
        raise ConflictError(f"tenant {tenant!r} already exists", code="tenant_exists")
    state.tenants[tenant] = {"key": auth.new_key(account_name(tenant)), "status": ACTIVE}
    auth.save(state)
    return auth.tenant_seed_file(tenant)


def tenant_suspend(auth: AuthDir, tenant: str) -> None:
    """Its users are removed: after the reload its clients are disconnected and cannot connect."""
    state = auth.load()
    _known(state.tenants, tenant)["status"] = SUSPENDED
    auth.save(state)


def tenant_remove(auth: AuthDir, tenant: str) -> None:
    state = auth.load()
    _known(state.tenants, tenant)
    del state.tenants[tenant]
    auth.save(state)
    auth.tenant_seed_file(tenant).unlink(missing_ok=True)


def _known(tenants: dict[str, dict[str, str]], tenant: str) -> dict[str, str]:
    if tenant not in tenants:
        raise NotFoundError(f"no tenant {tenant!r}", code="unknown_tenant")
    return tenants[tenant]


def reload_server(pid_file: str) -> int:
    """SIGHUP the server whose pid is in ``pid_file`` (``nats-server --signal reload`` does the same).

    Twice: nats-server (2.15) wires a new account's service imports only on the reload after the one
    that created the account (tests/security/test_admin.py shows it).
    """
    pid = int(Path(pid_file).read_text().strip())
    for attempt in range(RELOADS):
        if attempt:
            time.sleep(RELOAD_INTERVAL_SECS)
        os.kill(pid, signal.SIGHUP)
    return pid


async def init_streams(env: Env) -> None:
    """Create or update every stream and bucket with the operator's credentials (NATS_*)."""
    from jamjet_common.bus import connect
    from jamjet_common.config import CommonConfig
    from jamjet_common.partitions import ensure_partitioned
    from jamjet_common.streams import StreamLimits, ensure_streams
    from services.scheduler.config import SchedulerConfig

    common = CommonConfig.from_env(env, "admin")
    scheduler = SchedulerConfig.from_env(env)
    nc = await connect(common.nats_url, "jamjet-admin", options=common.nats_options)
    try:
        js, limits = nc.jetstream(timeout=10), StreamLimits.from_env(env)
        await ensure_streams(js, limits)
        await ensure_partitioned(js, limits, scheduler.partitions, scheduler.lease_secs)
    finally:
        await nc.close()
