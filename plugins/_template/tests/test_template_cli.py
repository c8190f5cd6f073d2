"""The ``pvc template`` command: runs without a cluster, appears under ``pvc``, and imports only click."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from pvc_cli.main import cli
from pvc_plugin_template.cli import template

pytestmark = pytest.mark.unit


def test_hello() -> None:
    result = CliRunner().invoke(template, ["hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello, world!\n"


def test_hello_name_and_greeting() -> None:
    result = CliRunner().invoke(template, ["hello", "operator", "--greeting", "hi"])
    assert result.exit_code == 0, result.output
    assert result.output == "hi, operator!\n"


def test_pvc_lists_template() -> None:
    with click.Context(cli) as ctx:
        assert isinstance(cli, click.Group)
        assert "template" in cli.list_commands(ctx)
        assert cli.get_command(ctx, "template") is template


def test_pvc_runs_template_hello() -> None:
    result = CliRunner().invoke(cli, ["template", "hello", "ops"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello, ops!\n"


def test_cli_module_is_light() -> None:
    code = (
        "import sys, pvc_plugin_template.cli\n"
        "heavy = sorted(m for m in ('pvc_core', 'kazoo', 'pydantic', 'pvc_cli') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
