"""The operator's verbs for sites, promotions, decoders and products, run through the CLI's
``main`` (in this process) on SQLite and PostgreSQL."""
from __future__ import annotations

import json

from gateway.cli import main


def cli(capsys, *args: str):
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_an_operator_runs_a_promotion_and_follows_a_decoder(db_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TVTOPUP_DATABASE_URL", db_url)
    cli(capsys, "package", "add", "BASIC", "--name", "Basic", "--days", "30", "--tvu", "150", "--products", "101")
    cli(capsys, "subscriber", "add", "--card", "12345678", "--msisdn", "0712345678", "--package", "BASIC")
    cli(capsys, "site", "add", "NBO1", "--name", "Nairobi agency", "--region", "Nairobi", "--kind", "agency")
    promo = cli(capsys, "promo", "add", "XMAS", "--kind", "bonus", "--percent", "10", "--min", "KES 1000",
                "--from", "2020-01-01", "--to", "2099-12-31", "--budget", "500")
    assert (promo["percent"], promo["min"], promo["left"]) == ("10%", "KES 1000.00", 500)
    cli(capsys, "payment", "record", "12345678", "KES 1000", "--method", "cash", "--ref", "R1", "--site", "NBO1")
    assert cli(capsys, "subscriber", "show", "12345678")["wallet_tvu"] == 1000 - 150 + 100
    [line] = cli(capsys, "report", "promos")
    assert (line["name"], line["tvu_given"], line["ledger_tvu"]) == ("XMAS", 100, 100)
    assert {"account": "promo:XMAS", "unit": "TVU", "balance": 100} in cli(capsys, "report", "ledger")

    cli(capsys, "decoder", "add", "DEC-1", "--smartcard", "12345678", "--by", "store")
    cli(capsys, "decoder", "move", "DEC-1", "--to", "site:NBO1", "--by", "driver")
    cli(capsys, "decoder", "install", "DEC-1", "--card", "12345678", "--by", "tech")
    cli(capsys, "decoder", "add", "DEC-2", "--site", "NBO1")
    cli(capsys, "decoder", "swap", "DEC-1", "DEC-2", "--card", "12345678")
    history = cli(capsys, "report", "decoders", "--serial", "DEC-1")["history"]
    assert [h["action"] for h in history] == ["add", "move", "install", "swap_out"]
    moved = cli(capsys, "subscriber", "swap-card", "12345678", "87654321", "--reason", "lost")
    assert (moved["card"], moved["wallet_tvu"]) == ("87654321", 950)

    cli(capsys, "product", "add", "KIT", "--name", "Antenna kit", "--price", "KES 2500", "--price", "UGX 90000")
    cli(capsys, "product", "sell", "KIT", "--site", "NBO1", "--card", "87654321")
    lines = cli(capsys, "report", "sites")
    assert {(r["what"], r["amount"]) for r in lines} >= {("product_sales", "KES 2500.00"),
                                                        ("payments", "KES 1000.00")}
    cli(capsys, "promo", "end", "XMAS")
    assert [p["status"] for p in cli(capsys, "promo", "list")] == ["ended"]


def test_a_refusal_exits_2_and_names_the_code(db_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TVTOPUP_DATABASE_URL", db_url)
    assert main(["decoder", "show", "NOPE-1"]) == 2
    assert "unknown_decoder" in capsys.readouterr().err
    assert main(["promo", "add", "P", "--kind", "bonus", "--from", "2026-01-01", "--to", "2026-01-31",
                 "--budget", "10"]) == 2
    assert "needs --percent" in capsys.readouterr().err
