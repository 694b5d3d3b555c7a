"""The register's view for the decoders: which home, device code, model and settings each device id has."""

from __future__ import annotations

from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.devices.model import Binding
from hub.register.errors import RegisterError
from hub.register.models import Device, Home

# Devices are added by `eldercare-hub load` in another process; a new one is bound within this time.
BINDING_REFRESH_S = 15.0


def binding_of(device: Device, home_code: str) -> Binding:
    """The `Binding` of one device row; its settings are a read-only copy, so a decoder cannot change them."""
    return Binding(
        home=home_code,
        device=device.code,
        ecosystem=device.ecosystem,
        external_id=device.external_id,
        model=device.model,
        settings=MappingProxyType(dict(device.settings or {})),
    )


def load_bindings(session: Session) -> dict[tuple[str, str], Binding]:
    """Every device of the register, keyed by (ecosystem, external id) as the topic routes name them."""
    # Plain rows, not ORM objects: the hub reloads this periodically and ORM loading of every device was a
    # visible share of ingest time.
    stmt = select(
        Device.code, Device.ecosystem, Device.external_id, Device.model, Device.settings, Home.code
    ).join(Home, Device.home_id == Home.id)
    try:
        rows = session.execute(stmt).all()
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot read the device bindings from the register: {exc}") from exc
    return {
        (ecosystem, external_id): Binding(
            home=home_code,
            device=code,
            ecosystem=ecosystem,
            external_id=external_id,
            model=model,
            settings=MappingProxyType(dict(settings or {})),
        )
        for code, ecosystem, external_id, model, settings, home_code in rows
    }
