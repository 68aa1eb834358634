"""Text environments for agent sessions, all behind one Gymnasium-shaped protocol (base.py)."""

from rememberer_tui.envs.base import EnvError, StepLimit, TextEnv, is_available, parse_action
from rememberer_tui.envs.registry import list_envs, make_env

__all__ = ["EnvError", "StepLimit", "TextEnv", "is_available", "list_envs", "make_env", "parse_action"]
