"""Reference pools: the YAML experience pools of the reference implementation
(OpenDFM/Rememberer, history-pools/), imported safely and exported losslessly.

A pool is a mapping `key tuple -> {action_dict, other_info, id}`; keys and actions are
`!!python/tuple`. The reference loads them with PyYAML's unsafe loader; here only
`!!python/tuple` is constructed (and only from scalars), every other `!!python/...` or
unknown tag is refused before anything is built from it.

State key. A pool key is a 3-tuple (screen, task, extra):
  WebShop (`*.wq.yaml`): (page text, "Instruction:..." task, available actions, one a line);
  WikiHow (`*.q.yaml`): (screen HTML elements, one a line; task; step instruction).
The record's task is key[1]; its observation is key[0] and key[2] joined by a labelled
line, the labels the reference's own prompts use for those parts (an empty key[2] adds
nothing: the observation is key[0]):
  WebShop:  observation = page + "\\nAvailable Actions:\\n" + actions
  WikiHow:  observation = screen + "\\nInstruction:\\n" + instruction
`split_observation` cuts at the last label line followed by text. Composing what it splits
gives back any observation, so a record learned live exports to a key that imports to the
same (task, observation). Splitting a composition is exact whenever key[2] does not itself
contain the label line (a one-line WikiHow instruction never does). Two keys differing only
in key[2] stay distinct records. The original tuple is also kept in `PoolRecord.key`, so
export writes back exactly what came in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import attrs
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from replay.state import Record
from store.events import EventValidationError, PoolAction, PoolImported, PoolRecord

FORMATS = ("webshop", "wikihow")
TUPLE_TAG = "tag:yaml.org,2002:python/tuple"
SEPARATORS = {"webshop": "\nAvailable Actions:\n", "wikihow": "\nInstruction:\n"}
SUFFIXES = {".wq.yaml": "webshop", ".q.yaml": "wikihow"}

RECORD_FIELDS = ("action_dict", "other_info", "id")
ACTION_FIELDS = ("number", "qvalue", "reward")
INFO_FIELDS = ("action_history", "last_reward", "number", "total_reward")


class PoolFormatError(ValueError):
    """A pool file that is not valid YAML, uses a refused tag, or does not match the format."""


# --------------------------------------------------------------------------- safe YAML


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!", 1)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _check_tags(root: Node, allowed: frozenset[str]) -> None:
    """Refuse the first node (in document order) whose tag has no safe constructor, before
    anything is constructed. Aliased nodes are visited once, so this is linear."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in allowed:
            raise PoolFormatError(
                f"line {_line(node)}: tag {_short_tag(node.tag)} is not allowed "
                "(a pool may use !!python/tuple only); nothing was constructed from the file"
            )
        if isinstance(node, MappingNode):
            stack.extend(child for pair in reversed(node.value) for child in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def _construct_tuple(loader: yaml.SafeLoader, node: Node) -> tuple:
    # Scalars only: the format needs no more, and a tuple of aliased tuples would make
    # hashing it as a mapping key exponential.
    if not isinstance(node, yaml.SequenceNode):
        raise PoolFormatError(f"line {_line(node)}: !!python/tuple must tag a sequence")
    for item in node.value:
        if not isinstance(item, ScalarNode):
            raise PoolFormatError(
                f"line {_line(item)}: a !!python/tuple may only hold strings, not nested collections"
            )
    return tuple(loader.construct_object(item) for item in node.value)


class _PoolConstructor:
    """SafeLoader plus `!!python/tuple` (of scalars). Every other python, local or merge
    tag is refused before anything of the document is built, also when used directly
    as `yaml.load(text, Loader=PoolLoader)`. Duplicate mapping keys are refused too (the
    format never has them; PyYAML would silently keep the last)."""

    def construct_document(self, node: Node) -> Any:
        _check_tags(node, ALLOWED_TAGS)
        return super().construct_document(node)

    def construct_mapping(self, node: Node, deep: bool = False) -> dict:
        if not isinstance(node, MappingNode):
            raise PoolFormatError(f"line {_line(node)}: expected a mapping")
        mapping: dict = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = key in mapping
            except TypeError:
                raise PoolFormatError(
                    f"line {_line(key_node)}: a mapping key must be a string or a "
                    f"!!python/tuple, not a {type(key).__name__}"
                ) from None
            if seen:
                raise PoolFormatError(f"line {_line(key_node)}: duplicate mapping key")
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


class PyPoolLoader(_PoolConstructor, yaml.SafeLoader):
    """The pool loader on PyYAML's pure-Python parser."""


LOADERS: tuple[type, ...] = (PyPoolLoader,)
if yaml.__with_libyaml__:
    class CPoolLoader(_PoolConstructor, yaml.CSafeLoader):
        """The pool loader on libyaml's parser: same rules, ten times faster."""

    LOADERS = (CPoolLoader, PyPoolLoader)
PoolLoader = LOADERS[0]

for _loader in LOADERS:
    _loader.add_constructor(TUPLE_TAG, _construct_tuple)
# The core schema's tags plus !!python/tuple; not python/*, !local tags or merge keys.
ALLOWED_TAGS = frozenset(tag for tag in PyPoolLoader.yaml_constructors if tag is not None)


def _yaml_error(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        context = f"{exc.context}: " if exc.context else ""
        return f"line {exc.problem_mark.line + 1}: malformed YAML: {context}{exc.problem}"
    return "malformed YAML: " + " ".join(str(exc).split())


def read_pool(text: str, source: str = "<pool>", loader_class: type = PoolLoader) -> tuple[dict, list[int]]:
    """Parse a pool safely: (the mapping as the reference would see it, the line of each
    record's key). Raises `PoolFormatError` with one line naming `source`."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise PoolFormatError("the file is empty")
        _check_tags(root, ALLOWED_TAGS)  # a refused tag is named before the file's shape
        if not isinstance(root, MappingNode):
            raise PoolFormatError(f"line {_line(root)}: a pool is a mapping of key tuples to records")
        data = loader.construct_document(root)
        lines = [_line(key_node) for key_node, _ in root.value]
    except PoolFormatError as exc:
        raise PoolFormatError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise PoolFormatError(f"{source}: {_yaml_error(exc)}") from None
    except RecursionError:
        raise PoolFormatError(f"{source}: malformed YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return data, lines


# --------------------------------------------------------------------------- state keys


def compose_observation(format: str, screen: str, extra: str) -> str:
    """The observation text of a pool key's screen (key[0]) and extra part (key[2])."""
    return screen + SEPARATORS[format] + extra if extra else screen


def split_observation(format: str, observation: str) -> tuple[str, str]:
    """Inverse of `compose_observation`: (screen, extra); without a label line followed
    by text, the whole observation is the screen and extra is ''."""
    screen, separator, extra = observation.rpartition(SEPARATORS[format])
    return (screen, extra) if separator and extra else (observation, "")


def state_key(format: str, key: tuple[str, ...]) -> tuple[str, str]:
    """(task, observation) of a pool key (screen, task, extra)."""
    screen, task, extra = key
    return task, compose_observation(format, screen, extra)


def pool_key(format: str, task: str, observation: str) -> tuple[str, str, str]:
    """The pool key of a state learned live (the inverse of `state_key`)."""
    screen, extra = split_observation(format, observation)
    return screen, task, extra


def _is_screen(key: tuple) -> bool:
    lines = [line for line in key[0].splitlines() if line.strip()]
    return bool(lines) and all(line.lstrip().startswith("<") for line in lines)


def _is_webshop(key: tuple) -> bool:
    return key[1].startswith("Instruction:") and not _is_screen(key)


def environment_format(environment: str) -> str | None:
    """The pool format of a run's environment ("webshop-mini" -> webshop), if it has one."""
    return next((f for f in FORMATS if environment == f or environment.startswith(f + "-")), None)


def suffix_format(name: str) -> str | None:
    """The pool format a file name's suffix (.wq.yaml, .q.yaml) names, if any."""
    return next((f for suffix, f in SUFFIXES.items() if name.endswith(suffix)), None)


def detect_format(keys: list[tuple], source: str) -> str:
    """WikiHow if every screen is HTML elements one a line; WebShop if every task is the
    reference's "Instruction:..." over a text page; else the file name's suffix."""
    if keys and all(_is_screen(k) for k in keys):
        return "wikihow"
    if keys and all(_is_webshop(k) for k in keys):
        return "webshop"
    format = suffix_format(source)
    if format is not None:
        return format
    raise PoolFormatError(f"{source}: cannot tell whether this is a WebShop or a WikiHow pool; "
                          "pass --format webshop|wikihow")


# --------------------------------------------------------------------------- import


def _describe(value: Any) -> str:
    # Never repr a hostile value whole: its size (through aliases) is unbounded.
    if isinstance(value, tuple):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a tuple of {len(value)} ({', '.join(kinds) or 'empty'})"
    return repr(value) if isinstance(value, (int, float, bool, type(None))) else type(value).__name__


def _check_fields(where: str, value: Any, fields: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise PoolFormatError(f"{where} must be a mapping with {', '.join(fields)}, got {_describe(value)}")
    missing = [f for f in fields if f not in value]
    if missing:
        raise PoolFormatError(f"{where} has no {', '.join(missing)}")
    unknown = [str(k)[:40] for k in value if k not in fields]
    if unknown:
        raise PoolFormatError(f"{where} has unknown field(s) {', '.join(unknown)}")
    return value


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PoolFormatError(f"{where} must be a finite number, got {_describe(value)}")
    return float(value)


def _count(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PoolFormatError(f"{where} must be a non-negative integer, got {_describe(value)}")
    return value


def _str_tuple(where: str, value: Any, size: int, what: str) -> tuple[str, ...]:
    if not isinstance(value, tuple) or len(value) != size or not all(isinstance(v, str) for v in value):
        raise PoolFormatError(f"{where} must be a !!python/tuple of {size} strings ({what}), "
                              f"got {_describe(value)}")
    return value


def _record(format: str, key: Any, value: Any, where: str) -> PoolRecord:
    what = "page, task, available actions" if format == "webshop" else "screen, task, instruction"
    key = _str_tuple(f"{where}: the key", key, 3, what)
    value = _check_fields(f"{where}: the record", value, RECORD_FIELDS)
    action_dict = value["action_dict"]
    if not isinstance(action_dict, dict):
        raise PoolFormatError(f"{where}: action_dict must be a mapping, got {_describe(action_dict)}")
    actions = []
    for action_key, stats in action_dict.items():
        action, reason = _str_tuple(f"{where}: an action_dict key", action_key, 2, "action, reason")
        at = f"{where}: action {action[:60]!r}"
        if any(a.action == action for a in actions):
            raise PoolFormatError(f"{at} appears twice (an action is identified by its text)")
        stats = _check_fields(at, stats, ACTION_FIELDS)
        actions.append(PoolAction(action, reason, q=_number(f"{at}: qvalue", stats["qvalue"]),
                                  visits=_count(f"{at}: number", stats["number"]),
                                  mean_reward=_number(f"{at}: reward", stats["reward"])))
    info = _check_fields(f"{where}: other_info", value["other_info"], INFO_FIELDS)
    history = info["action_history"]
    if not isinstance(history, list):
        raise PoolFormatError(f"{where}: action_history must be a list, got {_describe(history)}")
    task, observation = state_key(format, key)
    return PoolRecord(
        task=task,
        observation=observation,
        actions=tuple(actions),
        key=key,
        action_history=tuple(_str_tuple(f"{where}: an action_history entry", step, 2, "action, reason")
                             for step in history),
        last_reward=_number(f"{where}: last_reward", info["last_reward"]),
        total_reward=_number(f"{where}: total_reward", info["total_reward"]),
        visits=_count(f"{where}: other_info number", info["number"]),
        record_id=_count(f"{where}: id", value["id"]),
    )


def parse_pool(text: str, source: str = "<pool>", format: str | None = None) -> PoolImported:
    """A `PoolImported` event from a pool's YAML text; `format` None detects it."""
    data, lines = read_pool(text, source)
    if not data:
        raise PoolFormatError(f"{source}: the pool holds no records")
    if format is None:
        format = detect_format([k for k in data if isinstance(k, tuple) and len(k) == 3
                                and all(isinstance(s, str) for s in k)], source)
    elif format not in FORMATS:
        raise PoolFormatError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    records: list[PoolRecord] = []
    first_line: dict[tuple[str, str], int] = {}
    for (key, value), line in zip(data.items(), lines):
        where = f"{source}: line {line}"
        try:
            record = _record(format, key, value, where)
        except EventValidationError as exc:
            raise PoolFormatError(f"{where}: {exc}") from None
        state = (record.task, record.observation)
        if state in first_line:
            raise PoolFormatError(f"{where}: the record has the same (task, observation) as the "
                                  f"one at line {first_line[state]}")
        first_line[state] = line
        records.append(record)
    return PoolImported(source=Path(source).name, format=format, records=records)


def load_pool(path: str | Path, format: str | None = None, *, run: str = "") -> PoolImported:
    """Read a pool file (UTF-8) into a `PoolImported` event whose id is derived from `run`,
    the format and the file's sha256: importing the same file into a run twice is a no-op."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():  # a device or a FIFO could be read forever
            raise PoolFormatError(f"{path}: not a regular file")
        content = path.read_bytes()
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoolFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise PoolFormatError(f"{path}: {exc.strerror}") from None
    event = parse_pool(text, str(path), format)
    return attrs.evolve(event, event_id=pool_event_id(run, content, event.format))


def pool_event_id(run: str, content: bytes, format: str) -> str:
    digest = hashlib.sha256(content).hexdigest()
    return "pool-" + hashlib.sha256(f"{run}\n{format}\n{digest}".encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- export


class PoolDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """SafeDumper that writes tuples as `!!python/tuple`, multi-line text as literal blocks."""


def _represent_tuple(dumper: PoolDumper, data: tuple) -> yaml.SequenceNode:
    return dumper.represent_sequence(TUPLE_TAG, data)


def _represent_str(dumper: PoolDumper, data: str) -> yaml.ScalarNode:
    # The emitter falls back to a quoted style wherever a literal block cannot hold the text.
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


PoolDumper.add_representer(tuple, _represent_tuple)
PoolDumper.add_representer(str, _represent_str)


def _export_order(record: Record) -> tuple:
    return (record.record_id is None, record.record_id or 0, record.created_seq)


def pool_data(records: Iterable[Record], format: str) -> dict:
    """The reference structure of fold records, ordered by record id then creation.

    Records learned live (no `key`, no `record_id`) get a key from `pool_key` and ids
    after the largest one, as the reference numbers new records; so does a record whose id
    an earlier one already took (a run seeded from several pools numbered from 0 each).
    """
    if format not in FORMATS:
        raise PoolFormatError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    ordered = sorted(records, key=_export_order)
    next_id = max((r.record_id for r in ordered if r.record_id is not None), default=-1) + 1
    taken: set[int] = set()
    shared: dict[tuple, tuple] = {}  # equal tuples become one object: YAML anchors/aliases

    def intern(value: tuple) -> tuple:
        return shared.setdefault(value, value)

    data: dict = {}
    for record in ordered:
        key = intern(tuple(record.key) if record.key else pool_key(format, record.task, record.observation))
        if key in data:
            raise PoolFormatError(f"two records export to the same key (task {record.task[:60]!r})")
        if record.record_id is None or record.record_id in taken:
            record_id, next_id = next_id, next_id + 1
        else:
            record_id = record.record_id
        taken.add(record_id)
        actions = sorted(record.actions.items(), key=lambda item: item[1].added_seq)
        data[key] = {
            "action_dict": {
                intern((action, stats.reason)): {"number": int(stats.visits), "qvalue": float(stats.q),
                                                 "reward": float(stats.mean_reward)}
                for action, stats in actions
            },
            "other_info": {
                "action_history": [intern(tuple(step)) for step in record.action_history],
                "last_reward": float(record.last_reward),
                "number": int(record.visits),
                "total_reward": float(record.total_reward),
            },
            "id": record_id,
        }
    return data


def dump_pool(records: Iterable[Record], format: str) -> str:
    """The pool as YAML text the reference implementation loads."""
    return yaml.dump(pool_data(records, format), Dumper=PoolDumper, sort_keys=False,
                     default_flow_style=False, allow_unicode=True, width=1_000_000)


def export_pool(records: Iterable[Record], out: str | Path | TextIO, format: str) -> int:
    """Write fold records as a reference pool to a path or a text stream; returns the count.
    An empty memory is refused: the reference (and `import-pool`) cannot load `{}`."""
    records = list(records)
    if not records:
        raise PoolFormatError("the memory holds no records, and an empty pool would not load "
                              "(in the reference or in import-pool); nothing was written")
    text = dump_pool(records, format)
    if hasattr(out, "write"):
        out.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")
    return len(records)
