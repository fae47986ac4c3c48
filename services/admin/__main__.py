"""``jamjet-admin``: NATS accounts and streams of a multi-tenant deployment (docs/security.md).

    jamjet-admin auth init                 keys for the service users, accounts.conf
    jamjet-admin tenant add|suspend|remove <tenant> [--reload]
    jamjet-admin init                      create or update the streams (operator credentials)

The auth directory is ``--dir`` or ``JAMJET_AUTH_DIR``; ``--reload`` signals the server whose pid is in
``--pid-file`` or ``JAMJET_NATS_PID_FILE`` (the services keep running).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from jamjet_common.config import Env
from jamjet_common.errors import JamjetError
from services.admin import ops
from services.admin.accounts import AuthDir


def _parser(env: Env) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jamjet-admin", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=env.text("JAMJET_AUTH_DIR", ""), help="auth directory")
    parser.add_argument("--pid-file", default=env.text("JAMJET_NATS_PID_FILE", ""))
    parser.add_argument("--reload", action="store_true", help="reload the server after the change")
    sub = parser.add_subparsers(dest="area", required=True)
    auth = sub.add_parser("auth")
    auth.add_argument("action", choices=["init"])
    tenant = sub.add_parser("tenant")
    tenant.add_argument("action", choices=["add", "suspend", "remove"])
    tenant.add_argument("tenant")
    sub.add_parser("init", help="create or update the streams")
    return parser


def run(argv: list[str], env: Env) -> str:
    args = _parser(env).parse_args(argv)
    if args.area == "init":
        asyncio.run(ops.init_streams(env))
        return "streams ready"
    if not args.dir:
        raise SystemExit("jamjet-admin: set --dir or JAMJET_AUTH_DIR")
    auth = AuthDir(args.dir)
    done = _change(auth, args)
    if args.reload:
        if not args.pid_file:
            raise SystemExit("jamjet-admin: --reload needs --pid-file or JAMJET_NATS_PID_FILE")
        done += f"; reloaded nats-server pid {ops.reload_server(args.pid_file)}"
    return done


def _change(auth: AuthDir, args: argparse.Namespace) -> str:
    if args.area == "auth":
        return f"service users with new keys: {', '.join(ops.auth_init(auth)) or 'none'}"
    if args.action == "add":
        return f"tenant {args.tenant} added; its clients use the seed {ops.tenant_add(auth, args.tenant)}"
    if args.action == "suspend":
        ops.tenant_suspend(auth, args.tenant)
    else:
        ops.tenant_remove(auth, args.tenant)
    return f"tenant {args.tenant}: {args.action}d"


def main() -> None:
    try:
        print(run(sys.argv[1:], Env()))
    except JamjetError as exc:
        print(f"jamjet-admin: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
