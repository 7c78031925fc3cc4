"""gridlab.bybit: the Bybit v5 adapter (only `client` imports pybit).

Import from the submodules: `gridlab.bybit.client.BybitClient`, `gridlab.bybit.ws.BybitStream`,
`gridlab.bybit.parse` (gridlab types), `gridlab.bybit.errors`, `gridlab.bybit.credentials`.
This package module stays import-light so `gridlab.config` can use `gridlab.bybit.constants`.
"""

__all__: list[str] = []
