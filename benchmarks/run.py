"""Run the benchmarks: `python -m benchmarks.run [names...]` (names: data, backtest, ...).

Discovers `benchmarks/bench_*.py`, calls each module's `run() -> list[Result]`, prints a table
(figure, target, ratio to target: >= 1 means met) and saves `benchmarks/results/<timestamp>.json`
and `.md`, plus `latest.md` and `latest.json`. A module that fails is reported and the others
still run; the exit code is 1 when a module failed.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import Result

__all__ = ["discover", "format_table", "main", "run_benchmarks"]

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def discover(names: list[str] | None = None) -> list[str]:
    """Module names `bench_*` in benchmarks/, filtered by `names` ('data' or 'bench_data')."""
    found = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if not names:
        return found
    wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in names}
    unknown = wanted - set(found)
    if unknown:
        raise SystemExit(f"unknown benchmark(s) "
                         f"{', '.join(sorted(u.removeprefix('bench_') for u in unknown))}; "
                         f"available: {', '.join(s.removeprefix('bench_') for s in found)}")
    return [f for f in found if f in wanted]


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of result rows (also readable in a terminal)."""
    head = ["bench", "figure", "value", "unit", "target", "ratio", "ok", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['module']} | ERROR | {r['error']} | | | | no | |")
            continue
        sign = "" if r["target"] is None else (">= " if r["higher_is_better"] else "<= ")
        ok = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['module']} | {r['name']} | {_fmt(r['value'])} | {r['unit']} | "
                     f"{sign}{_fmt(r['target'])} | {ratio} | {ok} | {r.get('note', '')} |")
    return "\n".join(lines)


def run_benchmarks(modules: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """Run the modules; returns result rows (dicts) and whether all modules ran."""
    rows: list[dict[str, Any]] = []
    ok = True
    for name in modules:
        short = name.removeprefix("bench_")
        t0 = time.perf_counter()
        print(f"running {short} ...", flush=True)
        try:
            mod = importlib.import_module(f"benchmarks.{name}")
            results: list[Result] = mod.run()
        except Exception as exc:  # one failing bench must not hide the others
            ok = False
            traceback.print_exc()
            rows.append({"module": short, "error": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        for res in results:
            rows.append({"module": short, **res.to_dict()})
        print(f"  {short}: {len(results)} figure(s) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    return rows, ok


def _machine() -> dict[str, Any]:
    load = ([round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None)
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "loadavg": load}


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    modules = discover(names)
    started = datetime.now(UTC)
    machine = _machine()
    rows, ok = run_benchmarks(modules)
    table = format_table(rows)
    print()
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    payload = {"started": started.isoformat(), "machine": machine, "results": rows}
    md = (f"# Benchmarks {started:%Y-%m-%d %H:%M} UTC\n\n"
          f"Python {machine['python']}, {machine['cpus']} CPUs, load average at start "
          f"{machine['loadavg']} (other processes slow the figures down). "
          f"ratio >= 1 means the target is met.\n\n{table}\n")
    for stem in (stamp, "latest"):
        (RESULTS / f"{stem}.json").write_text(json.dumps(payload, indent=2, default=str))
        (RESULTS / f"{stem}.md").write_text(md)
    print(f"\nsaved {RESULTS / (stamp + '.json')} and .md (also latest.md)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
