"""gridlab.bybit: the Bybit v5 adapter (only `client` imports pybit).

Import from the submodules: `gridlab.bybit.client.BybitClient`, `gridlab.bybit.ws.BybitStream`,
`gridlab.bybit.parse` (gridlab types), `gridlab.bybit.errors`, `gridlab.bybit.credentials`.
Imports go one way: gridlab.bybit uses gridlab.config (never the reverse).
"""

__all__: list[str] = []
