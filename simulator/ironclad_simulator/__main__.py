"""`python -m ironclad_simulator --host 127.0.0.1 --port 9000 [--seed-demo N] [--latency-ms X]`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from aiohttp import web

from ironclad_simulator.app import create_app
from ironclad_simulator.generator import SeedOptions, seed_company
from ironclad_simulator.state import SimConfig, SimulatorState

DEMO_COMPANY = "5f0375c4cdc1927a3c5edcd0"
DEMO_CLIENT_ID = "00000000-0000-4000-8000-000000000001"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_USER = "integration@example.com"


def build_state(args: argparse.Namespace) -> SimulatorState:
    config = SimConfig(
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        rate_limits_enabled=not args.no_rate_limits,
        allow_http_targets=args.allow_http_targets,
        webhook_retry_base_seconds=args.webhook_retry_base_seconds,
        token_ttl_seconds=args.token_ttl_seconds,
        retry_after_header=args.retry_after_header,
    )
    state = SimulatorState(config=config)
    if args.seed_demo is not None:
        company = state.create_company(args.demo_company_id, [args.demo_user])
        state.add_app(company, args.demo_client_id, args.demo_client_secret)
        seed_company(
            state,
            company,
            SeedOptions(count=args.seed_demo, seed=args.seed, document_ratio=args.document_ratio),
        )
    return state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ironclad_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--seed-demo",
        type=int,
        default=None,
        metavar="N",
        help="create a demo company with N generated records and a known app",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed for --seed-demo")
    parser.add_argument("--document-ratio", type=float, default=0.3)
    parser.add_argument("--demo-company-id", default=DEMO_COMPANY)
    parser.add_argument("--demo-client-id", default=DEMO_CLIENT_ID)
    parser.add_argument("--demo-client-secret", default=DEMO_CLIENT_SECRET)
    parser.add_argument("--demo-user", default=DEMO_USER)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--latency-jitter-ms", type=float, default=0.0)
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--retry-after-header", action="store_true")
    parser.add_argument("--allow-http-targets", action="store_true")
    parser.add_argument("--webhook-retry-base-seconds", type=float, default=60.0)
    parser.add_argument("--token-ttl-seconds", type=int, default=3600)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    state = build_state(args)
    if args.seed_demo is not None:
        print(
            json.dumps(
                {
                    "base_url": f"http://{args.host}:{args.port}",
                    "company_id": args.demo_company_id,
                    "client_id": args.demo_client_id,
                    "client_secret": args.demo_client_secret,
                    "user_email": args.demo_user,
                    "records": args.seed_demo,
                }
            ),
            flush=True,
        )
    web.run_app(create_app(state), host=args.host, port=args.port, print=lambda m: print(m, file=sys.stderr))


if __name__ == "__main__":
    main()
