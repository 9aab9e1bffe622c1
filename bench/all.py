"""Every benchmark in one run, with the ceilings, as one table.

    python bench/all.py [--quick] [--out bench/all.json]

Runs, one after the other on this machine (nothing else should be running):

1. ``bench/run.py``: a bare aiohttp handler, raw aiosqlite and raw asyncpg single-INSERT
   handlers (the ceilings), and M-Pesa C2B confirmations through ``tvtopup serve`` on
   SQLite and on PostgreSQL with two workers (wrk, 50 connections);
2. ``bench/dealers.py``: signed dealer top-ups next to C2B in the same run;
3. ``bench/ussd.py``: 500 phones through a 4-step USSD journey, sessions in Redis;
4. ``bench/smpp.py``: submit_sm rate held through one bind, inbound round trip;
5. ``bench/dispatch.py``: outbox events delivered per second;
6. ``bench/expiry.py``: the expiry sweep;
7. ``bench/cards.py``: card generation and redemption.

Each script's own output is kept under ``bench/out/``; the summary gives each HTTP figure
as a ratio of its ceiling from the same run. ``--quick`` shortens every run (a smoke
test of the benchmarks, not figures to quote).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))
from run import machine  # noqa: E402


def plan(quick: bool) -> list[tuple[str, list[str]]]:
    d = "3" if quick else "10"
    return [
        ("http", ["run.py", "--duration", d, "--out", str(OUT / "http.json")]),
        ("dealers", ["dealers.py", "--duration", d]),
        ("ussd", ["ussd.py", "--duration", "5" if quick else "20", "--out", str(OUT / "ussd.json")]),
        ("smpp", ["smpp.py", "--seconds", "2" if quick else "5"]),
        ("dispatch", ["dispatch.py", "--events", "2000" if quick else "20000"]),
        ("expiry", ["expiry.py", "--n", "2000" if quick else "20000"]),
        ("cards", ["cards.py", "--count", "20000" if quick else "1000000", "--small", "5000" if quick else "100000",
                   "--redemptions", "500" if quick else "5000", "--out", str(OUT / "cards.json")]),
    ]


def run(name: str, argv: list[str]) -> dict:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "bench" / argv[0]), *argv[1:]], cwd=ROOT,
                          capture_output=True, text=True)
    (OUT / f"{name}.log").write_text(done.stdout + done.stderr)
    print(f"  {name:<10} {'ok' if done.returncode == 0 else 'FAILED':<7} {time.monotonic() - started:6.0f} s",
          flush=True)
    return {"name": name, "ok": done.returncode == 0, "seconds": round(time.monotonic() - started)}


def http_table(path: Path) -> list[str]:
    """C2B figures with their ceilings: 'name  req/s  p99  ratio'."""
    if not path.exists():
        return []
    rows = json.loads(path.read_text()).get("results", [])
    bare = next((r for r in rows if r["name"].startswith("bare")), None)
    lines = ["| scenario | req/s | p99 ms | of the raw driver | of bare aiohttp |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        driver = "aiosqlite" if "SQLite" in r["name"] or "sqlite" in r["name"] else "asyncpg"
        raw = next((c for c in rows if c["name"].startswith(f"raw {driver}")), None)
        of_raw = f"{r['rps'] / raw['rps']:.2f}" if raw and r["name"].startswith("tvtopup") else "-"
        of_bare = f"{r['rps'] / bare['rps']:.3f}" if bare else "-"
        lines.append(f"| {r['name']} | {r['rps']} | {r['p99_us'] / 1000:.1f} | {of_raw} | {of_bare} |")
    return lines


def ussd_table(path: Path, bare_rps: int | None) -> list[str]:
    if not path.exists():
        return []
    r = json.loads(path.read_text())
    lines = [f"USSD: {r['phones']} phones, {r['hops_per_s']} hops/s"
             + (f" ({r['hops_per_s'] / bare_rps:.2f} of bare aiohttp)" if bare_rps else "")
             + f", client CPU {r['client_cpu_pct']}%, errors {r['errors']}",
             "| step | p50 ms | p99 ms |", "| --- | ---: | ---: |"]
    lines += [f"| {step} | {s['p50_ms']} | {s['p99_ms']} |" for step, s in r["steps"].items()]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", help="names: http dealers ussd smpp dispatch expiry cards")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "all.json")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    print(json.dumps(machine()))
    runs = [run(name, argv) for name, argv in plan(args.quick) if not args.only or name in args.only]
    http = OUT / "http.json"
    bare = next((r["rps"] for r in json.loads(http.read_text()).get("results", []) if r["name"] == "bare"),
                None) if http.exists() else None
    summary = http_table(http) + [""] + ussd_table(OUT / "ussd.json", bare)
    print("\n".join(summary))
    print("\nother figures: see bench/out/*.log")
    args.out.write_text(json.dumps({"machine": machine(), "runs": runs, "summary": summary}, indent=2) + "\n")
    sys.exit(0 if all(r["ok"] for r in runs) else 1)


if __name__ == "__main__":
    main()
