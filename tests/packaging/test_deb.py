"""The .deb that packaging/build-deb makes: lintian-clean, the right files and relations,
units that `systemd-analyze verify` accepts silently, maintainer scripts that restart
running instances on upgrade and clean up on purge, a man page matching the CLI."""
from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.build import ROOT, build_deb
from tests.packaging.test_units import security

pytestmark = pytest.mark.packaging

EXPECTED_FILES = {
    "./usr/bin/hueyd",
    "./etc/hueyd/",
    "./lib/systemd/system/hueyd@.service",
    "./lib/systemd/system/hueyd.target",
    "./etc/logrotate.d/hueyd",
    "./usr/lib/sysusers.d/hueyd.conf",
    "./usr/share/man/man8/hueyd.8.gz",
    "./usr/share/doc/hueyd/copyright",
    "./usr/share/doc/hueyd/changelog.gz",
    "./usr/share/doc/hueyd/examples/example.yaml",
    "./usr/share/hueyd/hueyd-dashboard.json",
    "./usr/share/hueyd/hueyd-alerts.yml",
    "./usr/lib/python3/dist-packages/hueyd/__init__.py",
    "./usr/lib/python3/dist-packages/hueyd/cli.py",
    "./usr/lib/python3/dist-packages/hueyd/daemon/master.py",
}


def run(*cmd: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)


def field(deb: Path, name: str) -> str:
    return run("dpkg-deb", "-f", str(deb), name).stdout.strip()


def relation_names(value: str) -> set[str]:
    return {re.split(r"[\s(:]", alt.strip())[0] for part in value.split(",") if part.strip()
            for alt in part.split("|")}


