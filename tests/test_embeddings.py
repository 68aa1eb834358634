"""The embedding cache: computed once per (model, text), stored as float32 in the run's
database, and never recomputed for a known text. One model load for the whole session."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sqlite_utils import Database

from replay.embeddings import DEFAULT_MODEL, Embedder, EmbeddingError, load_model


@pytest.fixture(scope="session")
def minilm():
    return load_model()  # cached per process: every test module shares this one load


@pytest.fixture
def counting_loader(minilm):
    calls: list[str] = []

    def loader(name: str):
        calls.append(name)
        return minilm

    loader.calls = calls
    return loader


def test_a_known_text_never_reaches_the_model(tmp_path, counting_loader) -> None:
    db = Database(tmp_path / "memory.db")
    first = Embedder(db=db, loader=counting_loader)
    vectors = first.vectors(["how to bake bread", "how to fix a bike", "how to bake bread"])
    assert (first.loads, first.encoded) == (1, 2)  # the repeated text is encoded once
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)

    again = Embedder(db=Database(tmp_path / "memory.db"), loader=counting_loader)
    stored = again.vectors(["how to fix a bike", "how to bake bread"])
    assert (again.loads, again.encoded) == (0, 0)
    assert counting_loader.calls == [DEFAULT_MODEL]
    np.testing.assert_array_equal(stored, vectors[[1, 0]])

    mixed = again.vectors(["how to bake bread", "how to tie a tie"])
    assert (again.loads, again.encoded) == (1, 1)  # only the new text
    np.testing.assert_array_equal(mixed[0], vectors[0])


def test_a_reading_embedder_uses_stored_vectors_and_writes_nothing(tmp_path, counting_loader) -> None:
    path = tmp_path / "memory.db"
    Database(path)["events"].insert({"position": 1})  # a file that holds no embeddings table
    before = path.read_bytes()
    reader = Embedder(db=Database(path), loader=counting_loader, stores=False)
    assert reader.vectors(["plant tomatoes"]).shape == (1, 384) and reader.encoded == 1
    assert path.read_bytes() == before  # no table created, no row stored

    writer = Embedder(db=Database(path), loader=counting_loader)
    stored = writer.vectors(["plant tomatoes"])
    reader = Embedder(db=Database(path), loader=counting_loader, stores=False)
    np.testing.assert_array_equal(reader.vectors(["plant tomatoes"]), stored)
    assert reader.encoded == 0  # read from the database, not the model
    after = path.read_bytes()
    reader.vectors(["grow herbs"])
    assert reader.encoded == 1 and path.read_bytes() == after


def test_stored_rows_are_float32_blobs_keyed_by_model_and_sha256(tmp_path, counting_loader) -> None:
    db = Database(tmp_path / "memory.db")
    Embedder("sentence-transformers/all-MiniLM-L6-v2", db, loader=counting_loader).hashes(["plant tomatoes"])
    rows = list(db.query("SELECT model, text_hash, length(vector) AS size, typeof(vector) AS kind FROM embeddings"))
    assert rows == [{"model": DEFAULT_MODEL, "text_hash": hashlib.sha256(b"plant tomatoes").hexdigest(),
                     "size": 384 * 4, "kind": "blob"}]
    assert db["embeddings"].strict
    assert db["embeddings"].pks == ["model", "text_hash"]
    applied = list(db.query("SELECT migration_set, name FROM _sqlite_migrations"))
    assert applied == [{"migration_set": "rememberer.embeddings", "name": "m001_embeddings"}]


def test_the_table_is_disposable(tmp_path, counting_loader) -> None:
    db = Database(tmp_path / "memory.db")
    Embedder(db=db, loader=counting_loader).hashes(["grow herbs"])
    db["embeddings"].drop()
    embedder = Embedder(db=db, loader=counting_loader)
    embedder.hashes(["grow herbs"])
    assert embedder.encoded == 1 and db["embeddings"].count == 1


def test_embeddings_are_the_models_and_mean_something(minilm) -> None:
    texts = ["how to bake sourdough bread", "how to make bread at home", "how to replace a car battery"]
    vectors = Embedder(loader=lambda name: minilm).vectors(texts)
    direct = minilm.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(vectors, direct, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_an_unknown_model_offline_is_a_clear_error(minilm) -> None:
    with pytest.raises(EmbeddingError, match="cannot load embedding model 'no-such-org/no-such-model'"):
        Embedder("no-such-org/no-such-model").hashes(["x"])
