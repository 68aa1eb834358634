"""The status line that says whether the log's hash chain verifies.

The app runs `store.verify.verify` once, in a worker with its own recorder, when it
opens; every screen that shows this line reads the result from the app when mounted
and is told when it arrives.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from store.verify import VerifyResult


def integrity_text(result: VerifyResult | None, error: str = "") -> Text:
    if error:
        return Text(f"✗ could not verify the hash chain: {error}")
    if result is None:
        return Text("… verifying the hash chain")
    if result.ok:
        return Text(f"✓ hash chain verified: {result.events:,} events, none altered")
    return Text(f"✗ hash chain broken at position {result.bad_position}: {result.problem}")


class IntegrityLine(Static):
    DEFAULT_CSS = """
    IntegrityLine {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    IntegrityLine.-ok {
        color: $success;
    }
    IntegrityLine.-bad {
        background: $error;
        color: $text;
        text-style: bold;
    }
    """

    def on_mount(self) -> None:
        self.show(getattr(self.app, "integrity", None), getattr(self.app, "integrity_error", ""))

    def show(self, result: VerifyResult | None, error: str = "") -> None:
        self.set_class(result is not None and result.ok, "-ok")
        self.set_class(bool(error) or (result is not None and not result.ok), "-bad")
        self.update(integrity_text(result, error))
