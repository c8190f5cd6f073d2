"""``pvc lab``: contributed to ``pvc`` through the ``pvc.cli`` entry-point group.

Light at import time (only click): the lab's machinery is imported when a subcommand runs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

# what a lab command may end in besides PVC's own errors: a command or a file the lab uses that failed in a
# way no part of the lab turned into a LabError yet; still one line, never a traceback
OUTSIDE_FAILURES = (subprocess.SubprocessError, OSError)


def _lab(state_dir: str | None) -> Any:
    from pvc_lab.lab import Lab, LabSettings

    return Lab(LabSettings.from_env(Path(state_dir) if state_dir else None))


def _saved_lab(state_dir: str | None) -> Any:
    """The lab as ``up`` made it (its manifest: prefix, subnet, ports), else as the environment says."""
    from pvc_lab.power import lab_from

    found = _lab(state_dir)
    return lab_from(found.state) if found.manifest.exists() else found


state_option = click.option(
    "--state-dir", envvar="PVC_LAB_DIR", default=None, help="Where the lab keeps its files (default /var/lib/pvc-lab)."
)


@click.group()
def lab() -> None:
    """A whole PVC cluster on this machine (needs root)."""


@lab.command()
@state_option
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for the nodes.")
def up(state_dir: str | None, timeout: float) -> None:
    """Build the lab: ZooKeeper ensemble, node namespaces on a bridge, a pvcd per node."""
    from pvc_core.errors import PvcError
    from pvc_lab.errors import LabError

    try:
        _lab(state_dir).up(progress=lambda line: click.echo(f"lab: {line}"), timeout=timeout)
    except (PvcError, *OUTSIDE_FAILURES) as exc:
        raise LabError(f"lab up failed: {exc} (clean up with 'pvc lab down')") from exc


@lab.command()
@state_option
@click.option("-o", "--format", "output_format", type=click.Choice(["pretty", "json"]), default="pretty")
def status(state_dir: str | None, output_format: str) -> None:
    """What of the lab is running."""
    state = _lab(state_dir).status()
    if output_format == "json":
        click.echo(json.dumps(state, indent=2))
        return
    click.echo(f"lab: {'up' if state['up'] else 'down'} ({state['state_dir']})")
    for member in state["zookeeper"]:
        serving = "serving" if member["serving"] else "not serving"
        click.echo(f"zookeeper {member['member']}: {member['address']} pid {member['pid'] or '-'} {serving}")
    for node in state["nodes"]:
        present = "present" if node["netns_present"] else "absent"
        click.echo(f"{node['node']}: netns {node['netns']} {present}, pvcd pid {node['pvcd_pid'] or '-'}")
    api = state["api"]
    if api is not None:
        answering = "answering" if api["answers"] else "not answering"
        click.echo(f"api: {api['url']}/api/v1 pid {api['pid'] or '-'} {answering}")


@lab.command()
@state_option
def demo(state_dir: str | None) -> None:
    """Walk through the lab: nodes, VMs, and a live migration while the guest keeps counting."""
    from pvc_core.errors import PvcError
    from pvc_lab.errors import LabError

    try:
        _lab(state_dir).demo(progress=lambda line: click.echo(f"demo: {line}"))
    except (PvcError, *OUTSIDE_FAILURES) as exc:
        raise LabError(f"lab demo failed: {exc}") from exc


@lab.command()
@state_option
def down(state_dir: str | None) -> None:
    """Remove every process, namespace and file the lab made (also after a crash)."""
    from pvc_core.errors import PvcError
    from pvc_lab.errors import LabError

    try:
        _lab(state_dir).down(progress=lambda line: click.echo(f"lab: {line}"))
    except PvcError:
        raise
    except OUTSIDE_FAILURES as exc:
        raise LabError(f"lab down failed: {exc}") from exc


@lab.group()
def fault() -> None:
    """Cause a real fault in the lab (each prints what it did and what to watch)."""


def _cause(what: str, fault_it: Callable[[], str]) -> None:
    """Cause a fault and print what it said; a command or file that failed under it is one line."""
    from pvc_lab.errors import LabError

    try:
        said = fault_it()
    except OUTSIDE_FAILURES as exc:
        raise LabError(f"lab fault {what} failed: {exc}") from exc
    click.echo(said)


def _fault_command(name: str, help_text: str) -> None:
    @fault.command(name, help=help_text)
    @state_option
    @click.argument("node")
    def command(state_dir: str | None, node: str) -> None:
        from pvc_lab.faults import node_fault

        _cause(f"{name} {node}", lambda: node_fault(_saved_lab(state_dir), name, node))


for _name, _help in (
    ("power-off", "Cut NODE's power through its BMC (every process in its namespace dies, its link goes down)."),
    ("power-on", "Power NODE on through its BMC (its daemons and pvcd start again)."),
    ("kill", "SIGKILL NODE's pvcd (its guests keep running)."),
    ("pause", "SIGSTOP NODE's pvcd (a hung daemon)."),
    ("resume", "SIGCONT NODE's pvcd."),
    ("partition", "Cut NODE off the cluster network (nftables drops all on its eth0)."),
    ("heal", "Undo partition."),
    ("kill-osd", "SIGKILL NODE's Ceph OSD daemons (its storage plugin starts them again)."),
    ("bmc-off", "Stop NODE's BMC answering (a fence of NODE fails)."),
    ("bmc-on", "Undo bmc-off."),
):
    _fault_command(_name, _help)


@fault.command("zookeeper")
@state_option
@click.argument("action", type=click.Choice(["stop", "start"]))
@click.argument("member", type=int)
def fault_zookeeper(state_dir: str | None, action: str, member: int) -> None:
    """Kill (stop) or start ZooKeeper member MEMBER (1, 2 or 3)."""
    from pvc_lab.faults import zookeeper_fault

    _cause(f"zookeeper {action} {member}", lambda: zookeeper_fault(_saved_lab(state_dir), action, member))
