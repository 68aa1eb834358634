"""The LLM side of agent sessions: a client for OpenAI-compatible servers, the parser of
the Encouraged/Discouraged answer format, and an LLM replayed from a recorded run."""
