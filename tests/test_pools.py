"""Reference pools: safe import (only !!python/tuple), lossless export, the CLI round trip."""

from __future__ import annotations

import json
import io
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.pools import (
    LOADERS,
    SEPARATORS,
    PoolFormatError,
    compose_observation,
    dump_pool,
    export_pool,
    load_pool,
    parse_pool,
    pool_key,
    read_pool,
    split_observation,
    state_key,
)
from replay.state import ActionStats, Record
from store.events import EpisodeEnded, EpisodeStarted, PoolImported, RunStarted, TransitionRecorded
from store.recorder import SQLiteRecorder
from tests.conftest import FIXTURES, REFERENCE_POOLS

POOLS = sorted(REFERENCE_POOLS.glob("*.yaml"))
HOSTILE = FIXTURES / "pools" / "hostile"
MALFORMED = FIXTURES / "pools" / "malformed"
RECORD_COUNTS = {"annotated_pool-auto.q.yaml": 38}


def seeded_records(event: PoolImported) -> list[Record]:
    """Records as the fold seeds them from a PoolImported (the values, unchanged)."""
    return [
        Record(
            task=r.task, observation=r.observation, created_seq=i, visits=r.visits,
            actions={a.action: ActionStats(q=a.q, visits=a.visits, mean_reward=a.mean_reward,
                                           added_seq=j, reason=a.reason)
                     for j, a in enumerate(r.actions)},
            action_history=r.action_history, last_reward=r.last_reward,
            total_reward=r.total_reward, key=r.key, record_id=r.record_id,
        )
        for i, r in enumerate(event.records)
    ]


def original_data(path: Path) -> dict:
    return read_pool(path.read_text(encoding="utf-8"), str(path))[0]


# --------------------------------------------------------------------------- real pools


@pytest.mark.parametrize("path", POOLS, ids=lambda p: p.name)
def test_every_reference_pool_imports_with_its_values(path: Path) -> None:
    event = load_pool(path)
    expected_format = "webshop" if path.name.endswith(".wq.yaml") else "wikihow"
    assert event.format == expected_format
    assert event.source == path.name
    count = RECORD_COUNTS.get(path.name, 4 if expected_format == "webshop" else 2)
    assert len(event.records) == count
    data = original_data(path)
    for record, (key, value) in zip(event.records, data.items(), strict=True):
        assert record.key == key
        assert (record.task, record.observation) == state_key(event.format, key)
        assert record.task == key[1]
        assert key[0] in record.observation and record.observation.endswith(key[2])
        assert pool_key(event.format, record.task, record.observation) == key
        assert record.record_id == value["id"]
        assert record.visits == value["other_info"]["number"]
        assert record.last_reward == value["other_info"]["last_reward"]
        assert record.total_reward == value["other_info"]["total_reward"]
        assert record.action_history == tuple(value["other_info"]["action_history"])
        assert [((a.action, a.reason), a.visits, a.q, a.mean_reward) for a in record.actions] == [
            (k, v["number"], v["qvalue"], v["reward"]) for k, v in value["action_dict"].items()
        ]


def test_the_reference_values_are_read_as_written() -> None:
    event = load_pool(REFERENCE_POOLS / "init_pool.wq.yaml")
    first, second = event.records[:2]
    assert first.task.startswith("Instruction:i would like a 3 ounce bottle of bright citrus")
    assert first.observation.endswith("[Search]\n\nAvailable Actions:\nsearch")
    assert [(a.action, a.reason, a.q, a.visits) for a in first.actions] == [
        ("search[3 ounce bottle bright citrus deodorant sensitive skin]", "", 1.0, 1),
        ("click[search]", "The search button shouldn't be clicked.", 0.0, 1),
    ]
    assert second.action_history == (("search[3 ounce bottle bright citrus deodorant sensitive skin]", ""),)
    wiki = load_pool(REFERENCE_POOLS / "init_pool.q.yaml").records[0]
    assert wiki.observation.startswith('<button alt="Open navigation drawer"')
    # The search step has no instruction: the observation is the screen, with no label.
    assert wiki.key[2] == "" and wiki.observation == wiki.key[0] and wiki.observation.endswith("</div>")
    assert (wiki.actions[0].action, wiki.actions[0].q, wiki.actions[0].mean_reward) == ("INPUT(2, hide gauges)", 2.0, 1.0)


