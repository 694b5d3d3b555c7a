"""433 MHz sensors end to end: a synthesized EV1527 signal → the real ``rtl_433`` → the hub's pipeline.

rtl_433 reads a recorded signal file as it would the radio. Its MQTT ``devices`` output publishes each field
of an event on ``rtl_433/<host>/devices/<model>/<id>/<field>``; `device_messages` lays out its JSON output
the same way (rtl_433 only connects to a broker when reading from a live radio, not from a file).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub.models import Signal
from hub.register.models import AlertEvent
from tests.devices.ev1527_signal import ev1527_pulses, write_cu8
from tests.ingest.test_pipeline import T0, Harness
from tests.site_fixture import SITE_YAML

ROOT = Path(__file__).resolve().parents[2]
HOST = "gw-h001"
SOS_CODE = 0xA5C3E1  # house code 42435, cmd 225
OTHER_BUTTON = 0xA5C3E2  # the same remote's other button: cmd 226
DOOR_OPEN, DOOR_CLOSE = 0x7B2C0A, 0x7B2C0E  # house code 31532, cmd 10 / 14

SITE = SITE_YAML.replace(
    "      - {code: H001-health,",
    "      - {code: H001-rf-sos, ecosystem: rtl_433, external_id: Generic-Remote/42435, model: ev1527_sos,\n"
    "         settings: {cmd: 225}}\n"
    "      - {code: H001-rf-door, ecosystem: rtl_433, external_id: Generic-Remote/31532, model: ev1527_door,\n"
    "         settings: {open_cmd: 10, close_cmd: 14}}\n"
    "      - {code: H001-health,",
)


def rtl_433() -> str:
    """The rtl_433 binary, installed by scripts/services.sh when missing (as CI does on a clean machine)."""
    found = shutil.which("rtl_433")
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "rtl433"], check=True)
        found = shutil.which("rtl_433")
    assert found is not None, "scripts/services.sh rtl433 did not install rtl_433"
    return found


def decode_file(path: Path) -> list[dict[str, Any]]:
    """What the real rtl_433 decodes from a signal file, as its JSON events (Generic-Remote only)."""
    done = subprocess.run(
        [rtl_433(), "-r", str(path), "-F", "json"], capture_output=True, text=True, check=True, timeout=120
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [e for e in events if e.get("model") == "Generic-Remote"]


def device_messages(event: dict[str, Any]) -> list[tuple[str, bytes, float]]:
    """(topic, payload, seconds into the file) of each field, as rtl_433's ``devices`` output lays it out."""
    base = f"rtl_433/{HOST}/devices/{event['model']}/{event['id']}"
    at = float(str(event["time"]).strip("@s"))
    return [
        (f"{base}/{field}", str(value).encode(), at)
        for field, value in event.items()
        if field not in ("time", "model", "id")
    ]


def signal_file(tmp: Path, name: str, *codes: int) -> Path:
    """One press of each of `codes` (4 frames each, as a remote repeats them) in a .cu8 file at 250 kHz."""
    pulses = [p for code in codes for p in ev1527_pulses(code, repeats=4)]
    return write_cu8(tmp / f"{name}_433.92M_250k.cu8", pulses)


async def test_an_sos_press_heard_by_rtl_433_opens_one_alert(tmp_path: Path) -> None:
    events = decode_file(signal_file(tmp_path, "sos", SOS_CODE, OTHER_BUTTON))
    # The real decoder reads our code: 4 repeats of the SOS button, then 4 of the other button.
    assert [(e["id"], e["cmd"]) for e in events] == [(42435, 225)] * 4 + [(42435, 226)] * 4

    h = Harness(tmp_path, site_yaml=SITE)
    async with h.store:
        for event in events:
            for topic, payload, at in device_messages(event):
                h.send(topic, payload, T0 + timedelta(seconds=at))
        await h.pipeline.flush()
        sos = await h.store.query("H001", Signal.SOS, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    # Four repeats within a second are one press for the elder and one alert for the duty officer.
    alerts = h.alerts()
    assert [(a.kind, a.state, a.device_code, a.count) for a in alerts] == [("sos", "open", "H001-rf-sos", 1)]
    with h.sessions() as s:
        opened = s.scalars(select(AlertEvent.event).where(AlertEvent.event == "opened")).all()
    assert len(opened) == 1
    assert {r.value for r in sos} == {1.0}
    assert h.reasons == []  # the other button and the tristate fields are no readings, not errors
    assert len(h.acked) == 16


async def test_a_door_contact_heard_by_rtl_433_opens_and_closes(tmp_path: Path) -> None:
    events = decode_file(signal_file(tmp_path, "door", DOOR_OPEN, DOOR_CLOSE))
    h = Harness(tmp_path, site_yaml=SITE)
    async with h.store:
        for event in events:
            for topic, payload, at in device_messages(event):
                h.send(topic, payload, T0 + timedelta(seconds=at))
        await h.pipeline.flush()
        contact = await h.store.query(
            "H001", Signal.CONTACT, T0 - timedelta(hours=1), T0 + timedelta(hours=1)
        )
    assert [r.value for r in contact][:1] == [1.0]
    assert [r.value for r in contact][-1:] == [0.0]
    assert h.alerts() == []
