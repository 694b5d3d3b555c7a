"""Loading the site file: the example loads, reloading is idempotent, changes update, bad files are refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.register import SiteFileError
from hub.register.models import Contact, Device, Elder, Home
from hub.register.site import load_site
from tests.register.conftest import EXAMPLE_SITE, known_model


def _example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, raw: dict[str, Any], name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _file_counts(raw: dict[str, Any]) -> dict[str, int]:
    homes = raw["homes"]
    elders = [e for h in homes for e in h.get("elders", [])]
    return {
        "homes": len(homes),
        "elders": len(elders),
        "contacts": sum(len(e.get("contacts", [])) for e in elders),
        "devices": sum(len(h.get("devices", [])) for h in homes),
    }


# ------------------------------------------------------------------------------------------ loading


def test_example_site_loads_completely(session: Session) -> None:
    report = load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    expected = _file_counts(_example())
    for kind, model in (("homes", Home), ("elders", Elder), ("contacts", Contact), ("devices", Device)):
        assert report.counts[kind].created == expected[kind]
        assert _count(session, model) == expected[kind]
    assert report.changed


def test_example_data_is_stored_as_written(session: Session) -> None:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    raw_home = _example()["homes"][0]
    raw_elder = raw_home["elders"][0]
    elder = session.scalars(select(Elder).where(Elder.code == raw_elder["code"])).one()
    assert (elder.name, elder.sex, elder.phone, elder.tier) == (
        raw_elder["name"],
        raw_elder["sex"],
        raw_elder["phone"],
        raw_elder["tier"],
    )
    assert elder.categories == raw_elder["categories"]
    assert elder.home.street == raw_home["street"]
    assert elder.home.community == raw_home["community"]
    # Contact priority is the order in the file.
    assert [(c.name, c.role) for c in elder.contacts] == [
        (c["name"], c["role"]) for c in raw_elder["contacts"]
    ]
    assert [c.priority for c in elder.contacts] == sorted(c.priority for c in elder.contacts)


def test_loading_twice_changes_nothing(session: Session) -> None:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    again = load_site(session, EXAMPLE_SITE, known_model=known_model)
    assert not session.dirty and not session.new and not session.deleted
    session.commit()
    expected = _file_counts(_example())
    for kind, count in again.counts.items():
        assert (count.created, count.updated, count.removed) == (0, 0, 0)
        assert count.unchanged == expected[kind]
    assert not again.changed


def test_changed_field_is_updated_and_nothing_else(session: Session, tmp_path: Path) -> None:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    raw = _example()
    raw["homes"][0]["devices"][-1]["settings"]["litres_per_pulse"] = 1.0
    raw["homes"][1]["elders"][0]["phone"] = "13700000099"
    report = load_site(session, _write(tmp_path, raw), known_model=known_model)
    session.commit()
    assert report.counts["devices"].updated == 1
    assert report.counts["elders"].updated == 1
    assert report.counts["homes"].updated == 0
    assert report.counts["contacts"].updated == 0
    device_code = raw["homes"][0]["devices"][-1]["code"]
    session.expire_all()
    device = session.scalars(select(Device).where(Device.code == device_code)).one()
    assert device.settings["litres_per_pulse"] == 1.0
    elder = session.scalars(select(Elder).where(Elder.code == raw["homes"][1]["elders"][0]["code"])).one()
    assert elder.phone == "13700000099"


def test_reordered_contacts_change_priority(session: Session, tmp_path: Path) -> None:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    raw = _example()
    contacts = raw["homes"][0]["elders"][0]["contacts"]
    contacts.reverse()
    load_site(session, _write(tmp_path, raw), known_model=known_model)
    session.commit()
    session.expire_all()
    elder = session.scalars(select(Elder).where(Elder.code == raw["homes"][0]["elders"][0]["code"])).one()
    assert [c.name for c in elder.contacts] == [c["name"] for c in contacts]


def test_devices_missing_from_the_file_are_kept_and_reported(session: Session, tmp_path: Path) -> None:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    raw = _example()
    dropped = raw["homes"][2]["devices"].pop()
    report = load_site(session, _write(tmp_path, raw), known_model=known_model)
    session.commit()
    assert report.not_in_file["devices"] == [dropped["code"]]
    assert dropped["code"] in report.summary()
    assert session.scalars(select(Device).where(Device.code == dropped["code"])).one_or_none() is not None


def test_contact_dropped_from_the_list_is_removed(session: Session, tmp_path: Path) -> None:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    raw = _example()
    elder = raw["homes"][0]["elders"][0]
    dropped = elder["contacts"].pop(0)
    report = load_site(session, _write(tmp_path, raw), known_model=known_model)
    session.commit()
    assert report.counts["contacts"].removed == 1
    assert report.removed_contacts == [f"{elder['code']}: {dropped['name']} ({dropped['role']})"]
    names = session.scalars(
        select(Contact.name).join(Elder).where(Elder.code == elder["code"]).order_by(Contact.priority)
    ).all()
    assert names == [c["name"] for c in elder["contacts"]]


# ------------------------------------------------------------------------------------------ bad files


def _assert_refused(session: Session, path: Path, *fragments: str) -> str:
    with pytest.raises(SiteFileError) as caught:
        load_site(session, path, known_model=known_model)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    session.rollback()
    assert _count(session, Home) == 0, "nothing may be written from an invalid file"
    return message


def test_bad_phone_names_entry_and_field(session: Session, tmp_path: Path) -> None:
    raw = _example()
    raw["homes"][0]["elders"][0]["contacts"][1]["phone"] = "12345"
    _assert_refused(session, _write(tmp_path, raw), "homes[0].elders[0].contacts[1]", "'phone'", "12345")


def test_unquoted_phone_is_refused_with_a_hint(session: Session, tmp_path: Path) -> None:
    raw = _example()
    raw["homes"][0]["elders"][0]["phone"] = 13800000001
    _assert_refused(session, _write(tmp_path, raw), "homes[0].elders[0]", "'phone'", "quotes")


def test_unknown_tier_names_entry_and_field(session: Session, tmp_path: Path) -> None:
    raw = _example()
    raw["homes"][1]["elders"][1]["tier"] = "vip"
    _assert_refused(session, _write(tmp_path, raw), "homes[1].elders[1]", "'tier'")


def test_unknown_category_is_refused(session: Session, tmp_path: Path) -> None:
    raw = _example()
    raw["homes"][0]["elders"][0]["categories"] = ["独居", "孤寡"]
    _assert_refused(session, _write(tmp_path, raw), "homes[0].elders[0]", "'categories[1]'")


def test_duplicate_device_external_id_is_refused(session: Session, tmp_path: Path) -> None:
    raw = _example()
    twin = copy.deepcopy(raw["homes"][0]["devices"][0])
    twin["code"] = "H002-sos-2"
    raw["homes"][1]["devices"].insert(0, twin)
    message = _assert_refused(session, _write(tmp_path, raw), "homes[1].devices[0]", "'external_id'")
    assert "homes[0].devices[0]" in message  # where the id was first used


def test_duplicate_codes_are_refused(session: Session, tmp_path: Path) -> None:
    raw = _example()
    raw["homes"][2]["code"] = raw["homes"][0]["code"]
    raw["homes"][2]["elders"][0]["code"] = raw["homes"][0]["elders"][0]["code"]
    _assert_refused(session, _write(tmp_path, raw), "homes[2] ", "homes[2].elders[0]", "'code'", "2 problems")


def test_unknown_model_is_refused_through_the_callable(session: Session, tmp_path: Path) -> None:
    raw = _example()
    raw["homes"][2]["devices"][1]["model"] = "MCCGQ99LM"
    _assert_refused(session, _write(tmp_path, raw), "homes[2].devices[1]", "'model'", "MCCGQ99LM")


def test_missing_required_field_is_named(session: Session, tmp_path: Path) -> None:
    raw = _example()
    del raw["homes"][1]["street"]
    _assert_refused(session, _write(tmp_path, raw), "homes[1]", "'street'", "required")


def test_misspelt_field_is_refused(session: Session, tmp_path: Path) -> None:
    raw = _example()
    raw["homes"][0]["devices"][0]["modle"] = raw["homes"][0]["devices"][0].pop("model")
    _assert_refused(session, _write(tmp_path, raw), "homes[0].devices[0]", "'modle'", "unknown field")


def test_yaml_syntax_error_gives_the_line(session: Session, tmp_path: Path) -> None:
    lines = EXAMPLE_SITE.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if "tier:" in line)
    lines[index] = lines[index].replace("tier:", "tier: [key", 1)  # an unclosed flow sequence
    path = tmp_path / "broken.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = _assert_refused(session, path, "invalid YAML")
    reported = int(message.split("line ", 1)[1].split(",", 1)[0])
    assert reported >= index + 1  # the parser notices at or just after the broken line


def test_duplicate_yaml_key_is_refused(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("homes:\n  - code: H001\n    code: H002\n", encoding="utf-8")
    _assert_refused(session, path, "line 3", "'code' appears twice")


def test_empty_and_missing_files_are_refused(session: Session, tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    _assert_refused(session, empty, "empty")
    _assert_refused(session, tmp_path / "absent.yaml", "cannot read")


def test_external_id_owned_by_an_unlisted_device_is_refused(session: Session, tmp_path: Path) -> None:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    raw = _example()
    old_code = raw["homes"][0]["devices"][0]["code"]
    raw["homes"][0]["devices"][0]["code"] = "H001-sos-new"
    with pytest.raises(SiteFileError, match=r"homes\[0\]\.devices\[0\]") as caught:
        load_site(session, _write(tmp_path, raw), known_model=known_model)
    assert old_code in str(caught.value)
    session.rollback()
    assert session.scalars(select(Device.code).where(Device.code == "H001-sos-new")).all() == []


# ---------------------------------------------------------------------------- settings each model needs


def _refused_by_registry(session: Session, path: Path, *fragments: str) -> str:
    from hub.devices.registry import DeviceRegistry

    with pytest.raises(SiteFileError) as caught:
        load_site(session, path, devices=DeviceRegistry.default())
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    session.rollback()
    assert _count(session, Home) == 0, "nothing may be written from an invalid file"
    return message


def _device(raw: dict[str, Any], code: str) -> tuple[str, dict[str, Any]]:
    for h, home in enumerate(raw["homes"]):
        for d, device in enumerate(home.get("devices", [])):
            if device["code"] == code:
                return f"homes[{h}].devices[{d}] ({code})", device
    raise AssertionError(code)


def test_the_example_site_loads_with_every_model_check(session: Session) -> None:
    from hub.devices.registry import DeviceRegistry

    assert load_site(session, EXAMPLE_SITE, devices=DeviceRegistry.default()).changed


def test_a_model_without_the_settings_it_requires_is_refused(session: Session, tmp_path: Path) -> None:
    raw = _example()
    where, meter = _device(raw, "H001-water")
    del meter["settings"]["litres_per_pulse"]
    _refused_by_registry(
        session,
        _write(tmp_path, raw),
        where,
        "'settings.litres_per_pulse'",
        "requires setting 'litres_per_pulse'",
    )
    meter["settings"]["litres_per_pulse"] = 0
    _refused_by_registry(session, _write(tmp_path, raw), where, "'settings.litres_per_pulse'", "positive")


def test_esphome_objects_must_name_signals_a_node_can_send(session: Session, tmp_path: Path) -> None:
    raw = _example()
    where, node = _device(raw, "H002-node")
    node["settings"]["objects"]["hall_door"] = "door_open"
    node["settings"]["objects"]["tank"] = "water_total"
    message = _refused_by_registry(
        session,
        _write(tmp_path, raw),
        where,
        "'settings.objects.hall_door'",
        "'door_open' is not a signal",
        "'settings.litres_per_unit'",
        "2 problems",
    )
    assert "contact" in message  # the message lists what may be used instead


def test_an_sos_button_role_typo_is_refused_at_load(session: Session, tmp_path: Path) -> None:
    raw = _example()
    raw["homes"][0]["devices"].append(
        {
            "code": "H001-btn",
            "ecosystem": "zigbee2mqtt",
            "external_id": "h001_btn",
            "model": "WXKG11LM",
            "settings": {"role": "SOS"},
        }
    )
    _refused_by_registry(session, _write(tmp_path, raw), "H001-btn", "'settings.role'", "'SOS'")


def test_an_unknown_model_lists_the_models_that_exist(session: Session, tmp_path: Path) -> None:
    raw = _example()
    where, meter = _device(raw, "H001-water")
    meter["model"] = "pulse_counte"
    _refused_by_registry(
        session, _write(tmp_path, raw), where, "'model'", "pulse_counte", "energy, pulse_counter"
    )
    meter["ecosystem"] = "tasmot"
    _refused_by_registry(session, _write(tmp_path, raw), where, "tasmot", "tasmota", "zigbee2mqtt")


def test_cli_load_names_entry_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hub.cli import main

    raw = _example()
    _where, meter = _device(raw, "H001-water")
    del meter["settings"]["litres_per_pulse"]
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "load", str(_write(tmp_path, raw))]) == 1
    err = capsys.readouterr().err
    assert "(H001-water), field 'settings.litres_per_pulse'" in err and "Traceback" not in err


def test_safe_zone_is_loaded_checked_and_removed_with_the_file(session: Session, tmp_path: Path) -> None:
    raw = _example()
    elder = raw["homes"][0]["elders"][0]
    elder["safe_zone"] = {"lat": 29.6, "lon": 106.5, "radius_m": 800, "datum": "gcj02"}
    load_site(session, _write(tmp_path, raw), known_model=known_model)
    session.commit()
    row = session.scalars(select(Elder).where(Elder.code == elder["code"])).one()
    assert (row.safe_lat, row.safe_lon, row.safe_radius_m, row.safe_datum) == (29.6, 106.5, 800, "gcj02")

    del elder["safe_zone"]  # the file no longer has one: the register follows it
    report = load_site(session, _write(tmp_path, raw), known_model=known_model)
    session.commit()
    assert report.counts["elders"].updated == 1
    session.expire_all()
    assert (row.safe_lat, row.safe_radius_m) == (None, None)

    elder["safe_zone"] = {"lat": 129.6, "lon": 106.5, "radius_m": 10}
    with pytest.raises(SiteFileError) as caught:
        load_site(session, _write(tmp_path, raw), known_model=known_model)
    assert "safe_zone.lat" in str(caught.value) and "safe_zone.radius_m" in str(caught.value)
