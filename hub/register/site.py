"""The site file: a YAML description of homes, their elders and contacts, and their devices.

`parse_site` reads and validates a file without touching the database; `load_site` applies it to the
register idempotently: loading the same file twice changes nothing the second time, and a changed field is
updated in place. Homes, elders and devices that are missing from the file are kept (the report lists them);
an elder's contact list follows the file, because it is the escalation order and a contact the file no
longer names must not be called.

Every problem names the file, the entry (``homes[2].devices[0]``) and the field, and all problems found are
reported at once in one `SiteFileError`. Checks run in two rounds: field formats first, then the checks
across entries (unknown models, duplicate codes and ids), which need well-formed entries to compare. The schema is documented in the README ("The site file").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from hub.register.errors import RegisterError, SiteFileError
from hub.register.models import Contact, Device, Elder, Home

# The seven 对象类型 of the programme's notice.
CATEGORIES = ("独居", "空巢", "农村留守", "失能", "重残", "计生特殊家庭", "其他")
# key = 重点对象 (visited every half month), general = 一般对象 (every month).
TIERS = ("key", "general")
# visitor = 探访人员/探访联系人, relative = 亲属, emergency = 紧急联系人, responsible = 村（社区）责任人.
CONTACT_ROLES = ("visitor", "relative", "emergency", "responsible")

# 1[3-9] followed by nine digits (mobile), or an area code 0xx/0xxx with a 7–8 digit number (landline).
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
# Codes end up in topics, URLs and alert keys ("<home>/<kind>"), so they stay plain.
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")

KnownModel = Callable[[str, str], bool]
"""Tells whether ``(ecosystem, model)`` names a device definition the hub can decode."""


class DeviceCatalog(Protocol):
    """What the loader asks of the device definitions (`hub.devices.registry.DeviceRegistry` is one)."""

    def knows(self, ecosystem: str, model: str) -> bool:
        """Whether the model exists."""
        ...

    def unknown_model(self, ecosystem: str, model: str) -> str:
        """Why it does not, listing the models (or ecosystems) that do."""
        ...

    def settings_problems(
        self, ecosystem: str, model: str, settings: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """(field, message) for each setting the model needs that is missing or wrong."""
        ...


def _phone(value: str) -> str:
    if not (_MOBILE.fullmatch(value) or _LANDLINE.fullmatch(value)):
        raise ValueError(
            f"{value!r} is not a phone number: use a mobile number (11 digits, 1[3-9]…) "
            "or a landline with its area code (e.g. 023-67001234)"
        )
    return value


def _code(value: str) -> str:
    if not _CODE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid code: use letters, digits and _ . : - only, no spaces or '/'"
        )
    return value


Phone = Annotated[str, AfterValidator(_phone)]
Code = Annotated[str, AfterValidator(_code)]
Text = Annotated[str, Field(min_length=1)]


class _Entry(BaseModel):
    # strict: YAML turns unquoted 13800000001 into a number and 0x00158d… into an int; refuse, never guess.
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True, frozen=True)


class ContactEntry(_Entry):
    """One contact of an elder; its position in the list is its priority (first = called first)."""

    name: Text
    role: Literal["visitor", "relative", "emergency", "responsible"]
    relation: str = ""
    phone: Phone


class SafeZoneEntry(_Entry):
    """An elder's safe zone (安全区域): a circle in the datum of her wearable's positions."""

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    # Smaller than a wearable's GPS error would be left by standing in the courtyard; larger is no zone.
    radius_m: Annotated[float, Field(ge=50, le=50_000)]
    datum: Literal["wgs84", "gcj02"] = "wgs84"


class ElderEntry(_Entry):
    """One elder (老年人) living in the home."""

    code: Code
    name: Text
    sex: Literal["男", "女"] | None = None
    phone: Phone | None = None
    tier: Literal["key", "general"]
    # False: the elder cannot answer a wellbeing call (deaf, dementia, no phone of their own), so the
    # escalation skips "ask the elder first" and pages the visitor at once.
    can_answer_phone: bool = True
    categories: list[Literal["独居", "空巢", "农村留守", "失能", "重残", "计生特殊家庭", "其他"]] = Field(
        min_length=1
    )
    contacts: list[ContactEntry] = []
    safe_zone: SafeZoneEntry | None = None


class DeviceEntry(_Entry):
    """One device in the home, bound by its ecosystem and the id the ecosystem gives it."""

    code: Code
    ecosystem: Text
    external_id: Text
    model: Text
    settings: dict[str, Any] = {}


class HomeEntry(_Entry):
    """One home (住户) with its address and place in the jurisdiction chain."""

    code: Code
    address: Text
    district: Text
    street: Text
    community: Text
    elders: list[ElderEntry] = []
    devices: list[DeviceEntry] = []


class SiteFile(_Entry):
    """The whole file."""

    homes: list[HomeEntry]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a site file."""

    entry: str  # "homes[2].devices[0] (H003-sos)", or "(file)"
    field: str  # "phone", "categories[1]", "" when the entry itself is wrong
    message: str

    def __str__(self) -> str:
        where = f"{self.entry}, field '{self.field}'" if self.field else self.entry
        return f"{where}: {self.message}"


