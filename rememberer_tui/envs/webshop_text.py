"""WebShop HTML -> the `text_rich` observation and clickables the REMEMBERER paper used.

The rendering follows the paper authors' WebShop fork (WebAgentTextEnv.convert_html_to_text):
buttons and product ids become `[text]` lines, option labels `[value]` (`[[value]]` once
chosen, with a `You have clicked value.` line in front), visited products `[[ASIN]]`, other
visible text its own line; only the first `max_products` results are shown (3 in the paper).
Lines are trimmed and blank ones dropped, so the text equals the published pool's keys
(init_pool.wq.yaml) byte for byte.
Clickables are collected as WebShop does: `.btn` elements, `.product-link`s, radio options.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
_INVISIBLE = frozenset({"style", "script", "head", "title", "meta", "template", "noscript"})


@dataclass(eq=False)
class _Element:
    tag: str
    attrs: dict[str, str]
    parent: _Element | None = None
    children: list[_Element | str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        yield self
        for child in self.children:
            if isinstance(child, _Element):
                yield from child.walk()


class _TreeBuilder(HTMLParser):
    """A forgiving DOM: void tags close themselves, a stray end tag is ignored."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("[document]", {})
        self._open = self.root

    def handle_starttag(self, tag, attrs):
        element = _Element(tag, {k: v or "" for k, v in attrs}, self._open)
        self._open.children.append(element)
        if tag not in _VOID:
            self._open = element

    def handle_startendtag(self, tag, attrs):
        self._open.children.append(_Element(tag, {k: v or "" for k, v in attrs}, self._open))

    def handle_endtag(self, tag):
        node = self._open
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self._open = node.parent

    def handle_data(self, data):
        self._open.children.append(data)


@dataclass(frozen=True)
class Clickable:
    kind: str  # "button" | "product" | "option"
    text: str
    group: str = ""  # an option's group, e.g. "size"


@dataclass(frozen=True)
class WebPage:
    observation: str
    clickables: dict[str, Clickable]  # lower-cased text -> clickable, in WebShop's order
    has_search_bar: bool
    instruction: str | None
    reward: float | None


def _hidden(element: _Element) -> bool:
    style = element.attrs.get("style", "").replace(" ", "").lower()
    return element.tag in _INVISIBLE or "hidden" in element.attrs or "display:none" in style


def _visible_texts(element: _Element):
    for child in element.children:
        if isinstance(child, str):
            yield child, element
        elif not _hidden(child):
            yield from _visible_texts(child)


def read_page(html: str, *, selected: Mapping[str, str] | None = None,
              visited: Collection[str] = (), max_products: int | None = 3) -> WebPage:
    """Parse one WebShop page. `selected` maps option group -> chosen value; `visited` holds
    the ASINs opened since the last search; `max_products=None` shows every result."""
    selected = dict(selected or {})
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    root = builder.root
    elements = list(root.walk())
    radios = {e.attrs.get("id", ""): e for e in elements
              if e.tag == "input" and e.attrs.get("type") == "radio"}

    pieces: list[str] = []
    clicked: list[str] = []
    products = 0
    since_product = 0
    for text, parent in _visible_texts(root):
        if not text.strip():
            continue
        if parent.tag == "button":
            piece = f"\n[{text}]"
        elif parent.tag == "label":
            radio = radios.get(parent.attrs.get("for", ""))
            chosen = radio is not None and selected.get(radio.attrs.get("name", "")) == radio.attrs.get("value")
            piece = f"[[{text}]]" if chosen else f"[{text}]"
            if chosen:
                clicked.insert(0, f"\nYou have clicked {text}.")
        elif parent.classes == ["product-link"]:
            piece = f"\n[[{text}]]" if text.strip().upper() in visited else f"\n[{text}]"
            if max_products is not None and products >= max_products:
                piece = ""
            products += 1
            since_product = 0
        else:
            piece = f"\n{text} "
            if max_products is not None and products > max_products and since_product <= 2:
                piece = ""  # the title and price of a product not shown
        since_product += 1
        pieces.append(piece)
    lines = "".join(clicked + pieces).split("\n")
    observation = "\n" + "".join(line.strip() + "\n" for line in lines if line.strip())

    clickables: dict[str, Clickable] = {}
    links = [e for e in elements if e.classes == ["product-link"]]
    for element in [e for e in elements if "btn" in e.classes] + links[:max_products]:
        kind = "product" if element in links else "button"
        clickables[element.text().strip().lower()] = Clickable(kind, element.text().strip())
    for radio in radios.values():
        value = radio.attrs.get("value", "")
        clickables.setdefault(value.lower(), Clickable("option", value, radio.attrs.get("name", "")))

    instruction = None
    box = next((e for e in elements if e.attrs.get("id") == "instruction-text"), None)
    heading = next((e for e in box.walk() if e.tag == "h4"), None) if box else None
    if heading is not None:
        instruction = heading.text().strip().removeprefix("Instruction:").strip()
    reward = None
    score = next((e for e in elements if e.attrs.get("id") == "reward"), None)
    if score is not None:
        pre = next((e for e in score.walk() if e.tag == "pre"), score)
        reward = float(pre.text().strip())
    return WebPage(observation, clickables, any(e.attrs.get("id") == "search_input" for e in elements),
                   instruction, reward)