def control_file(deb: Path, name: str) -> str:
    proc = subprocess.run(f"dpkg-deb --ctrl-tarfile '{deb}' | tar -xOf - ./{name}",
                          shell=True, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def contents(deb) -> dict[str, str]:
    """path -> the `dpkg-deb -c` line for it."""
    listing = run("dpkg-deb", "-c", str(deb)).stdout.splitlines()
    return {line.split()[5]: line for line in listing}


def test_lintian_no_errors_no_warnings(deb):
    proc = run("lintian", "--fail-on", "error,warning", "--display-info", str(deb))
    tags = [line for line in proc.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    assert proc.returncode == 0 and not tags, proc.stdout + proc.stderr


def test_lintian_overrides_are_justified():
    text = (ROOT / "debian" / "hueyd.lintian-overrides").read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            assert i > 0 and lines[i - 1].startswith("#"), f"override without a comment: {line}"


def test_expected_files(contents):
    missing = EXPECTED_FILES - contents.keys()
    assert not missing, sorted(missing)


def test_no_build_leftovers_or_conffile_examples(contents):
    bad = [p for p in contents if "__pycache__" in p or p.endswith((".pyc", ".db"))
           or "/tests/" in p or (p.startswith("./etc/hueyd/") and p != "./etc/hueyd/")]
    assert not bad, bad


def test_the_config_folder_is_the_hueyd_group_s_unless_overridden(deb):
    """/etc/hueyd/ ships empty; postinst, once the hueyd user exists, gives it to root and
    the hueyd group, 0750, unless the administrator made a dpkg-statoverride entry."""
    postinst = control_file(deb, "postinst")
    ours = postinst[postinst.rindex("# End automatically added section"):]
    assert "systemd-sysusers" in postinst[:-len(ours)]  # the group exists by then
    block = re.search(r'if \[ "\$1" = configure \][^\n]*\\\n\s*! dpkg-statoverride --list '
                      r'/etc/hueyd >/dev/null 2>&1; then\n(.*?)\nfi', ours, re.S)
    assert block, ours
    assert block.group(1).split("\n") == ["\tchown root:hueyd /etc/hueyd",
                                          "\tchmod 0750 /etc/hueyd"], block.group(1)


def test_hueyd_is_executable_and_the_units_are_plain_files(contents):
    assert contents["./usr/bin/hueyd"].startswith("-rwxr-xr-x root/root")
    for unit in ("hueyd@.service", "hueyd.target"):
        assert contents[f"./lib/systemd/system/{unit}"].startswith("-rw-r--r-- root/root")


def test_shipped_units_are_the_tree_s(deb_tree):
    for name in ("hueyd@.service", "hueyd.target"):
        shipped = (deb_tree / "lib/systemd/system" / name).read_text()
        assert shipped == (ROOT / "systemd" / name).read_text()
    assert (deb_tree / "etc/logrotate.d/hueyd").read_text() == \
        (ROOT / "etc/logrotate.d/hueyd").read_text()


def test_relations_only_debian_packages(deb):
    depends = relation_names(field(deb, "Depends"))
    assert {"python3-redis", "python3-yaml", "python3"} <= depends
    assert depends <= {"python3-redis", "python3-yaml", "python3", "systemd",
                       "systemd-standalone-sysusers", "systemd-sysusers"}, depends
    assert {"python3-gevent", "redis-server", "python3-prometheus-client"} \
        <= relation_names(field(deb, "Recommends"))
    assert "redis-server | valkey-server" in field(deb, "Recommends")  # issue 18
    assert "python3-daemon" in (relation_names(field(deb, "Recommends"))
                                | relation_names(field(deb, "Suggests")))
    assert field(deb, "Architecture") == "all"


def test_only_logrotate_is_a_conffile(deb):
    assert control_file(deb, "conffiles").split() == ["/etc/logrotate.d/hueyd"]


def test_system_user_from_sysusers(deb_tree, deb):
    conf = (deb_tree / "usr/lib/sysusers.d/hueyd.conf").read_text()
    assert re.search(r'^u hueyd - "[^"]+" /var/lib/hueyd$', conf, re.M), conf
    assert "systemd-sysusers" in control_file(deb, "postinst")


def test_maintainer_scripts_enable_target_never_template(deb):
    postinst = control_file(deb, "postinst")
    assert "deb-systemd-helper enable 'hueyd.target'" in postinst
    assert "enable 'hueyd@" not in postinst
    # dh's "restart hueyd.target" on upgrade would start stopped-but-enabled instances too
    assert "restart 'hueyd.target'" not in postinst and "_dh_action" not in postinst


def test_install_byte_compiles_the_package(deb):
    """dh_python3's postinst writes hueyd's .pyc (the start-up imports ~100 modules: without
    them each start compiles them again, ~70 ms); prerm removes them."""
    assert "py3compile -p hueyd" in control_file(deb, "postinst")
    assert "py3clean -p hueyd" in control_file(deb, "prerm")


def test_upgrade_restarts_running_instances_only(deb):
    """postinst, after the units are reloaded: first install starts the target; an upgrade
    ($2 = old version) try-restarts every loaded instance (running ones restart)."""
    postinst = control_file(deb, "postinst")
    ours = postinst[postinst.rindex("# End automatically added section"):]
    reload_at = ours.index("systemctl --system daemon-reload")
    first = re.search(r'if \[ -z "\$2" \]; then\n(.*?)\n\s*else\n(.*?)\n\s*fi', ours, re.S)
    assert first and first.start() > reload_at, ours
    assert "deb-systemd-invoke start hueyd.target" in first.group(1)
    assert "deb-systemd-invoke try-restart 'hueyd@*.service'" in first.group(2)


def test_remove_stops_every_instance(deb):
    prerm = control_file(deb, "prerm")
    assert re.search(r'if \[ "\$1" = remove \].*\n.*\n.*\n\s*deb-systemd-invoke stop '
                     r"hueyd.target 'hueyd@\*.service'", prerm), prerm


def test_purge_removes_what_the_package_made(deb):
    postrm = control_file(deb, "postrm")
    purge = re.search(r'^if \[ "\$1" = purge \]; then\n(.*?)^fi$', postrm, re.M | re.S)
    assert purge, postrm
    removed = re.findall(r"^\s*rm -rf (.+)$", purge.group(1), re.M)
    assert " ".join(removed).split() == [
        "/var/lib/hueyd", "/var/log/hueyd", "/etc/systemd/system/hueyd.target.wants"], removed
    assert "deb-systemd-helper purge 'hueyd.target'" in postrm
    assert "userdel" not in postrm and "deluser" not in postrm  # Debian keeps system users


def verify(root: Path, *units: str) -> subprocess.CompletedProcess:
    return run("systemd-analyze", "verify", f"--root={root}", "--no-pager", *units,
               env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
                    "MANPATH": str(root / "usr/share/man")})


def test_systemd_analyze_verify_prints_nothing(unit_root):
    """Warnings only go to stderr with exit 0: any output at all is a failure. The man page
    named in Documentation= is looked up in the package (MANPATH)."""
    proc = verify(unit_root, "hueyd@test.service", "hueyd.target")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_systemd_analyze_verify_catches_a_typo(unit_root, tmp_path):
    """The check above can fail: a misspelt key in a copy of the installed root is reported."""
    root = tmp_path / "root"
    shutil.copytree(unit_root, root, symlinks=True)
    unit = root / "lib/systemd/system/hueyd@.service"
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHome=yes\nProtectHoem=yes"))
    proc = verify(root, "hueyd@test.service")
    assert "ProtectHoem" in proc.stderr, proc


def test_installed_unit_security(deb_tree, tmp_path):
    rc, exposure, output = security(
        (deb_tree / "lib/systemd/system/hueyd@.service").read_text(), tmp_path)
    assert rc == 0 and exposure <= 1.5, output


# --- man page ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def man_text(deb_tree) -> str:
    """hueyd(8) as installed, rendered by man with its warnings enabled."""
    page = deb_tree / "usr/share/man/man8/hueyd.8.gz"
    proc = run("man", "--warnings", "-l", "-E", "UTF-8", "-Tutf8", str(page),
               env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
                    "MANWIDTH": "80"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert gzip.decompress(page.read_bytes()).decode() == (ROOT / "packaging/hueyd.8").read_text()
    return re.sub(r".\x08", "", proc.stdout)


def test_man_page_sections(man_text):
    for heading in ("SYNOPSIS", "COMMANDS", "OPTIONS", "CONFIGURATION FILE", "SIGNALS",
                    "EXIT STATUS", "FILES"):
        assert re.search(rf"^{heading}$", man_text, re.M), heading
    for command in ("hueyd run", "hueyd check", "hueyd status", "hueyd dead-letter"):
        assert command in man_text, command
    for signal in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1"):
        assert signal in man_text


def test_man_page_lists_every_exit_code(man_text):
    """Every code named in hueyd/exitcodes.py is explained under EXIT STATUS."""
    namespace: dict = {}
    exec((ROOT / "hueyd" / "exitcodes.py").read_text(), namespace)
    codes = {v for k, v in namespace.items() if k.isupper() and isinstance(v, int)}
    assert {0, 1, 69, 78} <= codes
    section = man_text[man_text.index("EXIT STATUS"):man_text.index("ENVIRONMENT")]
    for code in codes:
        assert re.search(rf"^\s+{code}\s*$", section, re.M) or \
            re.search(rf"^\s+{code}\s{{2,}}\S", section, re.M), f"exit code {code}"


def test_man_page_documents_every_run_option(man_text):
    """Every long option that `hueyd run --help` offers appears in the man page."""
    proc = run(sys.executable, "-m", "hueyd", "run", "--help", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    options = set(re.findall(r"(--[a-z][a-z-]+)", proc.stdout)) - {"--help"}
    assert "--workers" in options and "--config" in options, proc.stdout
    missing = sorted(o for o in options if o not in man_text)
    assert not missing, missing


# --- build-deb --------------------------------------------------------------------------

def test_build_deb_version_builds_an_upgrade_without_touching_the_tree(deb, tmp_path):
    changelog = (ROOT / "debian" / "changelog").read_bytes()
    current = field(deb, "Version")
    newer = current + "+1"
    upgrade = build_deb(tmp_path, version=newer)
    assert upgrade.name == f"hueyd_{newer}_all.deb"
    assert field(upgrade, "Version") == newer
    assert run("dpkg", "--compare-versions", newer, "gt", current).returncode == 0
    assert (ROOT / "debian" / "changelog").read_bytes() == changelog


def test_build_deb_rejects_bad_usage(tmp_path):
    for args in ([], [str(tmp_path), "--version", "1.0-1"], [str(tmp_path), "--bogus"]):
        proc = run(str(ROOT / "packaging" / "build-deb"), *args)
        assert proc.returncode == 2 and proc.stdout == "", (args, proc)
        assert "usage" in proc.stderr or "not a native Debian version" in proc.stderr, proc


def test_man_page_documents_every_config_key(man_text):
    """Every YAML key the daemon accepts (hueyd/daemon/config.py) is in CONFIGURATION FILE."""
    from hueyd.daemon.config import BY_YAML_KEY

    section = man_text[man_text.index("CONFIGURATION FILE"):man_text.index("SIGNALS")]
    words = set(re.findall(r"[a-z_]+", section))
    keys = {part for key in BY_YAML_KEY for part in key.split(".")}
    assert {"app", "workers", "logging", "redis_url"} <= keys
    assert not keys - words, sorted(keys - words)


def test_man_page_documents_every_command(man_text):
    proc = run(sys.executable, "-m", "hueyd", "--help", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    commands = set(re.findall(r"^    ([a-z][a-z-]+)", proc.stdout, re.M))
    assert {"run", "check"} <= commands, proc.stdout
    assert not {c for c in commands if f"hueyd {c}" not in man_text}
