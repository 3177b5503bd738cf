"""The Debian package, built by CPack from the tree that built the gslbd under test
(the same install rules `scripts/package` uses): what it contains, that the
installed binary checks the installed example with the installed country table, that
systemd accepts the installed unit, and that the man pages format without warnings."""
import os
import shutil
import subprocess

import pytest

from gslb import BINARY

BUILD = os.path.dirname(os.path.dirname(BINARY))  # <build>/dnsd/gslbd

EXPECTED = {
    "etc/gslbd/gslbd.yaml",
    "usr/sbin/gslbd",
    "usr/lib/systemd/system/gslbd.service",
    "usr/share/gslbd/countries.csv",
    "usr/share/gslbd/prometheus/gslbd-alerts.yml",
    "usr/share/gslbd/prometheus/gslbd-dashboard.json",
    "usr/share/doc/gslbd/README.md",
    "usr/share/doc/gslbd/examples/gslbd.yaml",
    "usr/share/doc/gslbd/examples/gslbd-xdp.conf",
    "usr/share/man/man8/gslbd.8.gz",
    "usr/share/man/man5/gslbd.yaml.5.gz",
}


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    for tool in ("cpack", "dpkg-deb", "systemd-analyze", "man"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/install-deps)")
    out = tmp_path_factory.mktemp("deb")
    r = subprocess.run(["cpack", "-G", "DEB", "-B", str(out), "--config", os.path.join(BUILD, "CPackConfig.cmake")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    deb = os.path.join(out, debs[0])
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg", "-x", deb, str(root)], check=True, timeout=60)
    return deb, str(root)


def files_in(deb):
    listing = subprocess.run(["dpkg-deb", "--contents", deb], capture_output=True, text=True, check=True).stdout
    # "-rw-r--r-- root/root 1377 2026-12-02 18:22 ./usr/sbin/gslbd"; directories end in "/"
    return {line.split()[-1][2:] for line in listing.splitlines() if not line.startswith("d")}


def test_contents_and_control(package):
    deb, _ = package
    assert files_in(deb) == EXPECTED
    control = subprocess.run(["dpkg-deb", "--field", deb], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line and not line.startswith(" "))
    assert fields["Package"] == "gslbd" and fields["Section"] == "net", fields
    assert "libldns3" in fields["Depends"] and "libcurl4" in fields["Depends"], fields
    conffiles = subprocess.run(["dpkg-deb", "--info", deb, "conffiles"], capture_output=True, text=True, check=True)
    assert conffiles.stdout.split() == ["/etc/gslbd/gslbd.yaml"]


def test_installed_binary_checks_the_installed_example(package):
    _, root = package
    gslbd = os.path.join(root, "usr/sbin/gslbd")
    example = os.path.join(root, "etc/gslbd/gslbd.yaml")
    r = subprocess.run([gslbd, "--check-config", "-c", example], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and ": OK: " in r.stdout, r.stdout + r.stderr
    with open(example) as a, open(os.path.join(root, "usr/share/doc/gslbd/examples/gslbd.yaml")) as b:
        assert a.read() == b.read()
    # The country table it reads is the installed one (beside its sbin/), not the
    # build tree's: a broken installed copy is what the error names.
    countries = os.path.join(root, "usr/share/gslbd/countries.csv")
    good = open(countries).read()
    try:
        with open(countries, "w") as f:
            f.write("not,a,country,table\n")
        r = subprocess.run([gslbd, "--check-config", "-c", example], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        named = r.stderr.split(":", 1)[0]  # "<root>/usr/sbin/../share/gslbd/countries.csv:1: expected header ..."
        assert os.path.realpath(named) == os.path.realpath(countries), r.stderr
    finally:
        with open(countries, "w") as f:
            f.write(good)


def in_installed_usr(root, *cmd):
    """Runs cmd with the package's usr/ laid over /usr (an overlay in a private mount
    namespace, gone when cmd exits), as if the package were installed."""
    script = 'mount -t overlay overlay -o lowerdir="$1/usr":/usr /usr && shift && exec "$@"'
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root, *cmd],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 and "mount" in r.stderr and ("permission denied" in r.stderr.lower() or
                                                       "operation not permitted" in r.stderr.lower()):
        pytest.skip("needs a private mount namespace with overlayfs (root): " + r.stderr.strip())
    return r


def test_systemd_accepts_the_installed_unit(package):
    _, root = package
    unit = os.path.join(root, "usr/lib/systemd/system/gslbd.service")
    text = open(unit).read()
    assert "ExecStart=/usr/sbin/gslbd -c /etc/gslbd/gslbd.yaml" in text
    assert "ExecStartPre=/usr/sbin/gslbd --check-config -c /etc/gslbd/gslbd.yaml" in text
    assert "Documentation=man:gslbd(8) man:gslbd.yaml(5) file:///usr/share/doc/gslbd/README.md" in text
    # with the package's /usr in place: ExecStart exists and the man: pages resolve
    r = in_installed_usr(root, "systemd-analyze", "verify", unit)
    problems = [line for line in (r.stdout + r.stderr).splitlines() if "gslbd.service" in line]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr


@pytest.mark.parametrize("page", ["man8/gslbd.8.gz", "man5/gslbd.yaml.5.gz"])
def test_man_pages_format_without_warnings(package, page):
    _, root = package
    path = os.path.join(root, "usr/share/man", page)
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    name = os.path.basename(page).split(".")[0]
    assert "NAME" in r.stdout and name in r.stdout and "SEE ALSO" in r.stdout, r.stdout[:500]
