"""CLI sub-commands of gridlab.fakex: `gridlab fake-exchange`."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]

_SOURCES = ("trades", "klines", "synthetic", "none")
_MARGINS = ("off", "isolated", "cross")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the gridlab CLI."""

    @app.command("fake-exchange")
    def fake_exchange_cmd(
        port: int = typer.Option(8765, "--port", min=1, max=65535),
        host: str = typer.Option("127.0.0.1", "--host", help="keep it on loopback"),
        symbol: list[str] = typer.Option(["BTCUSDT"], "--symbol", help="repeat for several"),
        category: str = typer.Option("linear", "--category"),
        db: Path = typer.Option(None, "--db", help="DuckDB store to replay from"),
        source: str = typer.Option("synthetic", "--source",
                                   help="trades | klines (from --db) | synthetic | none"),
        interval: str = typer.Option("1", "--interval", help="kline interval for --source klines"),
        start: str = typer.Option(None, "--start", help="epoch ms or ISO date"),
        end: str = typer.Option(None, "--end", help="epoch ms or ISO date (exclusive)"),
        days: float = typer.Option(1.0, "--days", help="synthetic: days of market"),
        seed: int = typer.Option(0, "--seed"),
        price: float = typer.Option(60_000.0, "--price", help="starting price"),
        speed: float = typer.Option(1.0, "--speed", help="x real time; 0 = as fast as possible"),
        state: Path = typer.Option(Path("data/fakex-state.json"), "--state",
                                   help="state file (kept across restarts)"),
        fresh: bool = typer.Option(False, "--fresh", help="ignore a saved state"),
        balance: float = typer.Option(100_000.0, "--balance", help="USDT of the test account"),
        margin: str = typer.Option("off", "--margin",
                                   help="off | isolated | cross: liquidate positions whose "
                                        "liquidation price the mark reaches"),
    ) -> None:
        """Run the local Bybit-v5-compatible exchange (REST + WebSocket) until Ctrl-C."""
        from gridlab.data.ingest_rest import parse_time
        from gridlab.fakex.handle import run_local_exchange

        if source not in _SOURCES:
            raise typer.BadParameter(f"{source!r} is not one of {', '.join(_SOURCES)}",
                                     param_hint="--source")
        if margin not in _MARGINS:
            raise typer.BadParameter(f"{margin!r} is not one of {', '.join(_MARGINS)}",
                                     param_hint="--margin")
        if source in ("trades", "klines") and db is None:
            raise typer.BadParameter(f"--source {source} replays a store: add --db FILE "
                                     "(or use --source synthetic)", param_hint="--source")

        run_local_exchange(host=host, port=port, symbols=symbol, category=category, db=db,
                           source=source, interval=interval, start_ms=parse_time(start),
                           end_ms=parse_time(end), days=days, seed=seed, price=price,
                           speed=speed or None, state_path=state, fresh=fresh,
                           balance=balance, echo=typer.echo, margin=margin)
