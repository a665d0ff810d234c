"""Mutants generated from a Python file's syntax tree, each one plausible mistake in one place: a comparison off by
one or turned around, `and` for `or`, a `not` forgotten, a number off by one or in the wrong unit, a flag
flipped, a check's `raise` dropped, an entry missing from a literal list. Strings are left alone (mostly messages),
and so are docstrings and type annotations, which do not run."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

OPPOSITE_COMPARISON: dict[type[ast.cmpop], ast.cmpop] = {
    ast.Lt: ast.LtE(), ast.LtE: ast.Lt(), ast.Gt: ast.GtE(), ast.GtE: ast.Gt(), ast.Eq: ast.NotEq(),
    ast.NotEq: ast.Eq(), ast.In: ast.NotIn(), ast.NotIn: ast.In(), ast.Is: ast.IsNot(), ast.IsNot: ast.Is()}

# Keywords whose value changes no behaviour of correct code: how output looks, and zip's strict= (a guard that only
# fires on a programming error, when two sequences built to match do not).
NOT_BEHAVIOUR = {"flush", "indent", "end", "sep", "file", "strict"}


@dataclass(frozen=True)
class Mutant:
    """Replace the text between two (line, column) positions of `path` (lines from 1, columns in characters).
    `statement` is the first line of the statement the change sits in: coverage credits a statement that spans
    several lines to its first."""

    path: str
    start: tuple[int, int]
    end: tuple[int, int]
    new: str
    what: str
    statement: int

    @property
    def name(self) -> str:
        return f"{self.path}:{self.start[0]}:{self.start[1]}: {self.what}"

    def apply(self, text: str) -> str:
        lines = text.splitlines(keepends=True)
        offset = [0]
        for line in lines:
            offset.append(offset[-1] + len(line))
        begin = offset[self.start[0] - 1] + self.start[1]
        finish = offset[self.end[0] - 1] + self.end[1]
        return text[:begin] + self.new + text[finish:]


def _position(lines: list[str], line: int, byte_column: int) -> tuple[int, int]:
    """ast counts columns in UTF-8 bytes; Mutant in characters."""
    return line, len(lines[line - 1].encode()[:byte_column].decode())


class _Collector(ast.NodeVisitor):
    def __init__(self, path: str, text: str) -> None:
        self.path, self.lines, self.found = path, text.splitlines(keepends=True), []
        self.statement = 1

    def visit(self, node: ast.AST) -> None:
        if not isinstance(node, ast.stmt):
            super().visit(node)
            return
        outer, self.statement = self.statement, node.lineno
        try:
            super().visit(node)
        finally:
            self.statement = outer

    def _add(self, node: ast.AST, new: str, what: str) -> None:
        start = _position(self.lines, node.lineno, node.col_offset)
        end = _position(self.lines, node.end_lineno, node.end_col_offset)
        statement = node.lineno if isinstance(node, ast.stmt) else self.statement
        self.found.append(Mutant(self.path, start, end, new, what, statement))

    def visit_Compare(self, node: ast.Compare) -> None:
        turned = ast.Compare(node.left, [OPPOSITE_COMPARISON[type(node.ops[0])], *node.ops[1:]], node.comparators)
        self._add(node, f"({ast.unparse(turned)})", f"{ast.unparse(node)!r} turned around")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, f"({ast.unparse(ast.BoolOp(other, node.values))})", f"{type(node.op).__name__} swapped")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, f"({ast.unparse(node.operand)})", "`not` forgotten")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self._add(node, str(not value), f"{value} flipped")
        elif isinstance(value, int):
            changed = 1 - value if value in (0, 1) else value + 1 if value < 100 else value * 10
            self._add(node, str(changed), f"{value} -> {changed}")
        elif isinstance(value, float):
            self._add(node, repr(value * 10), f"{value} ten times larger")

    def visit_If(self, node: ast.If) -> None:
        if ast.unparse(node.test) == "__name__ == '__main__'":
            return
        for statement in node.body:
            if isinstance(statement, ast.Raise):
                self._add(statement, "pass", "check dropped (raise removed)")
        self.generic_visit(node)

    def _visit_collection(self, node: ast.List | ast.Tuple | ast.Set) -> None:
        items = node.elts
        if len(items) >= 2 and all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items):
            self._add(items[-1], "", f"{items[-1].value!r} left out")
            # leaves `a, ` or `[a, ]`: still the same collection without its last entry
        self.generic_visit(node)

    def visit_List(self, node: ast.List) -> None:
        self._visit_collection(node)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        self._visit_collection(node)

    def visit_Set(self, node: ast.Set) -> None:
        self._visit_collection(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg not in NOT_BEHAVIOUR:
            self.visit(node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """Format specifications and the like are text, not values."""

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._visit_body(node.body)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.visit_FunctionDef(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._visit_body(node.body)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def _visit_body(self, body: list[ast.stmt]) -> None:
        for statement in body[_docstring_length(body):]:
            self.visit(statement)

    def visit_Module(self, node: ast.Module) -> None:
        self._visit_body(node.body)


def _docstring_length(body: list[ast.stmt]) -> int:
    first = body[0] if body else None
    is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
        and isinstance(first.value.value, str)
    return 1 if is_docstring else 0


def mutants_of(path: Path, root: Path) -> list[Mutant]:
    """Every mutant of one Python file, in source order."""
    text = path.read_text()
    tree = ast.parse(text)
    collector = _Collector(str(path.relative_to(root)), text)
    collector.visit(tree)
    return collector.found
