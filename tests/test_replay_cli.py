"""`rememberer qtable / diff / snapshot` through the real CLI on real SQLite files."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from replay import snapshots
from replay.projection import qtable_json, replay_run
from rememberer_tui import tables
from rememberer_tui.cli import cli
from store.events import RLConfig
from tests.conftest import ROOT
from tests.replay_runs import append_episode, open_db, random_runs, spec_example, start_run


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def rows_of(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_qtable_json_is_byte_identical_across_processes(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    recorder = random_runs(db, seed=11, transitions=60, config=RLConfig(gamma=0.9, n_step=2))
    append_episode(recorder, "a", "unicode", "tâche ✓", [("écran 1", "clic", 0.1, "écran 2"),
                                                         ("écran 2", "acheter", 1.0, "fin")])
    expected = qtable_json(replay_run(recorder, "a")) + "\n"
    recorder.close()
    command = [sys.executable, "-m", "rememberer_tui", "qtable", "--db", str(db), "--json"]
    first = subprocess.run(command, capture_output=True, cwd=ROOT)
    second = subprocess.run(command, capture_output=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout == expected.encode()
    rows = json.loads(first.stdout)
    keys = [(r["task"], r["observation"], r["action"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert any(r["task"] == "tâche ✓" for r in rows)


def test_qtable_at_and_what_if_options(tmp_path: Path) -> None:
    db = tmp_path / "spec.db"
    spec_example(db).close()
    at9 = rows_of(invoke("qtable", "--db", db, "--run", "spec", "--at", 9, "--json"))
    assert {(r["observation"], r["action"]): (r["q"], r["visits"]) for r in at9} == {
        ("S", "a"): (0.0, 2), ("R", "b"): (0.1875, 2), ("J", "buy"): (0.375, 1)}
    what_if = rows_of(invoke("qtable", "--db", db, "--gamma", "0.5", "--json"))
    assert [r["q"] for r in what_if if r["action"] == "b"] == [0.09375]
    readable = invoke("qtable", "--db", db, "--gamma", "0.5")
    summary = readable.output.strip().splitlines()[-1]
    assert "3 records, 3 actions; run 'spec' as of position 11" in summary
    assert "gamma=0.5" in summary and "what-if: gamma 1.0 -> 0.5" in summary
    with open_db(db) as recorder:
        assert recorder.max_position() == 11 and snapshots.listing(recorder) == []


def test_diff_positions_and_what_if(tmp_path: Path) -> None:
    db = tmp_path / "spec.db"
    spec_example(db).close()
    positions = json.loads(invoke("diff", "--db", db, "--at", 4, "--against", 9, "--json").output)
    assert positions["a"]["position"] == 4 and positions["b"]["position"] == 9
    assert positions["records_added"] == [["shop", "J"]]
    changes = [(c["status"], c["action"], c["delta"]) for c in positions["actions"]]
    assert changes == [("added", "buy", 0.375), ("changed", "b", 0.1875), ("changed", "a", 0.0)]
    config = json.loads(invoke("diff", "--db", db, "--gamma", "0.5", "--json").output)
    assert config["a"]["config"]["gamma"] == 1.0 and config["b"]["config"]["gamma"] == 0.5
    assert [(c["action"], c["q_a"], c["q_b"]) for c in config["actions"]] == [("b", 0.1875, 0.09375)]
    text = invoke("diff", "--db", db, "--at", 4, "--against", 9)
    assert text.exit_code == 0
    assert "records: 1 added, 0 removed; actions: 1 added, 0 removed, 2 changed, 0 unchanged" in text.output
    same = invoke("diff", "--db", db, "--at", 5)
    assert same.exit_code == 1 and "nothing to compare" in same.output


def test_snapshot_write_list_drop(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with random_runs(db, seed=8, transitions=80) as recorder:
        last = recorder.max_position()
    assert last == 124
    before = invoke("qtable", "--db", db, "--json").output
    saved = invoke("snapshot", "--db", db, "--every", 30)
    assert saved.exit_code == 0
    assert saved.output.startswith("saved 5 snapshots of run 'a' at positions 30, 60, 90, 120, 124; gamma=1.0")
    listing = invoke("snapshot", "--db", db, "--list")
    assert listing.output.count("gamma=1.0") == 5
    assert invoke("qtable", "--db", db, "--json").output == before
    at = invoke("qtable", "--db", db, "--at", 70)
    assert at.stderr == "replayed from the snapshot at 60\n"
    assert at.stdout == invoke("qtable", "--db", db, "--at", 70, "--no-snapshots").stdout  # stdout alike
    assert invoke("snapshot", "--db", db, "--drop").output.strip() == "dropped 5 snapshots"
    assert invoke("qtable", "--db", db, "--json").output == before
    assert invoke("snapshot", "--db", db, "--list").output.strip() == "no snapshots"
    huge = invoke("snapshot", "--db", db, "--run", "a", "--every", 10**30)  # beyond SQLite's integers
    assert huge.exit_code == 0 and huge.output.startswith("saved 1 snapshot of run 'a' at position 124;")
    assert invoke("snapshot", "--db", db, "--drop", "--run", "a").output.strip() == "dropped 1 snapshot"


def test_a_damaged_snapshot_is_reported_on_stderr(tmp_path: Path) -> None:
    db = tmp_path / "spec.db"
    spec_example(db).close()
    invoke("snapshot", "--db", db, "--every", 5)
    with open_db(db) as recorder:
        recorder.conn.execute("UPDATE snapshots SET content_hash = 'x' WHERE position = 10")
    result = CliRunner().invoke(cli, ["qtable", "--db", str(db), "--at", "10", "--json"])
    assert result.exit_code == 0
    assert "snapshot of run 'spec' at position 10 is damaged" in result.stderr
    assert "damaged" not in result.stdout
    scratch = invoke("qtable", "--db", db, "--at", 10, "--json", "--no-snapshots")
    assert result.stdout == scratch.output and "damaged" not in scratch.stderr


@pytest.mark.parametrize("args, message", [
    (["qtable", "--run", "nope"], "no run 'nope'; runs: a, b"),
    (["qtable"], "give --run: runs: a, b"),
    (["qtable", "--run", "a", "--at", "100000"], "position 100000 is outside the log"),
    (["qtable", "--run", "a", "--at", "-3"], "position -3 is outside the log"),
    (["qtable", "--run", "a", "--gamma", "2"], "gamma must be in [0, 1], got 2.0"),
    (["qtable", "--run", "a", "--n-step", "0"], "n_step must be >= 1, got 0"),
    (["qtable", "--run", "a", "--learning-rate", "0"], "learning_rate must be in (0, 1]"),
    (["diff", "--run", "a", "--at", "5", "--against", "999999"], "position 999999 is outside the log"),
    (["diff", "--run", "b"], "nothing to compare"),
    (["snapshot", "--run", "a", "--every", "0"], "--every must be at least 1, got 0"),
    (["snapshot", "--run", "zzz"], "no run 'zzz'; runs: a, b"),
    (["qtable", "--run", "a", "--n-step", "1000000000000000000"], "n_step must be at most 100,000"),
    (["snapshot", "--drop", "--list"], "give --drop or --list, not both"),
    (["snapshot", "--drop", "--gamma", "0.5"], "RL options choose the config to save snapshots for"),
    (["snapshot", "--list", "--run", "zzz"], "no run 'zzz'; runs: a, b"),
    (["snapshot", "--drop", "--run", "zzz"], "no run 'zzz'; runs: a, b"),
])
def test_bad_input_is_a_one_line_error(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "runs.db"
    random_runs(db, seed=1, runs=("a", "b"), transitions=10).close()
    result = invoke(args[0], "--db", db, *args[1:])
    assert result.exit_code == 1
    assert message in result.output and result.output.strip().count("\n") == 0, result.output


def test_values_beyond_float_range_are_a_one_line_error_not_invalid_json(tmp_path: Path) -> None:
    db = tmp_path / "huge.db"
    with open_db(db) as recorder:  # each reward is finite; a return is not
        start_run(recorder, "a")
        append_episode(recorder, "a", "e1", "t", [("s1", "b", 1e308, "s2")])
        append_episode(recorder, "a", "e2", "t", [("s0", "a", 1e308, "s1")], end="truncated")
    for args in (["qtable", "--json"], ["diff", "--gamma", "0.5", "--json"], ["snapshot", "--every", "1"]):
        result = invoke(args[0], "--db", db, *args[1:])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: the memory holds a value beyond float range")
        assert result.output.count("\n") == 1 and "Infinity" not in result.output
    assert "inf" in invoke("qtable", "--db", db).output  # the text table shows it as it is


def test_terminal_escapes_in_recorded_text_are_shown_not_sent(tmp_path: Path) -> None:
    db = tmp_path / "escape.db"
    with open_db(db) as recorder:
        start_run(recorder, "a")
        append_episode(recorder, "a", "e1", "\x1b]0;pwned\x07task", [("\x1b[31mred", "a\tb", 1.0, "s1")])
    on_terminal = CliRunner().invoke(cli, ["qtable", "--db", str(db)], env=TERMINAL).output
    assert "\x1b]" not in on_terminal and "\x07" not in on_terminal  # rich's own colour codes remain
    assert "\\x1b]0;pwned\\x07task" in on_terminal and "\\x1b[31mred" in on_terminal
    piped = invoke("qtable", "--db", db).output
    assert "\x1b" not in piped and "\x07" not in piped
    header, row, summary = piped.splitlines()
    assert header.split("\t") == ["task", "observation", "action", "Q", "visits", "mean reward"]
    assert row.split("\t") == ["\\x1b]0;pwned\\x07task", "\\x1b[31mred", "a\\tb", "1.0", "1", "1.0"]
    assert summary.startswith("1 records, 1 actions")


def test_piped_texts_that_differ_print_differently_and_floats_in_full(tmp_path: Path) -> None:
    db = tmp_path / "texts.db"
    texts = ["x\ny", "x / y", "a\tb", "a\\tb", "a\\x09b", "o3\r\nCR", "o3\nCR"]
    with open_db(db) as recorder:
        start_run(recorder, "a")
        for number, text in enumerate(texts):
            append_episode(recorder, "a", f"e{number}", "T", [(text, "act", 2 / 3, "end")])
    lines = invoke("qtable", "--db", db).output.splitlines()[1:-1]
    assert len(lines) == len(set(lines)) == len(texts)
    unescape = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    shown = {re.sub(r"\\[\\tnr]", lambda m: unescape[m.group()], line.split("\t")[1]) for line in lines}
    assert shown == set(texts)  # the escape reads back
    assert {line.split("\t")[3] for line in lines} == {repr(2 / 3)}


# What rich takes for a terminal (CliRunner's output is not one).
TERMINAL = {"FORCE_COLOR": "1", "COLUMNS": "120"}


def test_a_terminal_gets_a_fitted_table_and_a_pipe_every_row_whole(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "run.db"
    random_runs(db, seed=8, transitions=80).close()
    rows = rows_of(invoke("qtable", "--db", db, "--json"))
    piped = invoke("qtable", "--db", db).output.splitlines()
    assert len(piped) == 1 + len(rows) + 1 and len(rows) > 3
    assert [line.split("\t")[:3] for line in piped[1:-1]] == [[r["task"], r["observation"], r["action"]]
                                                              for r in rows]
    monkeypatch.setattr(tables, "TERMINAL_ROWS", 3)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", CliRunner().invoke(cli, ["qtable", "--db", str(db)], env=TERMINAL).output)
    lines = shown.splitlines()
    assert lines[-2].startswith(f"showing the first 3 of {len(rows)} rows; pipe the output (tab-separated) or add --json")
    assert all(len(line) == 120 for line in lines[:-2])  # the table fills the terminal's width
    assert sum(line.startswith("│") for line in lines) == 3


def test_a_database_with_no_runs(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    with open_db(db) as recorder:
        start_run(recorder, "only")
    result = invoke("qtable", "--db", db)
    assert result.exit_code == 0 and "0 records, 0 actions; run 'only' as of position 1" in result.output
    assert invoke("qtable", "--db", db, "--json").output == "[]\n"


def test_a_long_replay_from_the_start_suggests_snapshots(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "run.db"
    random_runs(db, seed=8, transitions=80).close()
    monkeypatch.setattr("rememberer_tui.commands.replay_cmds.HINT_EVENTS", 50)
    runner = CliRunner()
    hinted = runner.invoke(cli, ["qtable", "--db", str(db), "--json"])
    assert hinted.exit_code == 0
    assert f"events from the start of run 'a': `rememberer snapshot --db {db} --run a`" in hinted.stderr
    assert "same RL options" in runner.invoke(cli, ["qtable", "--db", str(db), "--gamma", "0.5"]).stderr
    assert invoke("snapshot", "--db", db).exit_code == 0
    assert runner.invoke(cli, ["qtable", "--db", str(db), "--json"]).stderr == ""
    assert runner.invoke(cli, ["qtable", "--db", str(db), "--json", "--no-snapshots"]).stderr == ""


def test_an_interrupted_snapshot_keeps_whole_snapshots_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    random_runs(db, seed=3, transitions=3000).close()
    command = [str(Path(sys.executable).parent / "rememberer"), "snapshot", "--db", str(db), "--every", "1"]
    writer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with open_db(db) as recorder:
        while writer.poll() is None and not snapshots.listing(recorder):
            time.sleep(0.01)
        writer.send_signal(signal.SIGINT)  # what Ctrl-C sends
        time.sleep(0.02)
        writer.send_signal(signal.SIGINT)  # an impatient second one must not turn the exit into a traceback
        _, err = writer.communicate(timeout=60)
        saved = [s.position for s in snapshots.listing(recorder)]
        last = recorder.max_position()
    assert writer.returncode == 130 and len(saved) < last
    assert err.splitlines() == [
        f"interrupted: {len(saved)} snapshot{'s' if len(saved) != 1 else ''} of run 'a' saved, the last at "
        f"position {max(saved)}; each is complete and used by replays. Run the command again to save them all"]
    used = invoke("qtable", "--db", db, "--at", max(saved))
    assert used.stderr == f"replayed from the snapshot at {max(saved)}\n"
    assert used.stdout == invoke("qtable", "--db", db, "--at", max(saved), "--no-snapshots").stdout


def test_a_what_if_item_capacity_leaves_the_file_unchanged(tmp_path: Path) -> None:
    """Evictions need embeddings of texts an ingested run never embedded: replay computes
    them in memory and stores none (the model loads once here, about 10 s)."""
    db = tmp_path / "trace.db"
    ingested = invoke("ingest", ROOT / "fixtures" / "traces" / "webshop_small.jsonl", "--db", db, "--run", "t")
    assert ingested.exit_code == 0, ingested.output
    before = db.read_bytes()
    # A process of its own: its connections close (and checkpoint) before the file is read.
    capped = subprocess.run([str(Path(sys.executable).parent / "rememberer"), "qtable", "--db", str(db),
                             "--item-capacity", "3", "--json"], capture_output=True, text=True, timeout=300)
    assert capped.returncode == 0, capped.stderr
    assert len({(r["task"], r["observation"]) for r in json.loads(capped.stdout)}) == 3
    assert db.read_bytes() == before and not Path(f"{db}-wal").exists()
