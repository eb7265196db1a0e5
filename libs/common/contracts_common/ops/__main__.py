"""Operator CLI: `python -m contracts_common.ops <command>`.

  queues                       depth and consumers of every queue and dead-letter queue
  dlq show QUEUE [--limit N]   the dead-lettered messages of QUEUE (e.g. importer.pages), with their reasons
  dlq replay QUEUE [--limit N] move dead-lettered messages back to QUEUE (confirmed publish, then ack)
  reconcile TENANT             start a reconciliation for a tenant now
  rotate-secrets               re-encrypt every stored client secret under the first key of SECRETS_KEY
  mint-token --tenant T --role admin|viewer [--sub S] [--minutes N] [--keys DIR] [--url BASE]
                               development only: a tenant token signed with DIR/tenant-token-private.pem
                               (an ES256 key pair made there if missing; DIR defaults to .run), and with
                               --url the admin page link /admin/#token=...; the gateway trusts it with
                               TENANT_TOKEN_PUBLIC_KEYS=DIR/tenant-token-public.pem

Reads the same settings as the services (AMQP_URL, MONGODB_URL, QUEUE_PREFIX, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika

from contracts_common.commands import start_reconcile
from contracts_common.messaging import QUEUE_SUFFIXES, Broker, Topology
from contracts_common.settings import SharedSettings
from contracts_common.storage.database import Database
from contracts_common.tenant_tokens import TENANT_PATTERN, generate_key_pair, load_private_key, mint


def _topology(settings: SharedSettings) -> Topology:
    return Topology(settings.queue_prefix, settings.delivery_limit, settings.queue_replicas)


async def queues(settings: SharedSettings) -> list[dict[str, Any]]:
    topology = _topology(settings)
    rows = []
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        for suffix in QUEUE_SUFFIXES:
            for name in (topology.queue(suffix), topology.dead_letter_queue(suffix)):
                queue = await channel.declare_queue(name, passive=True)
                result = queue.declaration_result
                rows.append(
                    {"queue": name, "messages": result.message_count, "consumers": result.consumer_count}
                )
    return rows


async def dlq_show(settings: SharedSettings, suffix: str, limit: int) -> list[dict[str, Any]]:
    """Peek: read up to `limit` dead-lettered messages and put every one back (requeue)."""
    topology = _topology(settings)
    shown: list[dict[str, Any]] = []
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.dead_letter_queue(suffix), passive=True)
        held = []
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            held.append(message)
            headers = dict(message.headers or {})
            shown.append(
                {
                    "message_id": message.message_id,
                    "reason": headers.get("x-error-reason") or headers.get("x-first-death-reason"),
                    "tenant": headers.get("tenant"),
                    "body": message.body.decode(errors="replace")[:2000],
                }
            )
        for message in held:
            await message.nack(requeue=True)
    return shown


async def dlq_replay(settings: SharedSettings, suffix: str, limit: int) -> int:
    """Move dead-lettered messages back to their queue: publish confirmed first, then ack the copy."""
    topology = _topology(settings)
    moved = 0
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange)
        queue = await channel.declare_queue(topology.dead_letter_queue(suffix), passive=True)
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
            headers["replayed"] = True
            await exchange.publish(
                aio_pika.Message(
                    message.body,
                    content_type=message.content_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message.message_id,
                    headers=headers,
                ),
                routing_key=topology.queue(suffix),
                mandatory=True,
            )
            await message.ack()
            moved += 1
    return moved


async def reconcile(settings: SharedSettings, tenant: str) -> dict[str, Any]:
    db = Database.connect(settings.mongodb_url, settings.mongodb_database, service="ops")
    broker = Broker(settings.amqp_url, _topology(settings), prefetch=1, name="ops-cli")
    await broker.connect()
    try:
        run, started = await start_reconcile(db, broker, tenant)
    finally:
        await broker.close()
        await db.close()
    return {"run_id": run["_id"], "started": started, "status": run["status"]}


async def rotate_secrets(settings: SharedSettings) -> dict[str, int]:
    """Re-encrypt the stored client secrets under SECRETS_KEY's first key (the others still decrypt)."""
    from contracts_common.crypto import SecretBox
    from contracts_common.settings import IroncladAccessSettings

    access = IroncladAccessSettings()  # SECRETS_KEY comes from the environment
    box = SecretBox(access.secrets_key.get_secret_value())
    db = Database.connect(settings.mongodb_url, settings.mongodb_database, service="ops")
    rotated = 0
    try:
        async for doc in db.connections.find({"client_secret_encrypted": {"$exists": True}}):
            token = doc["client_secret_encrypted"]
            reencrypted = box.rotate(token)
            result = await db.connections.update_one(
                {"_id": doc["_id"], "client_secret_encrypted": token},
                {"$set": {"client_secret_encrypted": reencrypted}},
            )
            rotated += result.modified_count
    finally:
        await db.close()
    return {"rotated": rotated}


