"""`rememberer ingest / log / verify / runs` through the real CLI on real SQLite files."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rememberer_tui import tables
from rememberer_tui.cli import cli
from store.recorder import SQLiteRecorder
from tests.conftest import FIXTURES

TRACE = FIXTURES / "traces" / "webshop_small.jsonl"


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def line(**overrides) -> dict:
    base = {"episode": "e1", "task": "buy a lamp", "observation": "o0", "action": "a0",
            "reward": 0.0, "next_observation": "o1", "done": False}
    base.update(overrides)
    return base


def write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def event_count(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_ingest_appends_the_episodes_as_events(db_path: Path) -> None:
    result = invoke("ingest", TRACE, "--db", db_path, "--run", "demo", "--gamma", "0.9")
    assert result.exit_code == 0, result.output
    assert "5 episodes, 20 transitions" in result.output
    with SQLiteRecorder(db_path) as recorder:
        events = list(recorder.read())
    types = [r.type for r in events]
    assert types[0] == "RunStarted" and events[0].event.rl.gamma == 0.9
    assert types.count("EpisodeStarted") == types.count("EpisodeEnded") == 5
    assert types.count("TransitionRecorded") == 20
    ep1 = [r.event for r in events if r.stream == "demo/ep-1"]
    assert [type(e).__name__ for e in ep1] == ["EpisodeStarted"] + ["TransitionRecorded"] * 3 + ["EpisodeEnded"]
    assert ep1[-2].terminated and not ep1[-2].truncated
    assert ep1[-1].total_reward == 0.5 and ep1[-1].success is False
    ep5 = [r.event for r in events if r.stream == "demo/ep-5"]
    assert ep5[0].split == "test" and ep5[0].epoch == 1
    assert ep5[-2].truncated and not ep5[-2].terminated


def test_reingest_is_idempotent_and_other_options_are_refused(db_path: Path) -> None:
    assert invoke("ingest", TRACE, "--db", db_path, "--run", "demo").exit_code == 0
    before = event_count(db_path)
    again = invoke("ingest", TRACE, "--db", db_path, "--run", "demo")
    assert again.exit_code == 0 and "nothing new" in again.output
    assert event_count(db_path) == before
    clash = invoke("ingest", TRACE, "--db", db_path, "--run", "demo", "--n-step", "3")
    assert clash.exit_code == 1
    assert "n_step=1" in clash.output and "n_step=3" in clash.output
    assert event_count(db_path) == before


def test_same_episode_id_with_other_content_is_refused_whole(tmp_path: Path, db_path: Path) -> None:
    assert invoke("ingest", TRACE, "--db", db_path, "--run", "demo").exit_code == 0
    before = event_count(db_path)
    other = write(tmp_path / "other.jsonl", [line(episode="new-ep", done=True),
                                             line(episode="ep-1", reward=0.25, done=True)])
    result = invoke("ingest", other, "--db", db_path, "--run", "demo")
    assert result.exit_code == 1 and "'ep-1' is already in run 'demo'" in result.output
    assert event_count(db_path) == before  # new-ep was not appended either


BAD_INPUTS = {
    "malformed JSON": ([json.dumps(line()), '{"episode": "e1", "task": '], ":2: invalid JSON"),
    "missing field": ([{k: v for k, v in line(done=True).items() if k != "reward"}], ":1: missing field(s): reward"),
    "next_observation mismatch": ([line(), line(observation="other", done=True)], ":2: observation differs from line 1"),
    "NaN reward": (['{"episode": "e1", "task": "t", "observation": "o", "action": "a", "reward": NaN, '
                    '"next_observation": "o", "done": true}'], ":1: invalid JSON"),
    "infinite reward": (['{"episode": "e1", "task": "t", "observation": "o", "action": "a", "reward": 1e999, '
                         '"next_observation": "o", "done": true}'], ":1: reward must be a finite number"),
    "reward not a number": ([line(reward="0.5", done=True)], ":1: reward must be a finite number"),
    "reward a boolean": ([line(reward=True, done=True)], ":1: reward must be a finite number"),
    "done missing at the end": ([line(), line(observation="o1", next_observation="o2")], ":2: episode 'e1' ends here without done=true"),
    "done in the middle": ([line(done=True), line(observation="o1")], ":1: done is true but episode 'e1' continues on line 2"),
    "done not a boolean": ([line(done="yes")], ":1: done must be true or false"),
    "episode not contiguous": ([line(done=True), line(episode="e2", done=True), line(episode="e1", done=True)],
                               ":3: episode 'e1' appears again"),
    "unknown field": ([line(done=True, rewrad=1)], ":1: unknown field(s): rewrad"),
    "not an object": (["[1, 2]"], ":1: expected a JSON object"),
    "bad split": ([line(done=True, split="validation")], ":1: split must be one of train, test"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_error_and_nothing_appended(case: str, tmp_path: Path, db_path: Path) -> None:
    assert invoke("ingest", TRACE, "--db", db_path, "--run", "demo").exit_code == 0
    before = event_count(db_path)
    rows, expected = BAD_INPUTS[case]
    trace = write(tmp_path / "bad.jsonl", [line(episode="fresh", done=True)] * 0 + rows)
    result = invoke("ingest", trace, "--db", db_path, "--run", "demo")
    assert result.exit_code != 0
    message = result.output.strip()
    assert "\n" not in message, message
    assert str(trace) in message and expected in message, message
    assert event_count(db_path) == before


def test_invalid_utf8_empty_file_directory_and_huge_observation(tmp_path: Path, db_path: Path) -> None:
    bad_utf8 = tmp_path / "bad.jsonl"
    bad_utf8.write_bytes(json.dumps(line(done=True)).encode() + b"\n" + b'{"episode": "\xff"}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    huge = write(tmp_path / "huge.jsonl", [line(observation="x" * (50 * 1024 * 1024), done=True)])
    cases = [(bad_utf8, ":2: not valid UTF-8"), (empty, "empty trace"), (tmp_path, "is a directory"),
             (huge, "observation is 52,428,800 bytes, over the limit")]
    for path, expected in cases:
        result = invoke("ingest", path, "--db", db_path, "--run", "demo")
        assert result.exit_code != 0
        assert expected in result.output and result.output.strip().count("\n") == 0, result.output
    assert not db_path.exists()  # nothing was even created for input that never validated


def test_log_json_lines_are_the_stored_events(db_path: Path) -> None:
    invoke("ingest", TRACE, "--db", db_path, "--run", "demo")
    result = invoke("log", "--db", db_path, "--json", "--after", "2", "--limit", "3")
    rows = [json.loads(x) for x in result.output.splitlines()]
    assert [r["position"] for r in rows] == [3, 4, 5]
    assert rows[0]["type"] == "TransitionRecorded"
    assert rows[0]["payload"]["action"] == "search[3 ounce bright citrus deodorant sensitive skin]"
    table = invoke("log", "--db", db_path, "--limit", "5")
    assert "click[b078gtkvxy]" in table.output  # square brackets are not eaten as markup
    header, *lines = table.output.splitlines()  # piped: tab-separated, every event
    assert header.split("\t") == ["pos", "stream", "v", "type", "summary"]
    assert [line.split("\t")[0] for line in lines] == ["1", "2", "3", "4", "5"]


def test_log_on_a_terminal_shows_a_screenful_and_says_how_to_see_more(db_path: Path, monkeypatch) -> None:
    invoke("ingest", TRACE, "--db", db_path, "--run", "demo")
    monkeypatch.setattr(tables, "TERMINAL_ROWS", 4)
    shown = CliRunner().invoke(cli, ["log", "--db", str(db_path)], env={"FORCE_COLOR": "1", "COLUMNS": "120"}).output
    assert re.sub(r"\x1b\[[0-9;]*m", "", shown).splitlines()[-1] == (
        "showing the first 4 rows; narrow it with --after/--limit/--run, or pipe the output (tab-separated) to get "
        "them all")


def test_verify_cli_passes_then_names_the_altered_position(db_path: Path) -> None:
    invoke("ingest", TRACE, "--db", db_path, "--run", "demo")
    ok = subprocess.run([sys.executable, "-m", "rememberer_tui", "verify", "--db", str(db_path)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 31 events")
    head = ok.stdout.split()[-2] + ":" + ok.stdout.split()[-1]
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET payload = replace(payload, 'buy now', 'buy new') WHERE position = 5")
    bad = subprocess.run([sys.executable, "-m", "rememberer_tui", "verify", "--db", str(db_path),
                          "--checkpoint", head], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "FAILED at position 5" in bad.stderr and "altered" in bad.stderr


def test_unknown_database_is_a_clear_error(tmp_path: Path) -> None:
    result = invoke("log", "--db", tmp_path / "nope.db")
    assert result.exit_code == 2 and "does not exist" in result.output
    notdb = tmp_path / "notes.txt"
    notdb.write_text("hello, this is not sqlite" * 100)
    result = invoke("log", "--db", notdb)
    assert result.exit_code == 1 and "not a rememberer database" in result.output
