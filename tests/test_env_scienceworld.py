"""ScienceWorld: clear errors when Java or the extra is missing; one short real episode."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time

import pytest

from rememberer_tui.envs import EnvError, make_env
from tests.conftest import ROOT

HAS_JAVA = shutil.which("java") is not None
HAS_PACKAGE = importlib.util.find_spec("scienceworld") is not None
TRY_MAKE = (
    "from rememberer_tui.envs import EnvError, make_env\n"
    "try:\n"
    "    make_env('scienceworld')\n"
    "except EnvError as exc:\n"
    "    print(exc)\n"
    "    raise SystemExit(3)\n"
)


def run_python(code: str, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def test_without_java_on_path_the_error_says_what_to_install(tmp_path):
    # An empty directory as the whole PATH: no `java` anywhere.
    done = run_python(TRY_MAKE, str(tmp_path))
    assert done.returncode == 3, done.stderr
    assert "needs Java (17 or newer) on PATH" in done.stdout and "openjdk-17" in done.stdout


@pytest.mark.skipif(not HAS_JAVA, reason="Java is not on PATH, so the Java message comes first")
def test_without_the_package_the_error_names_the_extra():
    # A None entry in sys.modules makes `import scienceworld` fail as if it were not installed.
    done = run_python("import sys\nsys.modules['scienceworld'] = None\n" + TRY_MAKE, os.environ["PATH"])
    assert done.returncode == 3, done.stderr
    assert "pip install 'rememberer[scienceworld]'" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAVA, reason="ScienceWorld needs Java 17 on PATH")
@pytest.mark.skipif(not HAS_PACKAGE, reason="the scienceworld extra is not installed "
                                            "(pip install 'rememberer[scienceworld]')")
def test_a_short_episode_scales_scores_and_keeps_terminated_apart_from_truncated():
    started = time.perf_counter()
    env = make_env("scienceworld", task="find-living-thing", max_steps=2)
    jvm_seconds = time.perf_counter() - started
    try:
        observation, info = env.reset(options={"task_index": 0})
        assert observation.startswith("This room is called the hallway.")
        assert info["task"].startswith("Your task is to find a(n) living thing.")
        assert info["task_id"] == "find-living-thing/" + str(env.variations("find-living-thing", "train")[0])
        assert info["available_actions"] == sorted(info["available_actions"])
        assert "go to kitchen" in info["available_actions"] and "focus on agent" in info["available_actions"]
        start_score = info["score"]

        same, reward, terminated, truncated, info = env.step("fly to the moon")
        assert (same, reward, terminated, truncated, info["invalid_action"]) == (observation, 0.0, False, False, True)
        moved, reward, terminated, truncated, info = env.step("go to kitchen")
        assert moved == "You move to the kitchen."
        assert reward == pytest.approx(info["score"] - start_score) and reward > 0
        assert (terminated, truncated) == (False, True)  # the budget of 2 steps ran out

        again, info = env.reset(options={"task_index": 0})
        assert again == observation and info["score"] == start_score  # a fresh, identical episode
        _, reward, terminated, truncated, info = env.step("focus on agent")  # the wrong thing: failed
        assert (terminated, truncated) == (True, False)
        assert info["score"] < 0 and reward == pytest.approx(info["score"] - start_score)

        with pytest.raises(EnvError, match="unknown ScienceWorld task 'nope'"):
            env.reset(options={"task": "nope"})
    finally:
        env.close()
    print(f"ScienceWorld JVM start: {jvm_seconds:.1f} s")
