"""HTTP ingest tokens: shown once, stored hashed, found again by the device."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.register import RegisterError
from hub.register.models import Device
from hub.register.site import load_site
from hub.register.tokens import device_for_token, issue_token
from tests.register.conftest import EXAMPLE_SITE, known_model


@pytest.fixture
def loaded(session: Session) -> Session:
    load_site(session, EXAMPLE_SITE, known_model=known_model)
    session.commit()
    return session


def test_issued_token_finds_its_device(loaded: Session) -> None:
    token = issue_token(loaded, "H002-health")
    loaded.commit()
    binding = device_for_token(loaded, token)
    assert binding is not None
    assert (binding.home, binding.device, binding.model) == ("H002", "H002-health", "health_monitor")


def test_only_the_hash_is_stored(loaded: Session) -> None:
    token = issue_token(loaded, "H002-health")
    loaded.commit()
    stored = loaded.scalars(select(Device.token_sha256).where(Device.code == "H002-health")).one()
    assert stored is not None and len(stored) == 64
    assert token not in stored


def test_wrong_empty_and_replaced_tokens_find_nothing(loaded: Session) -> None:
    first = issue_token(loaded, "H003-health")
    loaded.commit()
    assert device_for_token(loaded, first + "x") is None
    assert device_for_token(loaded, "") is None
    second = issue_token(loaded, "H003-health")
    loaded.commit()
    assert second != first
    assert device_for_token(loaded, first) is None
    found = device_for_token(loaded, second)
    assert found is not None and found.device == "H003-health"


def test_tokens_of_two_devices_do_not_mix(loaded: Session) -> None:
    a = issue_token(loaded, "H002-health")
    b = issue_token(loaded, "H003-health")
    loaded.commit()
    found_a, found_b = device_for_token(loaded, a), device_for_token(loaded, b)
    assert found_a is not None and found_a.device == "H002-health"
    assert found_b is not None and found_b.device == "H003-health"


def test_token_for_unknown_device_is_refused(loaded: Session) -> None:
    with pytest.raises(RegisterError, match="NOPE"):
        issue_token(loaded, "NOPE")


def test_reloading_the_site_keeps_the_token(loaded: Session) -> None:
    token = issue_token(loaded, "H002-health")
    loaded.commit()
    load_site(loaded, EXAMPLE_SITE, known_model=known_model)
    loaded.commit()
    assert device_for_token(loaded, token) is not None
