"""gridlab.fakex: a local Bybit-v5-compatible exchange for tests, demos and dry runs.

`handle.FakeExchange` (server in a thread), `server.create_app` (REST + WebSocket + /admin),
`engine.Engine` (matching, accounts, positions, fees, funding), `market.MarketDriver` (replay),
`faults.Faults` (fault injection), `auth` (Bybit's HMAC checks); CLI `gridlab fake-exchange`.
"""

__all__: list[str] = []
