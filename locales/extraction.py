"""The Babel extraction method for this project's Python code: calls only, read with `ast`.

Babel's own Python extractor works on tokens, and since Babel 2.17 it also takes `name[` for a
call, so `button["payload"]` became a message of the `button` keyword. Reading the syntax tree
instead makes a keyword match exactly a call of a function or method of that name
(`translate(...)`, `speaker.button(...)`), never a variable, a subscript or an attribute read,
whatever Babel's tokenizer does in its next release.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from typing import IO, Any

# Babel's interface: (line number, keyword, positional arguments (None where not a literal
# string), translator comments). Babel picks the message and plural from the arguments by the
# keyword's spec ("translate:2", "translate_plural:2,3").
ExtractedCall = tuple[int, str, "str | None | tuple[str | None, ...]", list[str]]


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def extract_calls(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Any,
    options: Mapping[str, Any],
) -> Iterator[ExtractedCall]:
    """Yield the literal string arguments of every call of a keyword function or method."""
    source = fileobj.read()
    tree = ast.parse(source, filename=getattr(fileobj, "name", "<source>"))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    for call in sorted(calls, key=lambda node: (node.lineno, node.col_offset)):
        name = _called_name(call)
        if name is None or name not in keywords:
            continue
        arguments = tuple(_literal(argument) for argument in call.args)
        if not any(arguments):
            continue
        yield call.lineno, name, arguments if len(arguments) > 1 else arguments[0], []
