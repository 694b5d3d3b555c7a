"""A site for the alert tests: one key elder with a visitor, two relatives and a responsible person."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.site_fixture import make_site

# As the register keeps them; Twilio sees them in E.164 (+86…).
VISITOR = "13900000001"
SON = "13900000002"
DAUGHTER = "13900000003"
RESPONSIBLE = "13900000004"
ONCALL = "13900000005"

ALERT_SITE = f"""
homes:
  - code: H001
    address: 渝北区紫薇社区3栋401
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
          - {{name: 李娜, role: visitor, phone: "{VISITOR}"}}
          - {{name: 张伟, role: relative, relation: 儿子, phone: "{SON}"}}
          - {{name: 张丽, role: emergency, relation: 女儿, phone: "{DAUGHTER}"}}
          - {{name: 王主任, role: responsible, phone: "{RESPONSIBLE}"}}
    devices:
      - {{code: H001-sos, ecosystem: zigbee2mqtt, external_id: h001_sos, model: TS0215A_sos}}
      - {{code: H001-leak, ecosystem: zigbee2mqtt, external_id: h001_leak, model: SJCGQ11LM}}
"""


def make_alert_site(tmp: Path, url: str | None = None) -> sessionmaker[Session]:
    """Migrate a register, load the alert site, return sessions."""
    return make_site(tmp, url, ALERT_SITE, "alert-site.yaml")
