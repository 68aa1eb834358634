"""The real-WebShop adapter against recorded pages served by a local http.server.

The pages in fixtures/webshop_pages are WebShop's own templates rendered for the paper's
published example task, so the observations must equal the keys of the paper's pool
(init_pool.wq.yaml) byte for byte, and the URLs must be ones WebShop's Flask routes parse.
"""

from __future__ import annotations

import ast
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
import yaml

from rememberer_tui.envs import EnvError, make_env
from rememberer_tui.envs.webshop import webshop_splits
from rememberer_tui.envs.webshop_text import read_page
from tests.conftest import FIXTURES, REFERENCE_POOLS

PAGES = FIXTURES / "webshop_pages"
INSTRUCTION = ("i would like a 3 ounce bottle of bright citrus deodorant for sensitive skin, "
               "and price lower than 40.00 dollars")


def page_for(path: str) -> str | None:
    """Route a request as WebShop's app would, to the recorded page for session fixed_0."""
    parts = path.strip("/").split("/")
    if parts == ["fixed_0"]:
        return "search_page.html"
    if parts[0] == "search_results" and len(parts) == 4:
        return f"results_page_{parts[3]}.html"
    if parts[0] == "item_page" and len(parts) == 6:
        return f"item_page_{parts[2]}.html"
    if parts[0] == "item_sub_page" and len(parts) == 7:
        return f"{parts[5].lower()}_page_{parts[2]}.html"
    if parts[0] == "done" and len(parts) == 4:
        return "done_page.html"
    return None