@pytest.mark.parametrize("path", POOLS, ids=lambda p: p.name)
def test_export_of_the_seeded_records_gives_back_the_file_data(path: Path, tmp_path: Path) -> None:
    first = load_pool(path)
    out = tmp_path / path.name
    assert export_pool(seeded_records(first), out, first.format) == len(first.records)
    original, exported = original_data(path), original_data(out)
    assert exported == original
    assert list(exported) == list(original)  # same record order
    for key in original:  # same action order and types as the reference writes them
        assert list(exported[key]["action_dict"]) == list(original[key]["action_dict"])
        assert all(type(v["qvalue"]) is float and type(v["number"]) is int
                   for v in exported[key]["action_dict"].values())
    second = load_pool(out)
    assert (second.format, second.source, second.records) == (first.format, first.source, first.records)


def test_anchors_and_aliases_are_resolved_and_written_back() -> None:
    path = REFERENCE_POOLS / "init_pool.wq.yaml"
    assert "&act0" in path.read_text() and "*act0" in path.read_text()
    data = original_data(path)
    records = list(data.values())
    first_action = next(iter(records[0]["action_dict"]))
    assert records[1]["other_info"]["action_history"][0] is first_action  # the alias is the same tuple
    text = dump_pool(seeded_records(load_pool(path)), "webshop")
    assert "? &id001 !!python/tuple" in text and "- *id001" in text
    assert read_pool(text)[0] == data


