"""Shell completion of names that live in the cluster (node names), with a short timeout."""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem


def _cluster_names(ctx: click.Context, what: str) -> list[str]:
    from pvc_cli.connections import resolve
    from pvc_core.client import Cluster

    root: Any = ctx.find_root()
    target = resolve(root.params.get("connection"))
    with Cluster.connect(target.zookeeper, timeout=2.0) as cluster:
        if what == "vm":
            return [record.name for record in cluster.vms.list()]
        return [view.name for view in cluster.nodes()]


def complete_vm(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        names = _cluster_names(ctx, "vm")
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def complete_node(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        from pvc_cli.connections import resolve
        from pvc_core.client import Cluster

        root: Any = ctx.find_root()
        target = resolve(root.params.get("connection"))
        with Cluster.connect(target.zookeeper, timeout=2.0) as cluster:
            names = [view.name for view in cluster.nodes()]
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]
