"""What an operator sees when the start goes wrong, and in ``--help``: one ``error: …`` line
and a non-zero exit, never a traceback; every option explained, no markup."""
from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import build_parser
from tests.e2e.test_easy_start import clean_env

MARKUP = re.compile(r"`|%\(|%[sd]\b|</?[a-zA-Z][^>]*>|\*\*|&[a-z]+;")


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True,
                          env=clean_env(**env), cwd=cwd, timeout=60)


def assert_one_error_line(done: subprocess.CompletedProcess, *words: str) -> None:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr and len(errors) == 1, done.stderr
    assert all(word in errors[0] for word in words), errors[0]


def test_a_busy_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run(tmp_path, "serve", "--port", str(port))
    assert_one_error_line(done, str(port))


def test_a_missing_database_directory(tmp_path):
    done = run(tmp_path, "report", "ledger", TVTOPUP_DATABASE_URL="sqlite+aiosqlite:///./no/such/dir/tvtopup.db")
    assert_one_error_line(done, "no/such/dir")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", ["[server\nport = 1", "[server]\nport = 'x'", "[nope]\nx = 1", b"\xff\xfe"])
def test_a_malformed_config(tmp_path, content):
    config = tmp_path / "bad.toml"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_one_error_line(run(tmp_path, "--config", str(config), "report", "ledger"), "bad.toml")


def test_an_unreadable_config(tmp_path):
    assert_one_error_line(run(tmp_path, "--config", str(tmp_path), "report", "ledger"), str(tmp_path))
    assert_one_error_line(run(tmp_path, "report", "ledger", TVTOPUP_CONFIG=str(tmp_path / "missing.toml")),
                          "missing.toml")


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("tvtopup",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_of_every_command_has_help_without_markup():
    missing, marked = [], []
    for path, parser in _parsers(build_parser()):
        text = parser.format_help()  # raises on a bad %-format in a help text
        if MARKUP.search(text):
            marked.append((" ".join(path), MARKUP.search(text).group()))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{' '.join(path)} {c.dest}" for c in action._choices_actions if not (c.help or "").strip()]
                continue
            if action.help == argparse.SUPPRESS:
                continue
            if not (action.help or "").strip():
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert missing == [] and marked == []


def test_every_help_runs_as_a_command(tmp_path):
    for path, _ in list(_parsers(build_parser()))[:3]:
        done = run(tmp_path, *path[1:], "--help")
        assert done.returncode == 0 and done.stderr == "" and "usage: " in done.stdout
