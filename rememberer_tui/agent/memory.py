"""The memory an agent session reads and teaches: the fold's state, a retrieval index that
follows it through the fold's listener hooks, and the prompt builder. With `--no-memory`
or `--static-exemplars` it still builds the prompt (without memory exemplars) and still
folds, so the log of a baseline run replays like any other.

Learning goes through `replay.fold.apply` with the `Recorded` event the store returned,
the same call replay makes, so the live memory is the replayed one by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

from rememberer_tui.agent.session import Recall, Suggestion
from replay.exemplars import ExemplarOptions, build_prompt
from replay.fold import FoldState, apply, initial_state
from replay.index import RetrievalIndex
from replay.matchers import CombinedMatcher
from replay.retrieval import ItemSimilarity
from store.events import RLConfig
from store.recorder import Recorded


class LiveMemory:
    def __init__(self, config: RLConfig, matcher: CombinedMatcher, options: ExemplarOptions,
                 seed: int, state: FoldState | None = None):
        self.matcher = matcher
        self.options = options
        self.seed = seed
        similarity = ItemSimilarity(matcher) if config.item_capacity else None
        if state is None:
            state = initial_state(config, similarity=similarity)
        # Only a memory that is shown needs an index (and, for embeddings, the model).
        self.index = RetrievalIndex.build(state.records.values(), matcher) if options.memory == "memory" else None
        if self.index is not None:
            state.listeners = (*state.listeners, self.index)
        self.state = state

    def learn(self, recorded: Recorded) -> None:
        apply(recorded, self.state)

    def recall(self, task: str, observation: str, available_actions: Sequence[str], moment: int, *,
               history: Sequence[tuple[str, str]] = (), last_reward: float = 0.0,
               total_reward: float = 0.0) -> Recall:
        prompt = build_prompt(self.index if self.index else None, task, observation, seed=self.seed,
                              position=moment, options=self.options, history=history,
                              reward=last_reward, total_reward=total_reward,
                              available_actions=list(available_actions))
        # The learned values themselves (not the exemplars' random fallbacks, which are
        # prompt material for an LLM): what a non-LLM policy may exploit.
        suggestions = [Suggestion(action, stats.q, stats.reason, encouraged=stats.q > 0,
                                  similarity=exemplar.retrieved.score)
                       for exemplar in prompt.exemplars
                       for action, stats in exemplar.retrieved.record.actions.items()]
        records = [e.retrieved.to_dict() for e in prompt.exemplars]
        return Recall(records=records, exemplars=prompt.text, suggestions=tuple(suggestions))
