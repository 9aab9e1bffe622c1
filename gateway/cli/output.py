"""How the CLI prints: a table for people, ``--json`` for machines, ``--csv`` for sheets."""
from __future__ import annotations

import csv
import json
import sys
from typing import Any, Iterable, Sequence


def emit(data: Any, *, as_json: bool, columns: Sequence[str] | None = None, as_csv: bool = False) -> None:
    """Print ``data`` (a dict or a list of dicts)."""
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    rows = data if isinstance(data, list) else [data]
    cols = list(columns or (rows[0].keys() if rows else []))
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(cols)
        writer.writerows([_cell(r.get(c)) for c in cols] for r in rows)
        return
    if isinstance(data, dict):
        _pairs(data, cols)
    else:
        table(rows, cols)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _pairs(data: dict, cols: Sequence[str]) -> None:
    width = max((len(c) for c in cols), default=0)
    for col in cols:
        value = data.get(col)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{col}:")
            table(value, list(value[0].keys()), indent="  ")
        else:
            print(f"{col.ljust(width)}  {_cell(value)}")


def table(rows: Iterable[dict], cols: Sequence[str], indent: str = "") -> None:
    rows = list(rows)
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    print(indent + "  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip())
    for row in cells:
        print(indent + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    if not rows:
        print(indent + "(none)")