@pytest.fixture
def server():
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            requests.append(self.path)
            name = page_for(self.path)
            if name is None or not (PAGES / name).exists():
                self.send_error(404)
                return
            body = (PAGES / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def pool_keys() -> list[tuple[str, str, str]]:
    loader = type("PoolLoader", (yaml.SafeLoader,), {})
    loader.add_constructor("tag:yaml.org,2002:python/tuple", lambda l, n: tuple(l.construct_sequence(n)))
    with (REFERENCE_POOLS / "init_pool.wq.yaml").open(encoding="utf-8") as handle:
        return list(yaml.load(handle, Loader=loader))


def clickables(available: list[str]) -> str:
    """The pool's third key element: the page's clickables, one a line."""
    return "\n".join(a.removeprefix("click[").removesuffix("]") for a in available if a.startswith("click["))


def test_the_adapter_reproduces_the_papers_pool_observations(server):
    url, _ = server
    keys = pool_keys()
    env = make_env("webshop", url=url)
    observation, info = env.reset(options={"task_index": 0})
    assert observation == keys[0][0]
    assert info["task"] == INSTRUCTION and keys[0][1] == "Instruction:" + INSTRUCTION
    assert info["task_id"] == "fixed_0" and info["available_actions"] == ["search[<query>]"]

    for key, action in zip(keys[1:], ["search[3 ounce bright citrus deodorant sensitive skin]",
                                      "click[B078GWRC1J]", "click[bright citrus]"]):
        observation, reward, terminated, truncated, info = env.step(action)
        assert observation == key[0]
        assert clickables(info["available_actions"]) == key[2]
        assert (reward, terminated, truncated, info["invalid_action"]) == (0.0, False, False, False)


def test_urls_are_the_ones_webshops_routes_parse(server):
    url, requests = server
    env = make_env("webshop", url=url)
    env.reset(options={"task_index": 0})
    env.step("search[3 Ounce bright/citrus]")
    env.step("click[b078gwrc1j]")
    env.step("click[bright citrus]")
    env.step("click[3 ounce (pack of 1)]")
    env.step("click[description]")
    env.step("click[< prev]")
    env.step("click[buy now]")
    paths = [unquote(p) for p in requests]
    assert paths[0] == "/fixed_0"
    route, session, words, page = paths[1].strip("/").split("/")
    # The app runs literal_eval on the keywords and options segments.
    assert (route, session, ast.literal_eval(words), page) == (
        "search_results", "fixed_0", ["3", "ounce", "bright", "citrus"], "1")
    assert ast.literal_eval(paths[2].split("/")[-1]) == {}
    assert ast.literal_eval(paths[4].split("/")[-1]) == {"scent": "bright citrus", "size": "3 ounce (pack of 1)"}
    assert paths[5].split("/")[1] == "item_sub_page" and paths[5].split("/")[6] == "Description"
    assert paths[6].split("/")[1] == "item_page"
    done, options = paths[7].rsplit("/", 1)
    assert done == "/done/fixed_0/B078GWRC1J"
    assert ast.literal_eval(options) == {"scent": "bright citrus", "size": "3 ounce (pack of 1)"}


def test_paging_sub_pages_and_back_keep_webshops_session_state(server):
    url, _ = server
    env = make_env("webshop", url=url)
    env.reset(options={"task_index": 0})
    env.step("search[deodorant]")
    page2, *_ = env.step("click[next >]")
    assert "Page 2 (Total results: 50)\n[< Prev]\n[Next >]\n[B07XG1YDY4]" in page2
    page1, *_ = env.step("click[< prev]")
    assert "Page 1 (Total results: 50)\n[Next >]\n[B078GWRC1J]" in page1
    env.step("click[b078gwrc1j]")
    env.step("click[3 ounce (pack of 1)]")
    description, _, _, _, info = env.step("click[description]")
    assert description.endswith("[< Prev]\nEarth Mama Deodorant is a natural deodorant made with organic "
                                 "calendula, witch hazel and baking soda free ingredients. Safe for sensitive "
                                 "skin, pregnancy and breastfeeding; dermatologist reviewed and free of "
                                 "aluminum, parabens and phthalates.\n")
    assert info["available_actions"] == ["click[back to search]", "click[< prev]"]
    item, *_ = env.step("click[< prev]")
    assert item.startswith("\nYou have clicked 3 ounce (pack of 1).\nInstruction:")  # the choice survives
    results, *_ = env.step("click[< prev]")
    assert "\n[[B078GWRC1J]]\n" in results  # a visited product is marked
    search, _, _, _, info = env.step("click[back to search]")
    assert search.startswith("\nWebShop\n") and info["available_actions"] == ["search[<query>]"]
    results, *_ = env.step("search[deodorant]")
    assert "\n[B078GWRC1J]\n" in results  # Back to Search forgot the visits


def test_buy_now_terminates_with_the_score_of_the_done_page(server):
    url, _ = server
    env = make_env("webshop", url=url)
    env.reset(options={"task_index": 0})
    env.step("search[bright citrus deodorant]")
    env.step("click[b078gwrc1j]")
    env.step("click[bright citrus]")
    observation, reward, terminated, truncated, info = env.step("click[buy now]")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert observation.endswith("Your score (min 0.0, max 1.0)\n1.0\n")
    assert "price upper" not in observation  # the page's hidden goal details stay hidden
    assert info["available_actions"] == []
    with pytest.raises(EnvError, match="call reset"):
        env.step("click[back to search]")


def test_an_unavailable_action_changes_nothing_and_fetches_nothing(server):
    url, requests = server
    env = make_env("webshop", url=url)
    start, _ = env.reset(options={"task_index": 0})
    for action in ["click[search]", "click[buy now]", "search[]", "buy it", "click[b078gwrc1j]"]:
        observation, reward, terminated, truncated, info = env.step(action)
        assert (observation, reward, terminated, truncated) == (start, 0.0, False, False)
        assert info["invalid_action"] is True
    results, *_ = env.step("search[deodorant]")
    _, _, _, _, info = env.step("search[another query]")  # no search box on a results page
    assert info["invalid_action"] is True
    assert len(requests) == 2


def test_the_step_budget_truncates_without_terminating(server):
    url, _ = server
    env = make_env("webshop", url=url, max_steps=2)
    env.reset(options={"task_index": 0})
    assert env.step("search[deodorant]")[2:4] == (False, False)
    assert env.step("click[next >]")[2:4] == (False, True)
    env.reset(options={"task_index": 0})  # a new episode gets a fresh budget
    assert env.step("search[deodorant]")[2:4] == (False, False)


def test_an_unreachable_server_and_a_missing_page_are_clear_errors(server):
    url, _ = server
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = make_env("webshop", url=f"http://127.0.0.1:{closed}", timeout=5)
    with pytest.raises(EnvError, match="cannot reach WebShop at http://127.0.0.1"):
        env.reset(options={"task_index": 0})
    env = make_env("webshop", url=url)
    with pytest.raises(EnvError, match="answered 404"):
        env.reset(options={"task_index": 1})  # fixed_1 was not recorded
    with pytest.raises(EnvError, match="outside split 'test'"):
        env.reset(options={"task_index": 500})
    with pytest.raises(EnvError, match="no option colour"):
        make_env("webshop", colour="red")


def test_sessions_follow_webshops_goal_splits():
    splits = webshop_splits()
    assert splits["test"][:2] == ["fixed_0", "fixed_1"] and splits["eval"][0] == "fixed_500"
    assert splits["train"][0] == "fixed_1500" and sum(len(s) for s in splits.values()) == 12087


def test_all_results_show_when_max_products_is_none():
    page = read_page((PAGES / "results_page_1.html").read_text(encoding="utf-8"), max_products=None)
    assert page.observation.count("\n[B0") == 10
    assert [c.kind for c in page.clickables.values()].count("product") == 10
    three = read_page((PAGES / "results_page_1.html").read_text(encoding="utf-8"))
    assert three.observation.count("\n[B0") == 3 and "Tom's of Maine" not in three.observation
