"""`make smoke-testnet`: check API keys and the adapter against Bybit testnet or demo in a minute.

Places one PostOnly buy far below the market (20 % under the best bid, the minimum size), reads
it back, cancels it, reads it back again, reads the account (balances, positions, fee rates)
and prints what it found. Needs GRIDLAB_BYBIT_API_KEY / GRIDLAB_BYBIT_API_SECRET (environment
or .env; never printed); refuses without them, and refuses mainnet. Never run in CI: it talks
to Bybit. `--env local --endpoint URL` points it at the local exchange (the tests do).

    python -m gridlab.bybit.smoke [--env testnet|demo] [--symbol BTCUSDT] [--category linear]

Exit codes: 0 all steps passed, 1 a step failed (the order is cancelled if it was placed),
2 usage (no keys, mainnet, bad arguments).
"""

from __future__ import annotations

import argparse
import math
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from gridlab.bybit.client import BybitClient
from gridlab.bybit.credentials import ENV_KEY, ENV_SECRET, load_credentials
from gridlab.bybit.parse import BUY
from gridlab.bybit.transport import ceil_step, floor_step
from gridlab.config.exchange import ExchangeConfig
from gridlab.errors import GridlabError

__all__ = ["FAR_BELOW", "main", "smoke"]

FAR_BELOW = 0.8
"""The order's price as a fraction of the best bid: far enough never to fill in a minute."""


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def smoke(client: BybitClient, symbol: str, out: Callable[[str], None]) -> None:
    """The steps; raises on the first failure (after cancelling a placed order)."""
    out(f"exchange   {client!r}")
    out(f"time       {_utc(client.get_server_time())}")
    inst = client.get_instrument(symbol)
    out(f"instrument {symbol}: status {inst.status}, tick {inst.tick_size:g}, "
        f"qty step {inst.qty_step:g}, min qty {inst.min_qty:g}, "
        f"min notional {inst.min_notional:g}")
    t = client.get_ticker(symbol)
    bid = t.bid if t.bid > 0 else t.last_price
    out(f"ticker     last {t.last_price:g}, bid {t.bid:g}, ask {t.ask:g}")
    price = max(inst.tick_size, floor_step(bid * FAR_BELOW, inst.tick_size))
    qty = max(inst.min_qty, ceil_step(max(inst.min_notional, 1.0) * 1.1 / price,
                                      inst.qty_step or inst.min_qty))
    link = f"glsmoke-{uuid.uuid4().hex[:20]}"
    ack = client.place_order(symbol, BUY, qty, price, "Limit", "PostOnly", link)
    try:
        out(f"placed     PostOnly buy {qty:g} @ {price:g} ({(1 - price / bid):.0%} below the "
            f"bid): orderId {ack.order_id}, orderLinkId {link}")
        found = client.find_order(symbol, link)
        if found is None:
            raise GridlabError(f"the order {link} was accepted but cannot be read back",
                               "check the key's read permission and the category")
        out(f"read back  status {found.status}, price {found.price:g}, qty {found.qty:g}")
    finally:
        cancelled = client.cancel_order(symbol, order_link_id=link, missing_ok=True)
    gone = client.find_order(symbol, link)
    out(f"cancelled  {'yes' if cancelled else 'it was already gone'}; now "
        f"{gone.status if gone else 'not returned'}")
    w = client.get_wallet_balance()
    out(f"account    equity {w.total_equity:,.2f}, available {w.total_available_balance:,.2f} "
        "(USD)")
    for coin, bal in sorted(w.coins.items()):
        if bal.equity:
            out(f"  {coin:<8} equity {bal.equity:g}")
    if client.category == "linear":
        for p in client.get_positions(symbol):
            lev = "?" if not p.leverage or math.isnan(p.leverage) else f"{p.leverage:g}"
            out(f"position   {p.symbol}: size {p.size:g}, leverage {lev}")
    fees = client.get_fee_rates(symbol)
    out(f"fees       maker {fees.maker:.4%}, taker {fees.taker:.4%}")


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """The command; returns the exit code."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    ap = argparse.ArgumentParser(prog="gridlab-smoke", description=__doc__.split("\n")[0])
    ap.add_argument("--env", default="testnet", choices=("testnet", "demo", "mainnet", "local"))
    ap.add_argument("--symbol", default="BTCUSDT")
    ap.add_argument("--category", default="linear", choices=("linear", "spot"))
    ap.add_argument("--endpoint", default=None, help="REST base URL (the local exchange)")
    ap.add_argument("--env-file", default=".env")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if args.env == "mainnet":
        print("smoke-testnet refuses mainnet: it places a real order. Use --env testnet or "
              "--env demo (and that env's keys).", file=stderr)
        return 2
    if args.env == "local" and not args.endpoint:
        print("--env local needs --endpoint http://127.0.0.1:PORT", file=stderr)
        return 2
    try:
        creds = load_credentials(args.env_file)
    except GridlabError as exc:
        print(f"smoke-testnet: {exc}", file=stderr)
        return 2
    if creds is None:
        print(f"smoke-testnet needs API keys of Bybit {args.env}: set {ENV_KEY} and "
              f"{ENV_SECRET} in the environment or in {args.env_file}. Nothing was sent.",
              file=stderr)
        return 2
    config = ExchangeConfig(env=args.env, endpoint=args.endpoint)

    def out(line: str) -> None:
        print(line, file=stdout, flush=True)

    try:
        with BybitClient(config, creds, args.category) as client:
            smoke(client, args.symbol, out)
    except GridlabError as exc:
        print(f"smoke-testnet FAILED: {exc}", file=stderr)
        return 1
    out("smoke-testnet OK: keys, order entry, read-back, cancel and account reads work")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
