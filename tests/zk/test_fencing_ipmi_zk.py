"""The ipmi fencing driver against real BMCs (OpenIPMI's ipmi_sim on loopback): the fencing conformance
suite, plus its parsing and its publication of BMC settings."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pvc_core.client import Cluster
from pvc_core.roles.fencing import PowerState
from pvc_core.testing.fencing_conformance import FencingConformance
from pvc_core.zk.session import ZkSession
from pvc_fencing_ipmi.driver import BmcSettings, IpmiFencing, parse_power
from pvc_lab.bmc import Bmc, pid_power_script

pytestmark = pytest.mark.skipif(shutil.which("ipmi_sim") is None, reason="OpenIPMI's ipmi_sim is not installed")


@pytest.fixture
def session(zk_hosts: str) -> Iterator[ZkSession]:
    zk = ZkSession(zk_hosts)
    zk.start()
    yield zk
    zk.stop()


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process standing for a node: the BMC's power-off kills it."""
    process = subprocess.Popen(["sleep", "300"])
    (tmp_path / "victim.pid").write_text(str(process.pid))
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def bmc(tmp_path: Path, victim: subprocess.Popen[bytes]) -> Iterator[Bmc]:
    control = pid_power_script(tmp_path / "power.sh", tmp_path / "victim.pid", tmp_path / "power")
    server = Bmc(tmp_path / "bmc", "hv2", "127.0.0.1", 19623, "admin", "secret", control)
    server.directory.mkdir()
    server.start()
    yield server
    server.stop()


def driver_on(node: str, session: ZkSession, settings: BmcSettings) -> IpmiFencing:
    host = SimpleNamespace(
        node=node, zk=session, cluster=Cluster(session), config=SimpleNamespace(section=lambda _name: settings)
    )
    return IpmiFencing(host, "ipmi")  # type: ignore[arg-type]


class TestIpmiFencingConformance(FencingConformance):
    @pytest.fixture
    def fencing(self, session: ZkSession, bmc: Bmc) -> IpmiFencing:
        # each node publishes its own BMC; the fencing node (hv1 here) reads the others'
        driver_on("hv2", session, BmcSettings.model_validate(bmc.settings()))
        driver_on("hv3", session, BmcSettings(host="127.0.0.1", port=19999, password="x", timeout=2.0))
        driver_on("hv4", session, BmcSettings.model_validate(bmc.settings() | {"password": "wrong"}))
        return driver_on("hv1", session, BmcSettings(host="127.0.0.1", port=19998, timeout=2.0))

    @pytest.fixture
    def target(self) -> str:
        return "hv2"

    @pytest.fixture
    def unreachable(self) -> str:
        return "hv3"

    @pytest.fixture
    def refusing(self) -> str:
        return "hv4"


def test_power_off_really_stops_the_node(session: ZkSession, bmc: Bmc, victim: subprocess.Popen[bytes]) -> None:
    driver_on("hv2", session, BmcSettings.model_validate(bmc.settings()))
    fencer = driver_on("hv1", session, BmcSettings(host="127.0.0.1", port=19998))
    fencer.power_off("hv2")
    assert victim.wait(5) == -signal.SIGKILL


def test_each_node_publishes_its_own_bmc_among_the_plugins_secrets(session: ZkSession, bmc: Bmc) -> None:
    driver_on("hv2", session, BmcSettings.model_validate(bmc.settings()))
    published = session.get_json("/secrets/plugins/fencing-ipmi/bmc/hv2")
    assert published["port"] == 19623 and published["password"] == "secret"
    assert session.exists("/plugins/fencing-ipmi/bmc") is None  # not where every client could read it


def test_a_node_without_published_bmc_cannot_be_fenced_and_says_why(session: ZkSession) -> None:
    fencer = driver_on("hv1", session, BmcSettings(host="127.0.0.1"))
    with pytest.raises(Exception, match="node hv9 has published no BMC settings"):
        fencer.power_off("hv9")


@pytest.mark.parametrize(
    ("output", "state"),
    [
        ("Chassis Power is on\n", PowerState.ON),
        ("chassis power is OFF", PowerState.OFF),
        ("garbage", PowerState.UNKNOWN),
    ],
)
def test_power_state_is_parsed_case_insensitively(output: str, state: PowerState) -> None:
    assert parse_power(output) == state