def test_exported_yaml_uses_only_tags_the_reference_loader_knows() -> None:
    text = dump_pool(seeded_records(load_pool(REFERENCE_POOLS / "annotated_pool-auto.q.yaml")), "wikihow")
    tags = set()
    stack = [yaml.compose(text, Loader=yaml.SafeLoader)]  # composing constructs nothing
    while stack:
        node = stack.pop()
        tags.add(node.tag)
        if isinstance(node, yaml.MappingNode):
            stack.extend(child for pair in node.value for child in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    assert "tag:yaml.org,2002:python/tuple" in tags
    assert {t for t in tags if "python/" in t} == {"tag:yaml.org,2002:python/tuple"}


# --------------------------------------------------------------------------- state keys


def test_keys_differing_only_in_the_third_part_stay_distinct_records(tmp_path: Path) -> None:
    text = (REFERENCE_POOLS / "init_pool.q.yaml").read_text()
    data, _ = read_pool(text)
    key = next(iter(data))
    twin = (key[0], key[1], 'Access the article "How to Hide Gauges"')
    pool = tmp_path / "twins.q.yaml"
    pool.write_text(dump_pool([Record(key[1], "", key=key, record_id=0),
                               Record(twin[1], "", key=twin, record_id=1)], "wikihow"))
    records = load_pool(pool).records
    assert len({(r.task, r.observation) for r in records}) == 2
    assert [r.key for r in records] == [key, twin]


LABEL_TEXT = st.sampled_from(["\nAvailable Actions:\n", "\nInstruction:\n", "Instruction:\n", "\n"])


@settings(max_examples=150)
@given(screen=st.text(), format=st.sampled_from(["webshop", "wikihow"]),
       extra=st.lists(st.one_of(st.text(max_size=5), LABEL_TEXT), max_size=4).map("".join))
def test_split_inverts_compose_exactly_when_the_label_is_not_repeated(screen: str, extra: str, format: str) -> None:
    label = SEPARATORS[format]
    observation = compose_observation(format, screen, extra)
    if extra:  # the last label must be the one composing put there
        exact = (label + extra).rfind(label) == 0
    else:  # no label was put there: the screen must not look split
        exact = label not in screen or screen.endswith(label)
    screen_back, extra_back = split_observation(format, observation)
    assert ((screen_back, extra_back) == (screen, extra)) is exact
    assert pool_key(format, "task", observation) == (screen_back, "task", extra_back)


@settings(max_examples=150)
@given(observation=st.lists(st.one_of(st.text(max_size=5), LABEL_TEXT), max_size=5).map("".join),
       format=st.sampled_from(["webshop", "wikihow"]))
def test_composing_a_split_gives_back_any_observation(observation: str, format: str) -> None:
    # What export then import of a record learned live relies on: the same state comes back.
    assert state_key(format, pool_key(format, "task", observation)) == ("task", observation)


def test_a_colliding_composition_is_refused_not_merged() -> None:
    with pytest.raises(PoolFormatError, match=r"same_state.wq.yaml: line 7: .*same \(task, observation\) as the one at line 2"):
        load_pool(MALFORMED / "same_state.wq.yaml")


def test_records_learned_live_get_composed_keys_and_the_next_ids() -> None:
    imported = seeded_records(load_pool(REFERENCE_POOLS / "init_pool.wq.yaml"))
    page, task, actions = "\n[Back to Search]\nlamp\n", "Instruction:buy a lamp", "back to search\nbuy now"
    live_late = Record(task, compose_observation("webshop", page, actions), created_seq=9, visits=2,
                       actions={"click[buy now]": ActionStats(q=0.5, visits=2, mean_reward=0.25, reason="cheap")},
                       action_history=(("search[lamp]", ""),), last_reward=0.0, total_reward=0.0)
    live_early = Record(task, "no label in this observation", created_seq=5)
    out = io.StringIO()
    export_pool([live_late, *reversed(imported), live_early], out, "webshop")
    data, _ = read_pool(out.getvalue())
    keys = list(data)
    assert [data[k]["id"] for k in keys] == [0, 1, 2, 3, 4, 5]
    assert keys[4] == ("no label in this observation", task, "")
    assert keys[5] == (page, task, actions)
    assert data[keys[5]] == {
        "action_dict": {("click[buy now]", "cheap"): {"number": 2, "qvalue": 0.5, "reward": 0.25}},
        "other_info": {"action_history": [("search[lamp]", "")], "last_reward": 0.0, "number": 2,
                       "total_reward": 0.0},
        "id": 5,
    }
    reread = parse_pool(out.getvalue(), "live.wq.yaml").records[5]
    assert (reread.task, reread.observation) == live_late.state_key


# --------------------------------------------------------------------------- format detection


def test_the_content_decides_the_format_before_the_file_name(tmp_path: Path) -> None:
    shop = tmp_path / "pool.yaml"
    shutil.copy(REFERENCE_POOLS / "init_pool2.wq.yaml", shop)
    assert load_pool(shop).format == "webshop"
    wiki_named_shop = tmp_path / "pool.wq.yaml"
    shutil.copy(REFERENCE_POOLS / "init_pool2.q.yaml", wiki_named_shop)
    assert load_pool(wiki_named_shop).format == "wikihow"
    forced = load_pool(wiki_named_shop, "webshop")
    assert forced.format == "webshop"
    assert forced.records[0].observation.endswith(SEPARATORS["webshop"] + forced.records[0].key[2])


def test_unclear_content_falls_back_to_the_suffix_or_asks(tmp_path: Path) -> None:
    text = ("? !!python/tuple [plain page, a task, an action]\n"
            ": {action_dict: {}, other_info: {action_history: [], last_reward: 0.0, number: 1, total_reward: 0.0}, id: 0}\n")
    (tmp_path / "p.q.yaml").write_text(text)
    (tmp_path / "p.yaml").write_text(text)
    assert load_pool(tmp_path / "p.q.yaml").format == "wikihow"
    with pytest.raises(PoolFormatError, match="p.yaml: cannot tell .* pass --format"):
        load_pool(tmp_path / "p.yaml")
    with pytest.raises(PoolFormatError, match="format must be one of"):
        load_pool(tmp_path / "p.q.yaml", "alfworld")


def test_event_ids_follow_run_format_and_content(tmp_path: Path) -> None:
    path = REFERENCE_POOLS / "init_pool.q.yaml"
    assert load_pool(path, run="a").event_id == load_pool(path, run="a").event_id
    assert load_pool(path, run="a").event_id != load_pool(path, run="b").event_id
    assert load_pool(path, run="a").event_id != load_pool(path, "webshop", run="a").event_id
    changed = tmp_path / "init_pool.q.yaml"
    changed.write_text(path.read_text() + "\n")
    assert load_pool(changed, run="a").event_id != load_pool(path, run="a").event_id


# --------------------------------------------------------------------------- hostile input

# file -> (line, tag) of the first refused node
HOSTILE_CASES = {
    "apply_os_system.q.yaml": (11, "!!python/object/apply:os.system"),
    "apply_open_in_key.q.yaml": (4, "!!python/object/apply:builtins.open"),
    "new_popen_in_history.q.yaml": (15, "!!python/object/new:subprocess.Popen"),
    "apply_kwargs.q.yaml": (8, "!!python/object/apply:subprocess.check_call"),
    "name_tag.q.yaml": (18, "!!python/name:os.system"),
    "module_tag.q.yaml": (18, "!!python/module:os"),
    "verbatim_tag.q.yaml": (11, "!!python/object/apply:os.system"),
    "tag_directive.q.yaml": (12, "!!python/object/apply:os.system"),
    "unknown_tag.q.yaml": (11, "!exec"),
    "root_call.q.yaml": (2, "!!python/object/apply:os.system"),
}


def armed(name: str, tmp_path: Path) -> tuple[Path, Path]:
    """The hostile fixture with its payload aimed at a marker file in tmp_path."""
    marker = tmp_path / "executed"
    pool = tmp_path / name
    pool.write_text((HOSTILE / name).read_text().replace("@MARKER@", str(marker)))
    return pool, marker


def test_every_hostile_fixture_is_listed() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.yaml")) == sorted(HOSTILE_CASES)


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(HOSTILE_CASES))
def test_hostile_tags_are_refused_without_execution(name: str, loader: type, tmp_path: Path) -> None:
    pool, marker = armed(name, tmp_path)
    line, tag = HOSTILE_CASES[name]
    with pytest.raises(PoolFormatError) as caught:
        read_pool(pool.read_text(), str(pool), loader)
    message = str(caught.value)
    assert message == (f"{pool}: line {line}: tag {tag} is not allowed (a pool may use "
                       "!!python/tuple only); nothing was constructed from the file")
    assert not marker.exists()


