"""The simulated site: deterministic for a seed, and shaped like a site file the register would accept."""

from __future__ import annotations

import re

import pytest
import yaml

from hub.sim.errors import SimError
from hub.sim.site import CATEGORIES, STREETS, dump_site_yaml, simulated_site

MOBILE = re.compile(r"1[3-9]\d{9}")


def test_same_seed_gives_the_same_site_and_another_seed_another() -> None:
    assert simulated_site(20, seed=7) == simulated_site(20, seed=7)
    assert simulated_site(20, seed=7) != simulated_site(20, seed=8)


def test_codes_external_ids_and_phones_are_unique_and_valid() -> None:
    site = simulated_site(150, seed=3)
    homes = site["homes"]
    assert len(homes) == 150
    home_codes = [h["code"] for h in homes]
    elder_codes = [e["code"] for h in homes for e in h["elders"]]
    devices = [d for h in homes for d in h["devices"]]
    assert len(set(home_codes)) == len(home_codes)
    assert len(set(elder_codes)) == len(elder_codes)
    assert len({d["code"] for d in devices}) == len(devices)
    assert len({(d["ecosystem"], d["external_id"]) for d in devices}) == len(devices)
    assert len({h["address"] for h in homes}) == len(homes)

    elder_phones = []
    for home in homes:
        assert home["district"] == "渝北区"
        assert home["community"] in STREETS[home["street"]]
        assert home["address"].startswith(f"重庆市渝北区{home['street']}{home['community']}")
        for elder in home["elders"]:
            assert MOBILE.fullmatch(elder["phone"]), elder["phone"]
            elder_phones.append(elder["phone"])
            assert elder["sex"] in ("男", "女")
            assert elder["tier"] in ("key", "general")
            assert elder["categories"] and set(elder["categories"]) <= set(CATEGORIES)
            roles = [c["role"] for c in elder["contacts"]]
            assert sorted(roles) == ["emergency", "relative", "responsible", "visitor"]
            for contact in elder["contacts"]:
                assert MOBILE.fullmatch(contact["phone"]), contact["phone"]
                assert 2 <= len(contact["name"]) <= 4
    assert len(set(elder_phones)) == len(elder_phones)


def test_every_home_has_the_five_simulated_devices() -> None:
    for home in simulated_site(5, seed=1)["homes"]:
        models = {d["model"]: d for d in home["devices"]}
        assert set(models) == {"TS0215A_sos", "RTCGQ11LM", "MCCGQ11LM", "pulse_counter", "health_monitor"}
        assert models["pulse_counter"]["ecosystem"] == "tasmota"
        assert models["pulse_counter"]["settings"]["litres_per_pulse"] > 0
        assert models["health_monitor"]["ecosystem"] == "native"
        for device in home["devices"]:
            assert device["code"].startswith(home["code"] + "-")


def test_yaml_round_trips_and_keeps_phones_as_text() -> None:
    site = simulated_site(4, seed=2)
    text = dump_site_yaml(site)
    assert "渝北区" in text  # readable Chinese, not \u escapes
    assert yaml.safe_load(text) == site


def test_no_homes_is_refused() -> None:
    with pytest.raises(SimError, match="homes=0"):
        simulated_site(0, seed=1)
