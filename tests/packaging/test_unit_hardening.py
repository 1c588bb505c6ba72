"""The shipped unit's hardening, directive by directive, beside its exposure score.

A score alone hides a weakened directive (dropping NoNewPrivileges= still scores 1.1-1.3):
each directive the README promises is asserted with its shipped value, and the score must
stay at the README's figure.
"""
from __future__ import annotations

import pytest

from tests.packaging.test_units import SERVICE, security
from tests.packaging.unitfile import parse_unit

pytestmark = pytest.mark.packaging

#: the README's figure for `systemd-analyze security hueyd@NAME`
README_EXPOSURE = 1.1

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateMounts": "yes",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateUsers": "yes",
    "ProtectProc": "invisible",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "LockPersonality": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "RestrictNamespaces": "yes",
    "RemoveIPC": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "SystemCallArchitectures": "native",
    "SystemCallErrorNumber": "EPERM",
    "UMask": "0027",
}
#: every SystemCallFilter= line, in order: the allow list, then what is taken out of it
SYSCALL_FILTER = ["@system-service", "~@privileged @resources"]


@pytest.fixture(scope="module")
def service():
    return parse_unit(SERVICE)


@pytest.mark.parametrize("key,value", sorted(HARDENING.items()))
def test_hardening_directive(service, key, value):
    values = service["Service"].get(key)
    assert values is not None, f"{key}= is missing"
    assert values == [value], f"{key}= is {values}, shipped value is {value!r}"


def test_system_call_filter(service):
    assert service["Service"]["SystemCallFilter"] == SYSCALL_FILTER


def test_exposure_is_the_readme_figure(tmp_path):
    rc, exposure, output = security(SERVICE.read_text(), tmp_path)
    assert rc == 0, output
    assert exposure <= README_EXPOSURE, output