def test_direct_use_of_the_loader_is_guarded_too(tmp_path: Path) -> None:
    pool, marker = armed("apply_os_system.q.yaml", tmp_path)
    for loader in LOADERS:
        with pytest.raises(PoolFormatError, match="line 11: tag !!python/object/apply:os.system is not allowed"):
            yaml.load(pool.read_text(), Loader=loader)
    with pytest.raises(PoolFormatError, match="line 3: tag !!merge is not allowed"):
        read_pool("base: &b {x: 1}\nk:\n  <<: *b\n")
    assert not marker.exists()


# file -> the one-line error
MALFORMED_CASES = {
    "missing_action_dict.q.yaml": "line 1: the record has no action_dict",
    "list_key.q.yaml": "line 2: a mapping key must be a string or a !!python/tuple, not a list",
    "string_key.q.yaml": "line 1: the key must be a !!python/tuple of 3 strings (screen, task, instruction), got str",
    "short_key.q.yaml": "line 1: the key must be a !!python/tuple of 3 strings (screen, task, instruction), got a tuple of 2 (str)",
    "text_qvalue.q.yaml": "line 1: action 'CLICK(0)': qvalue must be a finite number, got str",
    "nan_qvalue.q.yaml": "line 1: action 'CLICK(0)': qvalue must be a finite number, got nan",
    "float_number.q.yaml": "line 1: action 'CLICK(0)': number must be a non-negative integer, got 1.5",
    "unknown_field.q.yaml": "line 1: the record has unknown field(s) note",
    "broken.q.yaml": "line 18: malformed YAML: while scanning a quoted scalar: found unexpected end of stream",
    "duplicate_key.q.yaml": "line 18: duplicate mapping key",
    "nested_tuple.q.yaml": "line 7: a !!python/tuple may only hold strings, not nested collections",
    "tuple_on_scalar.q.yaml": "line 6: !!python/tuple must tag a sequence",
    "not_a_mapping.q.yaml": "line 1: a pool is a mapping of key tuples to records",
    "empty.q.yaml": "the file is empty",
    "history_not_tuples.q.yaml": "line 1: an action_history entry must be a !!python/tuple of 2 strings (action, reason), got list",
    "billion_laughs.q.yaml": "line 1: the key must be a !!python/tuple of 3 strings (screen, task, instruction), got str",
    "same_state.wq.yaml": "line 7: the record has the same (task, observation) as the one at line 2",
}


def test_every_malformed_fixture_is_listed() -> None:
    assert sorted(p.name for p in MALFORMED.glob("*.yaml")) == sorted(MALFORMED_CASES)


@pytest.mark.parametrize("name", sorted(MALFORMED_CASES))
def test_malformed_pools_get_a_one_line_error_naming_the_problem(name: str) -> None:
    path = MALFORMED / name
    with pytest.raises(PoolFormatError) as caught:
        load_pool(path)
    assert str(caught.value) == f"{path}: {MALFORMED_CASES[name]}"


def test_a_device_is_refused_before_it_is_read() -> None:
    with pytest.raises(PoolFormatError, match="^/dev/zero: not a regular file$"):
        load_pool("/dev/zero")


