"""The one YAML loader for every file Klub reads (config, tutorials, catalogs, vocabulary, test cases).

PyYAML's SafeLoader builds no objects but still trusts the document's shape. This one bounds it:
- the size of the text, so nobody loads a 1 GB file by mistake;
- the nesting depth, because PyYAML composes recursively (100,000 ``[`` is a RecursionError);
- the number of nodes once aliases are expanded (« billion laughs »: ten lines that every later walk
  over the data — ours, pydantic's — turns into billions of nodes);
- duplicate keys, which PyYAML would silently resolve in favour of the last one.
Every refusal is a ``YamlError`` with a French message and, when known, the line.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 5_000_000
MAX_DEPTH = 64
MAX_NODES = 200_000  # after alias expansion; the whole shipped tutorial base is under 10,000


class YamlError(ValueError):
    """The document was refused; ``str(exc)`` is one French line, without the file name."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"ligne {line} : {message}" if line else message)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with bounded depth and expansion; duplicate keys are collected in ``duplicates``."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, int]] = []
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlError(f"imbrication trop profonde (plus de {MAX_DEPTH} niveaux)", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool):
                if key in seen:
                    self.duplicates.append((str(key), key_node.start_mark.line + 1))
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes the tree would have with every alias copied out; stops counting past MAX_NODES."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk: the depth is bounded already, but there is no need to recurse.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            total = 1 + sum(sizes.get(id(c), 0) for c in children)
            sizes[id(node)] = min(total, MAX_NODES + 1)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def parse(text: str) -> tuple[Any, list[tuple[str, int]]]:
    """The document and the duplicate keys found (key, line). Raises YamlError for anything refused."""
    if len(text) > MAX_BYTES:
        raise YamlError(f"fichier trop gros (plus de {MAX_BYTES // 1_000_000} Mo)")
    loader: StrictLoader | None = None
    try:
        loader = StrictLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, []
        if _expanded_size(node) > MAX_NODES:
            raise YamlError(f"document trop grand une fois les alias (&, *) développés (plus de {MAX_NODES} éléments)")
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = str(exc.problem or exc.context or "syntaxe invalide").replace("\n", " ")
        raise YamlError(f"YAML invalide ({problem})", mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        what = "caractère NUL" if exc.character in ("\0", 0) else f"caractère interdit {exc.character!r}"
        raise YamlError(f"YAML invalide ({what}, position {exc.position})") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML invalide ({str(exc).splitlines()[0] if str(exc) else 'syntaxe'})") from None
    except RecursionError:
        raise YamlError(f"imbrication trop profonde (plus de {MAX_DEPTH} niveaux)") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, loader.duplicates


def load(text: str) -> Any:
    """The document, refusing duplicate keys (the first one is named with its line)."""
    data, duplicates = parse(text)
    if duplicates:
        key, line = duplicates[0]
        raise YamlError(f"clé « {key} » en double (la seconde écraserait la première)", line)
    return data
