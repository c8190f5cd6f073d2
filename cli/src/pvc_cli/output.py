"""Output: ``-o pretty`` (tables for people) or ``-o json`` (for scripts), on every read command."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click

FORMATS = ("pretty", "json")


def format_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-o",
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="pretty",
        show_default=True,
        help="Output format.",
    )(function)


def emit(data: Any, output_format: str, pretty: Callable[[Any], str]) -> None:
    if output_format == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        click.echo(pretty(data))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def mapping(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max((len(key) for key, _ in pairs), default=0)
    return "\n".join(f"{key + ':':<{width + 1}}  {value}" for key, value in pairs)