def test_non_utf8_and_missing_files_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "latin.q.yaml"
    bad.write_bytes(b"key: caf\xe9\n")
    with pytest.raises(PoolFormatError, match=r"latin.q.yaml: not UTF-8 text \(byte 8\)"):
        load_pool(bad)
    with pytest.raises(PoolFormatError, match="nothing.q.yaml: No such file"):
        load_pool(tmp_path / "nothing.q.yaml")


# --------------------------------------------------------------------------- CLI


def rememberer(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "rememberer"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=120)


def stored(db: Path) -> list:
    with SQLiteRecorder(db, create=False) as recorder:
        return list(recorder.read())


def test_cli_round_trip_through_the_log(tmp_path: Path) -> None:
    pytest.importorskip("replay.projection")
    db = tmp_path / "memory.db"
    source = REFERENCE_POOLS / "annotated_pool-auto.q.yaml"
    done = rememberer("import-pool", source, "--db", db, "--run", "wiki", "--gamma", "0.9", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported 38 wikihow records" in done.stdout
    events = stored(db)
    assert [type(r.event) for r in events] == [RunStarted, PoolImported]
    assert events[0].event.rl.gamma == 0.9 and events[0].event.environment == "wikihow"
    assert events[1].stream == "wiki"
    assert events[1].event == load_pool(source, run="wiki")

    again = rememberer("import-pool", source, "--db", db, "--run", "wiki", cwd=tmp_path)
    assert again.returncode == 0 and "nothing new" in again.stdout
    assert len(stored(db)) == 2
    other = rememberer("import-pool", source, "--db", db, "--run", "wiki", "--gamma", "0.5", cwd=tmp_path)
    assert other.returncode == 1 and "gamma=0.9" in other.stderr and len(other.stderr.strip().splitlines()) == 1

    out = tmp_path / "exported.q.yaml"
    done = rememberer("export-pool", "--db", db, "--run", "wiki", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert original_data(out) == original_data(source)
    assert list(original_data(out)) == list(original_data(source))

    done = rememberer("import-pool", out, "--db", db, "--run", "copy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first, second = (r.event for r in stored(db) if isinstance(r.event, PoolImported))
    assert (second.format, second.records) == (first.format, first.records)

    # As of position 1 the run held no record: `{}` would load neither here nor in the
    # reference, so nothing is written.
    empty = tmp_path / "empty.q.yaml"
    for target in ("-", empty):
        before_pool = rememberer("export-pool", "--db", db, "--run", "wiki", "--out", target, "--at", 1,
                                 cwd=tmp_path)
        assert before_pool.returncode == 1 and before_pool.stdout == ""
        assert before_pool.stderr.strip().splitlines() == [
            "Error: run 'wiki': the memory holds no records, and an empty pool would not load "
            "(in the reference or in import-pool); nothing was written"]
    assert not empty.exists()


def learned_run(db: Path, run: str, environment: str) -> None:
    """A run that learned two states live (no pool): a search page, then a results page."""
    with SQLiteRecorder(db) as recorder:
        recorder.append([RunStarted(run, environment=environment)], run, 0)
        steps = [TransitionRecorded("e1", 0, "WebShop\n[Search]", "search[lamp]", 0.0, "Results\n[Buy Now]"),
                 TransitionRecorded("e1", 1, "Results\n[Buy Now]", "click[buy now]", 1.0, "Thank you",
                                    terminated=True, reason="cheap enough")]
        recorder.append([EpisodeStarted("e1", "i need a lamp"), *steps, EpisodeEnded("e1", 1.0, True, steps=2)],
                        f"{run}/e1", 0)


def test_a_run_learned_live_exports_and_imports_back_to_the_same_table(tmp_path: Path) -> None:
    db, copy = tmp_path / "live.db", tmp_path / "copy.db"
    learned_run(db, "shop", "webshop-mini")
    out = tmp_path / "shop.yaml"
    done = rememberer("export-pool", "--db", db, "--run", "shop", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # the environment says WebShop
    assert done.stdout == f"exported 2 records of run 'shop' to {out}\n"
    assert list(original_data(out)) == [("WebShop\n[Search]", "i need a lamp", ""),
                                        ("Results\n[Buy Now]", "i need a lamp", "")]
    done = rememberer("import-pool", out, "--db", copy, "--run", "shop", "--format", "webshop", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    tables = [rememberer("qtable", "--db", d, "--run", "shop", "--json", cwd=tmp_path) for d in (db, copy)]
    assert tables[0].returncode == 0 and tables[0].stdout == tables[1].stdout
    assert '"observation": "WebShop\\n[Search]"' in tables[1].stdout


def test_the_export_format_comes_from_the_run_or_the_file_name(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    learned_run(db, "trace", "trace")  # nothing in the run names a format
    done = rememberer("export-pool", "--db", db, "--run", "trace", "--out", tmp_path / "t.q.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    unnamed = tmp_path / "t.yaml"
    done = rememberer("export-pool", "--db", db, "--run", "trace", "--out", unnamed, cwd=tmp_path)
    assert done.returncode == 1 and not unnamed.exists()
    assert done.stderr.strip().splitlines() == [
        "Error: cannot tell the pool format of run 'trace'; pass --format webshop|wikihow "
        "or name the file .wq.yaml / .q.yaml"]

    assert rememberer("import-pool", REFERENCE_POOLS / "init_pool.q.yaml", "--db", db, "--run", "wiki",
                      cwd=tmp_path).returncode == 0
    done = rememberer("export-pool", "--db", db, "--run", "wiki", "--format", "webshop", "--out", unnamed,
                      cwd=tmp_path)
    assert done.returncode == 1 and not unnamed.exists()
    assert done.stderr.strip().splitlines() == [
        "Error: run 'wiki' holds wikihow pools: exporting it as webshop would mix two key formats"]


def test_a_pool_of_the_other_format_is_refused_by_a_run(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    learned_run(db, "shop", "webshop-mini")
    before = len(stored(db))
    pool = REFERENCE_POOLS / "init_pool.q.yaml"
    done = rememberer("import-pool", pool, "--db", db, "--run", "shop", cwd=tmp_path)
    assert done.returncode == 1 and len(stored(db)) == before
    assert done.stderr.strip().splitlines() == [
        f"Error: {pool} is a wikihow pool, but run 'shop' holds webshop states; import it into another run"]


def test_pools_merged_into_one_run_export_with_distinct_ids(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    for name in ("init_pool.wq.yaml", "init_pool2.wq.yaml"):
        done = rememberer("import-pool", REFERENCE_POOLS / name, "--db", db, "--run", "both", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    done = rememberer("export-pool", "--db", db, "--run", "both", "--out", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data, _ = read_pool(done.stdout)
    first = original_data(REFERENCE_POOLS / "init_pool.wq.yaml")
    assert len(data) == 8 and sorted(v["id"] for v in data.values()) == list(range(8))
    assert {k: data[k]["id"] for k in first} == {k: v["id"] for k, v in first.items()}  # the first keep theirs


def test_cli_refuses_a_hostile_pool_and_writes_nothing(tmp_path: Path) -> None:
    pool, marker = armed("apply_os_system.q.yaml", tmp_path)
    db = tmp_path / "memory.db"
    done = rememberer("import-pool", pool, "--db", db, "--run", "x", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: {pool}: line 11: tag !!python/object/apply:os.system is not allowed "
        "(a pool may use !!python/tuple only); nothing was constructed from the file"]
    assert not marker.exists()
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_capacities_applied_to_an_imported_pool_are_reported(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    source = REFERENCE_POOLS / "init_pool.wq.yaml"
    seeds = load_pool(source).records
    pruned = sum(max(0, len(seed.actions) - 1) for seed in seeds)
    assert pruned > 0  # the fixture exercises pruning
    done = rememberer("import-pool", source, "--db", db, "--run", "one", "--action-capacity", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"warning: run 'one' applied its capacities to the pool: {pruned} action{'s' if pruned != 1 else ''} "
        "pruned (action capacity 1, lowest mean reward first); a run with larger capacities keeps all of it"]
    table = json.loads(rememberer("qtable", "--db", db, "--run", "one", "--json", cwd=tmp_path).stdout)
    assert len(table) == sum(len(seed.actions) for seed in seeds) - pruned

    # Room for everything: nothing to say (and no replay).
    done = rememberer("import-pool", source, "--db", db, "--run", "all", "--action-capacity", "9", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""


def test_an_item_capacity_full_at_import_names_the_records_it_evicted(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    done = rememberer("import-pool", REFERENCE_POOLS / "init_pool.wq.yaml", "--db", db, "--run", "two",
                      "--item-capacity", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # Each new record beyond the second evicts one of the closest stored pair.
    assert done.stderr.strip().splitlines() == [
        "warning: run 'two' applied its capacities to the pool: 2 records evicted (item capacity 2); "
        "a run with larger capacities keeps all of it"]
    table = json.loads(rememberer("qtable", "--db", db, "--run", "two", "--json", cwd=tmp_path).stdout)
    assert len({(row["task"], row["observation"]) for row in table}) == 2
