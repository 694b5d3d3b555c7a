"""A small site used by pipeline, API and end-to-end tests: two homes, SOS button, motion, water meter."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from hub.devices.registry import DeviceRegistry
from hub.register.db import make_engine, migrate, session_factory
from hub.register.site import load_site

SITE_YAML = """
homes:
  - code: H001
    address: 重庆市渝北区双龙湖街道紫薇社区3栋2单元401
    district: 渝北区
    street: 双龙湖街道
    community: 紫薇社区
    elders:
      - code: E001
        name: 张秀英
        sex: 女
        phone: "13800000001"
        tier: key
        categories: [独居]
        contacts:
          - {name: 李娜, role: visitor, phone: "13900000001"}
    devices:
      - {code: H001-sos, ecosystem: zigbee2mqtt, external_id: h001_sos, model: TS0215A_sos}
      - {code: H001-motion, ecosystem: zigbee2mqtt, external_id: h001_motion, model: RTCGQ11LM}
      - {code: H001-water, ecosystem: tasmota, external_id: h001_water, model: pulse_counter,
         settings: {litres_per_pulse: 1.0, report_interval_s: 300}}
      - {code: H001-health, ecosystem: native, external_id: h001_health, model: health_monitor}
  - code: H002
    address: 重庆市渝北区龙溪街道松牌路88号
    district: 渝北区
    street: 龙溪街道
    community: 松牌社区
    elders:
      - code: E002
        name: 王建国
        sex: 男
        phone: "13800000002"
        tier: general
        categories: [空巢]
    devices:
      - {code: H002-sos, ecosystem: zigbee2mqtt, external_id: h002_sos, model: TS0215A_sos}
"""


def make_site(
    tmp: Path, url: str | None = None, site_yaml: str = SITE_YAML, name: str = "site.yaml"
) -> sessionmaker[Session]:
    """Migrate a register (SQLite in `tmp` unless `url`), load `site_yaml`, return a session factory."""
    engine = make_engine(url or f"sqlite:///{tmp / 'register.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    site = tmp / name
    site.write_text(site_yaml, encoding="utf-8")
    with sessions.begin() as session:
        load_site(session, site, devices=DeviceRegistry.default())
    return sessions