@dataclass(slots=True)
class KindCounts:
    """What loading did to one kind of record."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0  # contacts only: dropped from an elder's list in the file


_KIND_NAMES = {"homes": "住户", "elders": "老年人", "contacts": "联系人", "devices": "设备"}


@dataclass(slots=True)
class LoadReport:
    """The outcome of `load_site`, per kind (homes, elders, contacts, devices)."""

    path: Path
    counts: dict[str, KindCounts] = field(
        default_factory=lambda: {kind: KindCounts() for kind in _KIND_NAMES}
    )
    # Codes of homes, elders and devices that are in the register but not in the file: kept, not deleted.
    not_in_file: dict[str, list[str]] = field(
        default_factory=lambda: {"homes": [], "elders": [], "devices": []}
    )
    removed_contacts: list[str] = field(default_factory=list)  # "<elder code>: <name> (<role>)"

    @property
    def changed(self) -> bool:
        """Whether the load wrote anything."""
        return any(c.created or c.updated or c.removed for c in self.counts.values())

    def summary(self) -> str:
        """A short report for the operator, in Chinese."""
        lines = [f"站点文件 {self.path}："]
        for kind, name in _KIND_NAMES.items():
            c = self.counts[kind]
            line = f"  {name}：新增 {c.created}，更新 {c.updated}，未变 {c.unchanged}"
            if kind == "contacts":
                line += f"，移除 {c.removed}"
            lines.append(line)
        for kind, codes in self.not_in_file.items():
            if codes:
                lines.append(f"  文件中没有、登记簿中保留（未删除）的{_KIND_NAMES[kind]}：{'、'.join(codes)}")
        if self.removed_contacts:
            lines.append(f"  已从联系人名单移除：{'、'.join(self.removed_contacts)}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- reading


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML would silently keep the last)."""


def _construct_checked_mapping(loader: _StrictLoader, node: MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable):
            if key in seen:
                raise ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_checked_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteFileError(f"{path}: cannot read the site file: {exc}") from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise SiteFileError(f"{path}: {where}: invalid YAML: {what}") from exc
    except yaml.YAMLError as exc:
        raise SiteFileError(f"{path}: invalid YAML: {exc}") from exc


_ENTRY_LISTS = frozenset({"homes", "elders", "contacts", "devices"})


def _entry_and_field(loc: Sequence[int | str], raw: Any) -> tuple[str, str]:
    """Split a pydantic location into the entry path and the field, e.g. homes[0].elders[1] / phone."""
    parts: list[str] = []
    node = raw
    i = 0
    while i + 1 < len(loc) and loc[i] in _ENTRY_LISTS and isinstance(loc[i + 1], int):
        key, index = loc[i], loc[i + 1]
        parts.append(f"{key}[{index}]")
        node = _child(_child(node, key), index)
        i += 2
    entry = ".".join(parts) if parts else "(file)"
    label = _label(node) if parts else None
    if label:
        entry += f" ({label})"
    field_path = ""
    for part in loc[i:]:
        field_path += f"[{part}]" if isinstance(part, int) else (f".{part}" if field_path else str(part))
    return entry, field_path


