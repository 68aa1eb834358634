"""store <- replay <- rememberer_tui: the core never pulls in the UI or the LLM client."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

from tests.conftest import ROOT


def core_modules() -> list[str]:
    names = []
    for package in ("store", "replay"):
        names.append(package)
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            names.append(info.name)
    return names


def test_store_and_replay_never_import_textual_or_openai() -> None:
    modules = core_modules()
    assert "store.recorder" in modules and "replay.state" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'openai', 'rememberer_tui'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"core imported: {done.stdout.strip()}"


def test_store_does_not_import_replay() -> None:
    code = ("import importlib, pkgutil, sys\n"
            "import store\n"
            "for info in pkgutil.walk_packages(store.__path__, prefix='store.'):\n"
            "    importlib.import_module(info.name)\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'replay')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_sentence_transformers_is_imported_lazily() -> None:
    modules = core_modules()
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print('sentence_transformers' in sys.modules, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "False False", done.stdout + done.stderr
