"""The store's schema, declared explicitly and changed only through migrations."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

MIGRATIONS = Migrations("rememberer.store")


@MIGRATIONS()
def m001_events(db: Database) -> None:
    db["events"].create(
        {
            "position": int,
            "stream": str,
            "run": str,
            "version": int,
            "event_id": str,
            "type": str,
            "schema_version": int,
            "payload": str,
            "recorded_at": str,
            "hash": str,
        },
        pk="position",
        not_null={"stream", "run", "version", "event_id", "type", "schema_version", "payload",
                  "recorded_at", "hash"},
        strict=True,
    )
    db["events"].create_index(["event_id"], unique=True, index_name="events_event_id")
    db["events"].create_index(["stream", "version"], unique=True, index_name="events_stream_version")
    db["events"].create_index(["run", "position"], index_name="events_run_position")
    # The log is append-only: the database itself refuses to change or remove a row.
    db.execute(
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END"
    )
    db.execute(
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END"
    )
    # The checkpoint `verify` compares the chain against, so a cut tail is noticed.
    db["chain_head"].create(
        {"id": int, "position": int, "hash": str},
        pk="id",
        not_null={"position", "hash"},
        strict=True,
    )
    db.execute(
        "CREATE TRIGGER chain_head_forward BEFORE UPDATE ON chain_head "
        "WHEN NEW.position < OLD.position "
        "BEGIN SELECT RAISE(ABORT, 'the chain head only moves forward'); END"
    )
    db.execute(
        "CREATE TRIGGER chain_head_no_delete BEFORE DELETE ON chain_head "
        "BEGIN SELECT RAISE(ABORT, 'the chain head cannot be removed'); END"
    )
