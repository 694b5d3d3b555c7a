"""Our `$7$` hashes against the real mosquitto_passwd 2.0 (both directions) and the real broker."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hub.deploy.passwords import hash_password, new_password, verify_password
from tests.deploy.broker_process import RUN_AS_ROOT
from tests.services.mosquitto import ROOT, free_port, wait_port


def _mosquitto_passwd() -> str:
    found = shutil.which("mosquitto_passwd")
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "mosquitto"], check=True)
        found = shutil.which("mosquitto_passwd")
    assert found is not None, "mosquitto_passwd is missing after scripts/services.sh mosquitto"
    return found


def test_we_verify_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    pwfile = tmp_path / "passwd"
    subprocess.run([_mosquitto_passwd(), "-c", "-b", str(pwfile), "alice", "s3cret-密码"], check=True)
    user, hashed = pwfile.read_text().strip().split(":", 1)
    assert user == "alice"
    assert verify_password("s3cret-密码", hashed)
    assert not verify_password("s3cret", hashed)


def test_the_real_broker_accepts_our_hash(tmp_path: Path) -> None:
    password = new_password()
    (tmp_path / "passwd").write_text(f"bob:{hash_password(password)}\n")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {tmp_path / 'passwd'}\n"
        + RUN_AS_ROOT
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)

        def pub(user_password: str) -> int:
            argv = ["mosquitto_pub", "-p", str(port), "-u", "bob", "-P", user_password, "-t", "t", "-m", "1"]
            return subprocess.run(argv, capture_output=True, timeout=30).returncode

        assert pub(password) == 0
        assert pub(password + "x") != 0
    finally:
        broker.terminate()
        broker.wait(10)


def test_each_hash_has_its_own_salt() -> None:
    first, second = hash_password("same"), hash_password("same")
    assert first != second
    assert verify_password("same", first) and verify_password("same", second)


@pytest.mark.parametrize("bad", ["", "$6$abc$def", "$7$101$!!!$???"])
def test_refuses_what_is_not_a_hash(bad: str) -> None:
    with pytest.raises(ValueError):
        verify_password("x", bad)


def test_refuses_an_empty_password() -> None:
    with pytest.raises(ValueError, match="empty password"):
        hash_password("")
