"""Policies an agent session can act with: the LLM (the paper's agent) and an offline stand-in.

The offline policy is **not an LLM**: it exists so the whole loop, learning included, runs
anywhere without a key. It takes the memory's best encouraged action when its value is
positive, and otherwise explores with a word-overlap heuristic and seeded randomness.
"""

from __future__ import annotations

import random
import re

import attrs

from rememberer_tui.agent.session import Decision, PolicyError, StepContext
from rememberer_tui.envs.base import is_available, parse_action
from rememberer_tui.llm.exchange import Llm, LlmError, recording_call
from rememberer_tui.llm.parser import choose_action

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_STOP = frozenset(
    "a an and the of for to in with i am me my want need would like looking buy find get "
    "price lower than dollars please some that is are be it its".split()
)
_NAVIGATION = frozenset({"back to search", "< prev", "next >", "description", "features",
                         "reviews", "attributes"})


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def search_query(task: str) -> str:
    """The task's content words, price clause dropped: a query a person would type."""
    task = re.split(r",?\s*and price lower than", task.lower())[0]
    return " ".join(w for w in _WORD.findall(task) if w not in _STOP)


def _context_of(argument: str, observation: str) -> str:
    """For `click[x]` where `[x]` stands alone on a line (a product id): that line and the
    next (the product's title); otherwise x itself (an option, a button)."""
    lines = observation.lower().splitlines()
    for i, line in enumerate(lines):
        if line.strip() == f"[{argument}]":
            return " ".join(lines[i:i + 2])
    return argument


@attrs.define
class OfflinePolicy:
    """Seeded, deterministic given (seed, episode, step).

    Each available action scores its word overlap with the task (for a product link, with
    the product's title) plus `memory_weight` times what the memory says, scaled by how
    similar the remembered record is: its Q-value when encouraged, a penalty when
    discouraged (Q = 0: tried, nothing came of it). Without any
    memory opinion it explores at random with probability `epsilon`.
    """

    epsilon: float = 0.2
    memory_weight: float = 0.5
    discouraged_penalty: float = 0.25
    name: str = "offline (not an LLM)"
    model: str = "offline-heuristic"

    def act(self, context: StepContext) -> Decision:
        rng = random.Random(context.seed)
        available = context.available_actions
        concrete = [a for a in available if not a.endswith("[<query>]")]
        if len(concrete) < len(available) and (not concrete or not context.history):
            return Decision(f"search[{search_query(context.task)}]", "explore: search the task's words")
        candidates = [a for a in concrete if a not in context.tried] or concrete
        if not candidates:
            return Decision(available[0] if available else "", "explore: nothing else to do")
        memory: dict[str, float] = {}
        for s in context.recall.suggestions:
            if s.action in candidates:
                opinion = s.similarity * (s.value if s.encouraged else -self.discouraged_penalty)
                memory[s.action] = max(memory.get(s.action, opinion), opinion)
        if not any(v > 0 for v in memory.values()) and rng.random() < self.epsilon:
            return Decision(rng.choice(candidates), "explore: random")
        task_words = words(context.task)

        def heuristic(action: str) -> float:
            verb, argument = parse_action(action)
            argument = (argument or verb).lower()
            if argument in _NAVIGATION:
                return 0.0
            if argument == "buy now":
                return 0.5
            return float(len(task_words & words(_context_of(argument, context.observation))))

        repeats = {a: context.history.count(a) for a in candidates}  # an option clicked twice is a loop
        scored = [(heuristic(a) + self.memory_weight * memory.get(a, 0.0) - repeats[a], rng.random(), a)
                  for a in candidates]
        score, _, action = max(scored)
        if action in memory:
            return Decision(action, f"memory: value {memory[action]:.3g}, total score {score:.3g}")
        return Decision(action, f"explore: word overlap {score:g}")


@attrs.define
class LlmPolicy:
    """The paper's agent: the prompt with exemplars goes to an LLM; its Encouraged action is taken."""

    llm: Llm
    model: str
    name: str = "llm"

    def act(self, context: StepContext) -> Decision:
        events: list = []
        call = recording_call(self.llm, events, episode=context.episode, step=context.step)
        # The prompt template already says what to answer and how (the paper's single prompt).
        messages = [{"role": "user", "content": context.recall.exemplars}]
        try:
            choice = choose_action(call, messages, list(context.available_actions))
        except LlmError as exc:
            raise PolicyError(f"the LLM failed at {context.episode} step {context.step}: {exc}",
                              events) from None
        action = choice.action
        if not is_available(action, context.available_actions) and context.available_actions:
            action = context.available_actions[0]
        reason = choice.reason if not choice.fallback else f"fallback: {'; '.join(choice.problems)}"
        return Decision(action, reason, tuple(events))
