"""`rememberer bench step`: the agent's own overhead per step, the LLM's latency excluded.

A memory of N records (default 10,000: WebShop-like pages under a few hundred task texts,
seeded through one PoolImported event) serves offline-policy episodes on webshop-mini. Per
step we time everything the agent does (retrieval, prompt building, the policy, the event
append, the fold) and subtract the environment's own reset/step time.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from rememberer_tui.agent.memory import LiveMemory
from rememberer_tui.agent.policies import OfflinePolicy
from rememberer_tui.agent.protocol import Plan, run_plan
from rememberer_tui.agent.session import Session
from rememberer_tui.agent.tasks import parse_tasks
from rememberer_tui.envs.registry import make_env
from replay.embeddings import Embedder
from replay.exemplars import ExemplarOptions
from replay.matchers.config import MatcherConfig
from replay.projection import replay_run
from store.events import PoolAction, PoolImported, PoolRecord, RLConfig, RunStarted
from store.recorder import SQLiteRecorder

PRODUCTS = ["deodorant", "baseball cap", "bluetooth speaker", "mixed nuts", "office chair", "nail polish",
            "wireless mouse", "usb c charger", "running shoes", "protein bars", "face cream", "desk lamp"]
QUALITIES = ["waterproof", "gluten free", "lightweight", "adjustable", "organic", "long lasting",
             "low profile", "quick dry", "ergonomic", "rechargeable"]
COLORS = ["black", "white", "light blue", "pink", "gray", "green", "red", "navy"]


def _records(count: int, rng: random.Random) -> list[PoolRecord]:
    tasks = [f"i need a {q} {p}, in {c}, and price lower than {rng.choice([30, 40, 60, 80])}.00 dollars"
             for p in PRODUCTS for q in QUALITIES[:4] for c in COLORS[:6]]
    pages = [
        ("WebShop\nInstruction:\n{t}\n[Search]", ["search[{p}]"]),
        ("Instruction:\n{t}\n[Back to Search]\nPage 1 (Total results: 50)\n[Next >]\n[B0{n:08d}]\n{p} {q}\n$19.99",
         ["click[b0{n:08d}]", "click[next >]"]),
        ("Instruction:\n{t}\n[Back to Search]\n[< Prev]\ncolor [{c}][white]\n{p} {q}\nPrice: $19.99\n[Buy Now]",
         ["click[{c}]", "click[buy now]", "click[description]"]),
    ]
    records = []
    for i in range(count):
        task = tasks[i % len(tasks)]
        page, actions = pages[i % 3]
        fill = {"t": task, "p": rng.choice(PRODUCTS), "q": rng.choice(QUALITIES), "c": rng.choice(COLORS), "n": i}
        observation = page.format(**fill) + f"\n(visit {i})"
        records.append(PoolRecord(task, observation, [
            PoolAction(a.format(**fill), "", q=round(rng.random(), 3), visits=rng.randint(1, 5),
                       mean_reward=round(rng.random(), 3)) for a in actions]))
    return records


def bench_step(quick: bool = False, records: int | None = None, **_) -> dict:
    size = records or (1_000 if quick else 10_000)
    rng = random.Random(7)
    figures: dict = {"records": size}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        with SQLiteRecorder(db) as recorder:
            matcher = MatcherConfig.preset("webshop")
            recorder.append([RunStarted("bench", matcher=matcher.to_dict()),
                             PoolImported("synthetic", "webshop", _records(size, rng))], "bench", 0)
            started = time.perf_counter()
            built = matcher.build(lambda m: Embedder(m, db=recorder.db))
            memory = LiveMemory(RLConfig(), built, ExemplarOptions(format="webshop"), seed=0,
                                state=replay_run(recorder, "bench"))
            figures["memory_build_s"] = round(time.perf_counter() - started, 3)
            clock = _Stopwatch()
            overheads: list[float] = []

            def step_done(episode: str, step: int) -> None:
                overheads.append(clock.take() * 1000)

            session = Session(_Timed(recorder, clock), "bench", make_env("webshop-mini", max_steps=10),
                              _Timed(OfflinePolicy(), clock), _Timed(memory, clock), seed=0, max_steps=10,
                              on_step=step_done)
            run_plan(session, Plan(parse_tasks("0:3" if quick else "0:10", session.env, "train"), [], epochs=2))
    overheads.sort()
    figures.update({
        "steps": len(overheads),
        "overhead_p50_ms": round(statistics.median(overheads), 3),
        "overhead_p90_ms": round(overheads[int(len(overheads) * 0.9) - 1], 3),
        "target_p50_ms": 10.0,
    })
    return figures


class _Stopwatch:
    """Time spent inside the agent's own parts since the last `take()`."""

    def __init__(self) -> None:
        self.spent = 0.0

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent


class _Timed:
    """Forwards every call to `inner`, adding the time of `recall`, `learn`, `act` and
    `append` to the stopwatch (the environment and the LLM are not the agent's overhead)."""

    TIMED = frozenset({"recall", "learn", "act", "append"})

    def __init__(self, inner, clock: _Stopwatch):
        self._inner, self._clock = inner, clock

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        if name not in self.TIMED:
            return value

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._clock.spent += time.perf_counter() - started

        return timed