def _child(node: Any, key: int | str) -> Any:
    if isinstance(node, Mapping):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _label(node: Any) -> str | None:
    """The code (or a contact's name) of a raw entry, to make messages easy to find in the file."""
    if isinstance(node, Mapping):
        for key in ("code", "name"):
            if isinstance(node.get(key), str):
                return str(node[key])
    return None


def _pydantic_problems(exc: ValidationError, raw: Any) -> list[Problem]:
    problems = []
    for error in exc.errors():
        entry, field_path = _entry_and_field(error["loc"], raw)
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        if error["type"] == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
            message += f" (YAML read {value!r} as a number: put the value in quotes)"
        elif error["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against the README, section 'The site file')"
        problems.append(Problem(entry, field_path, message))
    return problems


def _entry(*parts: tuple[str, int], label: str) -> str:
    return ".".join(f"{key}[{index}]" for key, index in parts) + f" ({label})"


def _cross_check(site: SiteFile, known_model: KnownModel, catalog: DeviceCatalog | None) -> list[Problem]:
    """What a single entry cannot see: unique codes and ids across the file, known device models and the
    settings each model needs."""
    problems: list[Problem] = []
    homes: dict[str, str] = {}
    elders: dict[str, str] = {}
    devices: dict[str, str] = {}
    bindings: dict[tuple[str, str], str] = {}

    def unique(seen: dict[Any, str], key: Any, where: str, field_name: str, what: str) -> None:
        if key in seen:
            problems.append(Problem(where, field_name, f"duplicate {what} (already used by {seen[key]})"))
        else:
            seen[key] = where

    for h, home in enumerate(site.homes):
        home_at = _entry(("homes", h), label=home.code)
        unique(homes, home.code, home_at, "code", f"home code {home.code!r}")
        for e, elder in enumerate(home.elders):
            elder_at = _entry(("homes", h), ("elders", e), label=elder.code)
            unique(elders, elder.code, elder_at, "code", f"elder code {elder.code!r}")
            if len(set(elder.categories)) != len(elder.categories):
                problems.append(Problem(elder_at, "categories", "a category is listed twice"))
            contacts: dict[tuple[str, str], str] = {}
            for c, contact in enumerate(elder.contacts):
                contact_at = _entry(("homes", h), ("elders", e), ("contacts", c), label=contact.name)
                unique(contacts, (contact.name, contact.role), contact_at, "name", "contact (name and role)")
        for d, device in enumerate(home.devices):
            device_at = _entry(("homes", h), ("devices", d), label=device.code)
            unique(devices, device.code, device_at, "code", f"device code {device.code!r}")
            unique(
                bindings,
                (device.ecosystem, device.external_id),
                device_at,
                "external_id",
                f"external_id {device.external_id!r} in ecosystem {device.ecosystem!r}",
            )
            if not known_model(device.ecosystem, device.model):
                why = (
                    catalog.unknown_model(device.ecosystem, device.model)
                    if catalog is not None
                    else f"unknown model {device.model!r} for ecosystem {device.ecosystem!r}"
                )
                problems.append(Problem(device_at, "model", why))
            elif catalog is not None:
                for field_name, message in catalog.settings_problems(
                    device.ecosystem, device.model, device.settings
                ):
                    problems.append(Problem(device_at, field_name, message))
    return problems


def _raise(path: Path, problems: Sequence[Problem]) -> None:
    noun = "problem" if len(problems) == 1 else "problems"
    lines = [f"{path}: {len(problems)} {noun}:"] + [f"  {problem}" for problem in problems]
    raise SiteFileError("\n".join(lines))


def parse_site(
    path: Path, *, known_model: KnownModel | None = None, devices: DeviceCatalog | None = None
) -> SiteFile:
    """Read and validate a site file; raise `SiteFileError` listing every problem found.

    `devices` (the hub's `DeviceRegistry`) also checks each device's settings against its model and lists
    the models that exist when one is unknown; `known_model` alone checks only that the model exists.
    """
    if known_model is None:
        if devices is None:
            raise TypeError("parse_site needs known_model or devices")
        known_model = devices.knows
    raw = _read_yaml(path)
    if raw is None:
        raise SiteFileError(f"{path}: the site file is empty (expected a mapping with a 'homes' list)")
    try:
        site = SiteFile.model_validate(raw)
    except ValidationError as exc:
        _raise(path, _pydantic_problems(exc, raw))
        raise AssertionError("unreachable") from exc  # _raise always raises; keeps type checkers calm
    problems = _cross_check(site, known_model, devices)
    if problems:
        _raise(path, problems)
    return site


# ---------------------------------------------------------------------------------------------- writing


def _apply(obj: Any, values: Mapping[str, Any]) -> bool:
    """Set the attributes that differ; tell whether any did."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _by_code(session: Session, model: Any, codes: Iterable[str]) -> dict[str, Any]:
    wanted = list(codes)
    if not wanted:
        return {}
    return {row.code: row for row in session.scalars(select(model).where(model.code.in_(wanted)))}


def load_site(
    session: Session,
    path: Path,
    *,
    known_model: KnownModel | None = None,
    devices: DeviceCatalog | None = None,
) -> LoadReport:
    """Validate `path` and make the register match it; the caller commits (or rolls back) the session.

    Nothing is written unless the whole file is valid. Raises `SiteFileError` for a bad file (or one that
    conflicts with devices already in the register) and `RegisterError` when the database fails.
    """
    site = parse_site(path, known_model=known_model, devices=devices)
    try:
        _check_against_register(session, path, site)
        return _write(session, path, site)
    except SQLAlchemyError as exc:
        raise RegisterError(f"{path}: the register could not be updated: {exc}") from exc


def _check_against_register(session: Session, path: Path, site: SiteFile) -> None:
    """A device id may already be bound to a device the file does not mention: say so rather than steal it."""
    in_file = {device.code for home in site.homes for device in home.devices}
    taken = {
        (row.ecosystem, row.external_id): row.code
        for row in session.execute(select(Device.ecosystem, Device.external_id, Device.code))
    }
    problems = []
    for h, home in enumerate(site.homes):
        for d, device in enumerate(home.devices):
            owner = taken.get((device.ecosystem, device.external_id))
            if owner is not None and owner != device.code and owner not in in_file:
                problems.append(
                    Problem(
                        _entry(("homes", h), ("devices", d), label=device.code),
                        "external_id",
                        f"{device.ecosystem} device {device.external_id!r} is already registered as device "
                        f"{owner!r}, which this file does not list; rename it back to {owner!r} "
                        "or remove that device from the register first",
                    )
                )
    if problems:
        _raise(path, problems)


def _count(counts: KindCounts, created: bool, changed: bool) -> None:
    if created:
        counts.created += 1
    elif changed:
        counts.updated += 1
    else:
        counts.unchanged += 1


def _write(session: Session, path: Path, site: SiteFile) -> LoadReport:
    report = LoadReport(path=path)
    homes = _write_homes(session, site, report.counts["homes"])
    elders = _write_elders(session, site, homes, report.counts["elders"])
    for home_entry in site.homes:
        for elder_entry in home_entry.elders:
            _write_contacts(session, elders[elder_entry.code], elder_entry, report)
    devices = _write_devices(session, site, homes, report.counts["devices"])
    listed: tuple[tuple[str, Any, Mapping[str, Any]], ...] = (
        ("homes", Home, homes),
        ("elders", Elder, elders),
        ("devices", Device, devices),
    )
    for kind, model, seen in listed:
        report.not_in_file[kind] = sorted(
            code for code in session.scalars(select(model.code)) if code not in seen
        )
    return report


def _write_homes(session: Session, site: SiteFile, counts: KindCounts) -> dict[str, Home]:
    homes: dict[str, Home] = _by_code(session, Home, (h.code for h in site.homes))
    for entry in site.homes:
        home = homes.get(entry.code)
        created = home is None
        if home is None:
            home = homes[entry.code] = Home(code=entry.code)
            session.add(home)
        values = {
            "address": entry.address,
            "district": entry.district,
            "street": entry.street,
            "community": entry.community,
        }
        _count(counts, created, _apply(home, values))
    session.flush()  # home ids for the elders and devices
    return homes


def safe_zone_values(zone: SafeZoneEntry | None) -> dict[str, Any]:
    """The elder columns of a safe zone (all empty for none): what the site file and the API write."""
    if zone is None:
        return {"safe_lat": None, "safe_lon": None, "safe_radius_m": None, "safe_datum": "wgs84"}
    return {
        "safe_lat": zone.lat,
        "safe_lon": zone.lon,
        "safe_radius_m": zone.radius_m,
        "safe_datum": zone.datum,
    }


def _write_elders(
    session: Session, site: SiteFile, homes: Mapping[str, Home], counts: KindCounts
) -> dict[str, Elder]:
    elders: dict[str, Elder] = _by_code(session, Elder, (e.code for h in site.homes for e in h.elders))
    for home_entry in site.homes:
        for entry in home_entry.elders:
            elder = elders.get(entry.code)
            created = elder is None
            if elder is None:
                elder = elders[entry.code] = Elder(code=entry.code)
                session.add(elder)
            values: dict[str, Any] = {
                "home_id": homes[home_entry.code].id,  # an elder who moved follows the file
                "name": entry.name,
                "sex": entry.sex or "",
                "phone": entry.phone or "",
                "tier": entry.tier,
                "can_answer_phone": entry.can_answer_phone,
                "categories": list(entry.categories),
                **safe_zone_values(entry.safe_zone),
            }
            _count(counts, created, _apply(elder, values))
    session.flush()  # elder ids for the contacts
    return elders


def _write_contacts(session: Session, elder: Elder, entry: ElderEntry, report: LoadReport) -> None:
    counts = report.counts["contacts"]
    existing: dict[tuple[str, str], Contact] = {
        (c.name, c.role): c for c in session.scalars(select(Contact).where(Contact.elder_id == elder.id))
    }
    wanted: set[tuple[str, str]] = set()
    for priority, contact_entry in enumerate(entry.contacts):
        key = (contact_entry.name, str(contact_entry.role))
        wanted.add(key)
        contact = existing.get(key)
        created = contact is None
        if contact is None:
            contact = Contact(elder_id=elder.id, name=contact_entry.name, role=contact_entry.role)
            session.add(contact)
        values = {"relation": contact_entry.relation, "phone": contact_entry.phone, "priority": priority}
        _count(counts, created, _apply(contact, values))
    for key, contact in existing.items():
        if key not in wanted:
            session.delete(contact)
            counts.removed += 1
            report.removed_contacts.append(f"{elder.code}: {contact.name} ({contact.role})")
    session.flush()


def _write_devices(
    session: Session, site: SiteFile, homes: Mapping[str, Home], counts: KindCounts
) -> dict[str, Device]:
    devices: dict[str, Device] = _by_code(session, Device, (d.code for h in site.homes for d in h.devices))
    for home_entry in site.homes:
        for entry in home_entry.devices:
            device = devices.get(entry.code)
            created = device is None
            if device is None:
                device = devices[entry.code] = Device(code=entry.code)
                session.add(device)
            values: dict[str, Any] = {
                "home_id": homes[home_entry.code].id,
                "ecosystem": entry.ecosystem,
                "external_id": entry.external_id,
                "model": entry.model,
                "settings": dict(entry.settings),
            }
            _count(counts, created, _apply(device, values))
    session.flush()
    return devices
