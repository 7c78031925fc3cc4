"""gridlab.research: plots, walk-forward validation, parameter stability, Optuna search, Dask
sweeps and papermill reports. Import the submodules (`plots`, `walkforward`, `stability`,
`optimize`, `distributed`, `report`, `workflow`); nothing heavy is imported here."""

__all__: list[str] = []
