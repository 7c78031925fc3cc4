"""gridlab.fakex: a local Bybit-v5-compatible exchange for tests, demos and dry runs.

`handle.FakeExchange` (server in a thread), `server.create_app` (REST + /admin), `ws` (WebSocket
hub and topics), `ratelimit` (rolling per-UID windows and X-Bapi-Limit* headers), `engine.Engine`
(matching, accounts, positions, fees, funding, streams) with `orders` (create/amend/cancel and
their batch forms), `queries` (orders, history, executions, positions, wallet), `marketdata`
and `liquidation` (liqPrice / bustPrice from the backtest's margin kernels, liquidations),
`rules` (Bybit's retention windows and limits, configurable), `market.MarketDriver` (replay),
`faults.Faults` (fault injection), `auth` (Bybit's HMAC checks); CLI `gridlab fake-exchange`.
"""

__all__: list[str] = []
