import os
import shutil
import subprocess
import tempfile

from gslb import BINARY, ROOT


import pytest


@pytest.mark.parametrize("drop_in", [None, "gslbd-xdp.conf"])
def test_unit_file_verifies_with_systemd_analyze(drop_in):
    """systemd-analyze verify checks the unit's syntax, the hardening options it
    knows and that ExecStart is executable; point it at the built binary (the man
    pages it names are checked as installed, by test_package.py). The XDP
    drop-in is checked as installed next to it."""
    with open(os.path.join(ROOT, "systemd", "gslbd.service.in")) as f:
        unit = f.read().replace("@SBINDIR@", os.path.dirname(BINARY)).replace("@DOCDIR@", ROOT)
    assert "Type=notify" in unit and "NotifyAccess=main" in unit
    assert f"ExecReload={BINARY} ctl reload" in unit
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" in unit
    assert "ProtectSystem=strict" in unit
    d = tempfile.mkdtemp(prefix="gslbd-unit-")
    try:
        path = os.path.join(d, "gslbd.service")
        with open(path, "w") as f:
            f.write(unit)
        if drop_in:
            os.mkdir(path + ".d")
            shutil.copy(os.path.join(ROOT, "systemd", drop_in), os.path.join(path + ".d", "xdp.conf"))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True, text=True, timeout=60)
        problems = [l for l in (r.stdout + r.stderr).splitlines() if "gslbd.service" in l or "xdp.conf" in l]
        assert r.returncode == 0 and not problems, r.stdout + r.stderr
    finally:
        shutil.rmtree(d)


def test_unit_exposure_stays_at_1_6():
    """systemd-analyze security's exposure score (lower is better) of the unit as
    shipped: 1.6 since the hardening landed; Type=notify and the control socket's
    RuntimeDirectory= must not raise it."""
    import re
    with open(os.path.join(ROOT, "systemd", "gslbd.service.in")) as f:
        unit = f.read().replace("@SBINDIR@", os.path.dirname(BINARY)).replace("@DOCDIR@", ROOT)
    d = tempfile.mkdtemp(prefix="gslbd-unit-")
    try:
        path = os.path.join(d, "gslbd.service")
        with open(path, "w") as f:
            f.write(unit)
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", path], capture_output=True, text=True,
                           timeout=60)
        m = re.search(r"Overall exposure level for gslbd.service: (\d+\.\d+)", r.stdout + r.stderr)
        if m is None and "offline" in r.stderr:
            pytest.skip("systemd-analyze security has no --offline here")
        assert m and float(m.group(1)) <= 1.6, r.stdout + r.stderr
    finally:
        shutil.rmtree(d)
