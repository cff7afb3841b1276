"""Safe SQL expressions in definitions: parsed with sqlglot, checked, re-rendered with quoted names.

A `where` filter is one boolean expression over the entity's columns: no statements, no subqueries,
no tables, only allow-listed functions. What reaches the generated SQL is sqlglot's rendering of the
checked tree, never the user's text, so a definition can only run the query it describes.
"""

from __future__ import annotations

import difflib

import sqlglot
from sqlglot import exp

FUNCTIONS = {
    "lower", "upper", "trim", "length", "coalesce", "nullif", "abs", "round", "floor", "ceil",
    "least", "greatest", "starts_with", "ends_with", "contains", "date_part", "extract",
    "strftime", "hour", "minute", "dayofweek", "isodow", "year", "month", "day", "if",
}  # fmt: skip

ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is,
    exp.In, exp.Between, exp.Like, exp.ILike, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod,
    exp.Neg, exp.DataType, exp.Var, exp.DPipe,
)  # fmt: skip
# Function-like constructs that are syntax rather than calls.
STRUCTURAL: tuple[type[exp.Expression], ...] = (
    exp.Case, exp.If, exp.Cast, exp.TryCast, exp.Interval, exp.Extract,
)  # fmt: skip
FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Select, exp.Subquery, exp.Query, exp.Table, exp.Star, exp.Placeholder, exp.Parameter,
    exp.Command, exp.Window, exp.AggFunc,
)  # fmt: skip


class ExpressionError(ValueError):
    pass


def check_expression(text: str, columns: list[str], *, what: str = "filter") -> str:
    """Return the expression rendered with quoted identifiers, or raise ExpressionError."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"{what} is empty")
    if ";" in text:
        raise ExpressionError(f"{what} must be one expression; `;` is not allowed")
    try:
        parsed = sqlglot.parse(text, dialect="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise ExpressionError(f"{what} does not parse as SQL: {_short(exc)}") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise ExpressionError(f"{what} must be exactly one expression")
    tree = parsed[0]
    if isinstance(tree, exp.Query | exp.Command | exp.DDL | exp.DML) or not isinstance(
        tree, exp.Condition | exp.Column | exp.Literal | exp.Boolean | exp.Func | exp.Paren
    ):
        raise ExpressionError(f"{what} must be an expression, not a statement")
    for node in tree.walk():
        _check_node(node, columns, what)
    return tree.sql(dialect="duckdb", identify=True)


def referenced_columns(text: str) -> set[str]:
    tree = sqlglot.parse_one(text, dialect="duckdb")
    return {c.name for c in tree.find_all(exp.Column)}


def _check_node(node: exp.Expression, columns: list[str], what: str) -> None:
    if isinstance(node, FORBIDDEN_NODES):
        kind = "aggregate" if isinstance(node, exp.AggFunc) else type(node).__name__.lower()
        raise ExpressionError(f"{what} may not contain a {kind}")
    if isinstance(node, exp.Column):
        if node.table:
            raise ExpressionError(f"{what} may not name a table (`{node.sql()}`)")
        if node.name not in columns:
            raise ExpressionError(f"unknown column `{node.name}`{did_you_mean(node.name, columns)}")
        return
    if isinstance(node, ALLOWED_NODES + STRUCTURAL):
        return
    if isinstance(node, exp.Func):
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if name not in FUNCTIONS:
            raise ExpressionError(
                f"function `{name}` is not allowed in a {what}{did_you_mean(name, FUNCTIONS)}"
            )
        return
    if not isinstance(node, ALLOWED_NODES):
        raise ExpressionError(f"{what} may not contain `{node.sql(dialect='duckdb')[:40]}`")


def did_you_mean(name: str, options) -> str:
    close = difflib.get_close_matches(name, sorted(options), n=1, cutoff=0.5)
    if not close:
        for option in sorted(options):
            if option.startswith(name) or name.startswith(option):
                close = [option]
                break
    return f": did you mean `{close[0]}`?" if close else ""


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
