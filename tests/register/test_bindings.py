"""Bindings: every device of the site file, keyed as the topic routes name it."""

from __future__ import annotations

import yaml
from sqlalchemy.orm import Session

from hub.register.bindings import load_bindings
from hub.register.site import load_site
from tests.register.conftest import EXAMPLE_SITE, known_model


def test_bindings_cover_every_device_of_the_site_file(session: Session) -> None:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    bindings = load_bindings(session)
    raw = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    expected = {
        (device["ecosystem"], device["external_id"]): (home["code"], device)
        for home in raw["homes"]
        for device in home.get("devices", [])
    }
    assert set(bindings) == set(expected)
    for key, (home_code, device) in expected.items():
        binding = bindings[key]
        assert binding.home == home_code
        assert binding.device == device["code"]
        assert binding.model == device["model"]
        assert dict(binding.settings) == device.get("settings", {})


def test_a_device_moved_to_another_home_is_bound_there(session: Session, tmp_path) -> None:
    raw = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    moved = raw["homes"][0]["devices"].pop(0)
    raw["homes"][1]["devices"].append(moved)
    path = tmp_path / "site.yaml"
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    load_site(session, path, known_model=known_model)
    session.commit()
    binding = load_bindings(session)[(moved["ecosystem"], moved["external_id"])]
    assert binding.home == raw["homes"][1]["code"]


def test_empty_register_has_no_bindings(session: Session) -> None:
    assert load_bindings(session) == {}