LOCAL_ISSUER = "contracts-ai-local"


def mint_token(
    *, tenant: str, role: str, sub: str, minutes: int, keys: Path, url: str | None
) -> dict[str, Any]:
    """A development tenant token (the issuer and audience from TENANT_TOKEN_ISSUER / _AUDIENCE if set)."""
    private_path, public_path = generate_key_pair(keys)
    issuer = os.environ.get("TENANT_TOKEN_ISSUER") or LOCAL_ISSUER
    audience = os.environ.get("TENANT_TOKEN_AUDIENCE") or "contracts-ai-ironclad"
    if not TENANT_PATTERN.fullmatch(tenant):
        raise SystemExit(f"the tenant id must match {TENANT_PATTERN.pattern}")
    if role not in ("admin", "viewer"):
        raise SystemExit("the role is admin or viewer")
    now = int(time.time())
    token = mint(
        load_private_key(private_path),
        issuer=issuer,
        audience=audience,
        tenant=tenant,
        role=role,  # type: ignore[arg-type]
        sub=sub,
        lifetime_seconds=minutes * 60,
        now=now,
    )
    out: dict[str, Any] = {
        "token": token,
        "tenant": tenant,
        "role": role,
        "sub": sub,
        "issuer": issuer,
        "audience": audience,
        "expires_at": datetime.fromtimestamp(now + minutes * 60, UTC).isoformat(),
        "public_key": str(public_path),
    }
    if url:
        out["admin_url"] = f"{url.rstrip('/')}/admin/#token={token}"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts_common.ops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("queues")
    dlq = sub.add_parser("dlq")
    dlq.add_argument("action", choices=["show", "replay"])
    dlq.add_argument("queue", choices=list(QUEUE_SUFFIXES))
    dlq.add_argument("--limit", type=int, default=20)
    rec = sub.add_parser("reconcile")
    rec.add_argument("tenant")
    sub.add_parser("rotate-secrets")
    minting = sub.add_parser("mint-token")
    minting.add_argument("--tenant", required=True)
    minting.add_argument("--role", choices=["admin", "viewer"], default="admin")
    minting.add_argument("--sub", default="developer@localhost")
    minting.add_argument("--minutes", type=int, choices=range(1, 61), default=60, metavar="1..60")
    minting.add_argument("--keys", type=Path, default=Path(".run"))
    minting.add_argument("--url", default=None, help="the gateway's base URL, to print the admin link")
    args = parser.parse_args(argv)
    if args.command == "mint-token":
        minted = mint_token(
            tenant=args.tenant,
            role=args.role,
            sub=args.sub,
            minutes=args.minutes,
            keys=args.keys,
            url=args.url,
        )
        json.dump(minted, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    settings = SharedSettings()
    result: Any
    if args.command == "queues":
        result = asyncio.run(queues(settings))
    elif args.command == "dlq" and args.action == "show":
        result = asyncio.run(dlq_show(settings, args.queue, args.limit))
    elif args.command == "dlq":
        result = {"replayed": asyncio.run(dlq_replay(settings, args.queue, args.limit))}
    elif args.command == "rotate-secrets":
        result = asyncio.run(rotate_secrets(settings))
    else:
        result = asyncio.run(reconcile(settings, args.tenant))
    json.dump(result, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
