"""A made-up but plausible site of 渝北区 homes, in the site-file schema the register loads.

Everything is drawn from one seeded `random.Random`, so a seed always gives the same site: the simulator and
the hub can be started separately and still agree on codes and external ids.
"""

from __future__ import annotations

import random
from typing import Any

import yaml

from hub.sim.errors import SimError

DISTRICT = "渝北区"

# Streets (街道/镇) of 渝北区 and communities (社区/村) under them.
STREETS: dict[str, tuple[str, ...]] = {
    "双龙湖街道": ("紫薇社区", "百果社区", "天竺社区", "双湖社区"),
    "龙溪街道": ("松牌社区", "金龙社区", "武陵社区", "花卉园社区"),
    "回兴街道": ("宝圣社区", "兴科社区", "回兴社区", "服装城社区"),
    "仙桃街道": ("仙桃社区", "龙井湾社区", "桂馥社区"),
    "龙山街道": ("龙山社区", "余松社区", "旭庆社区"),
    "龙塔街道": ("龙塔社区", "黄龙路社区", "上丁社区"),
    "双凤桥街道": ("双凤社区", "长凯社区", "空港社区"),
    "宝圣湖街道": ("宝圣湖社区", "桥亭社区", "白云社区"),
    "统景镇": ("统景村", "印盒村", "江口村"),
    "大盛镇": ("大盛村", "青龙村", "顺龙村"),
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢唐冉谭邓彭"
# Given names typical of people born in the 1930s–1950s.
ELDER_GIVEN = {
    "女": ("秀英", "桂兰", "淑珍", "玉兰", "凤英", "素芬", "桂英", "玉珍", "翠华", "德芬", "明秀", "光碧"),
    "男": ("建国", "国华", "德明", "志强", "福贵", "德全", "长林", "泽民", "光荣", "树清", "正银", "顺发"),
}
# Given names of the children's and the staff's generation.
YOUNGER_GIVEN = (
    "伟",
    "娜",
    "芳",
    "强",
    "敏",
    "静",
    "磊",
    "洋",
    "勇",
    "艳",
    "杰",
    "婷",
    "军",
    "丽",
    "涛",
    "霞",
)
RELATIONS = ("儿子", "女儿", "侄子", "侄女", "孙子", "孙女", "外甥")
MOBILE_PREFIXES = (
    "133",
    "135",
    "136",
    "138",
    "139",
    "150",
    "151",
    "152",
    "158",
    "159",
    "177",
    "180",
    "186",
    "187",
)

# The demo's 4G watches: their wearers live in 渝北区's built-up part (WGS-84), inside a safe zone this large.
WATCH_AREA = ((29.59, 29.74), (106.48, 106.66))
SAFE_ZONE_RADIUS_M = 800.0

CATEGORIES = ("独居", "空巢", "农村留守", "失能", "重残", "计生特殊家庭", "其他")


class _Draw:
    """The seeded source of names and phone numbers for one site, keeping phone numbers unique."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._phones: set[str] = set()

    def phone(self) -> str:
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self._phones:
                self._phones.add(number)
                return number

    def elder_name(self, sex: str) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(ELDER_GIVEN[sex])

    def younger_name(self, surname: str | None = None) -> str:
        given = "".join(self.rng.choice(YOUNGER_GIVEN) for _ in range(self.rng.choice((1, 1, 2))))
        return (surname or self.rng.choice(SURNAMES)) + given


def _categories(rng: random.Random, rural: bool, couple: bool) -> list[str]:
    """One living situation plus, sometimes, a condition; 独居 takes precedence over 空巢 (as the notice says)."""
    if couple:
        first = "农村留守" if rural else "空巢"
    elif rural:
        first = rng.choice(("农村留守", "独居"))
    else:
        first = rng.choices(("独居", "空巢", "计生特殊家庭", "其他"), weights=(6, 2, 1, 1))[0]
    extra = rng.choices(("", "失能", "重残"), weights=(6, 3, 1))[0]
    return [first, extra] if extra else [first]


def _elder(draw: _Draw, code: str, sex: str, categories: list[str], staff: dict[str, str]) -> dict[str, Any]:
    rng = draw.rng
    name = draw.elder_name(sex)
    key = "失能" in categories or "重残" in categories or rng.random() < 0.2
    child_surname = name[0] if rng.random() < 0.7 else None
    relative: dict[str, Any] = {
        "name": draw.younger_name(child_surname),
        "role": "relative",
        "relation": rng.choice(RELATIONS),
        "phone": draw.phone(),
    }
    return {
        "code": code,
        "name": name,
        "sex": sex,
        "phone": draw.phone(),
        "tier": "key" if key else "general",
        "categories": categories,
        "contacts": [
            {"name": staff["visitor"], "role": "visitor", "phone": staff["visitor_phone"]},
            relative,
            {"name": draw.younger_name(), "role": "emergency", "relation": "邻居", "phone": draw.phone()},
            {"name": staff["responsible"], "role": "responsible", "phone": staff["responsible_phone"]},
        ],
    }


def _devices(home_code: str) -> list[dict[str, Any]]:
    ext = home_code.lower()
    return [
        {
            "code": f"{home_code}-sos",
            "ecosystem": "zigbee2mqtt",
            "external_id": f"{ext}_sos",
            "model": "TS0215A_sos",
        },
        {
            "code": f"{home_code}-motion",
            "ecosystem": "zigbee2mqtt",
            "external_id": f"{ext}_motion",
            "model": "RTCGQ11LM",
        },
        {
            "code": f"{home_code}-door",
            "ecosystem": "zigbee2mqtt",
            "external_id": f"{ext}_door",
            "model": "MCCGQ11LM",
        },
        {
            "code": f"{home_code}-water",
            "ecosystem": "tasmota",
            "external_id": f"{ext}_water",
            "model": "pulse_counter",
            "settings": {"litres_per_pulse": 1.0, "report_interval_s": 300},
        },
        {
            "code": f"{home_code}-health",
            "ecosystem": "native",
            "external_id": f"{ext}_health",
            "model": "health_monitor",
        },
    ]


def watch_id(home_no: int) -> str:
    """The 10-digit id the simulated 4G watch of home number `home_no` sends."""
    return f"8800{home_no:06d}"


def _give_watch(home: dict[str, Any], home_no: int, rng: random.Random) -> None:
    """The home's first elder wears a 4G watch and has a safe zone around home."""
    (lat_lo, lat_hi), (lon_lo, lon_hi) = WATCH_AREA
    home["devices"].append(
        {
            "code": f"{home['code']}-watch",
            "ecosystem": "watch",
            "external_id": watch_id(home_no),
            "model": "4g_watch",
        }
    )
    home["elders"][0]["safe_zone"] = {
        "lat": round(rng.uniform(lat_lo, lat_hi), 6),
        "lon": round(rng.uniform(lon_lo, lon_hi), 6),
        "radius_m": SAFE_ZONE_RADIUS_M,
        "datum": "wgs84",
    }


def simulated_site(homes: int, seed: int, *, watches: int = 0) -> dict[str, Any]:
    """Describe `homes` homes of 渝北区 with their elders, contacts and devices; the same seed gives the same site.

    The result is the site-file schema (`homes: [{code, address, …, elders: [...], devices: [...]}]`). The
    first `watches` homes' first elders also wear a 4G watch (`hub.sim.watch`) and have a safe zone at home.
    """
    if homes < 1:
        raise SimError(f"the simulated site needs at least one home, got homes={homes}")
    draw = _Draw(random.Random(f"eldercare-sim-site/{seed}"))
    rng = draw.rng
    width = max(3, len(str(homes)))
    # One visitor (网格员) and one responsible person (社区干部) per community, shared by its homes.
    staff_by_community: dict[str, dict[str, str]] = {}
    result: list[dict[str, Any]] = []
    elder_no = 0
    addresses: set[str] = set()
    for home_no in range(1, homes + 1):
        code = f"H{home_no:0{width}d}"
        street = rng.choice(sorted(STREETS))
        community = rng.choice(STREETS[street])
        rural = community.endswith("村")
        while True:
            if rural:
                place = f"{rng.choice(('一', '二', '三', '四', '五', '六'))}组{rng.randint(1, 80)}号"
            else:
                place = (
                    f"{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元{rng.randint(1, 18)}"
                    f"{rng.randint(1, 4):02d}"
                )
            address = f"重庆市{DISTRICT}{street}{community}{place}"
            if address not in addresses:
                addresses.add(address)
                break
        staff = staff_by_community.setdefault(
            community,
            {
                "visitor": draw.younger_name(),
                "visitor_phone": draw.phone(),
                "responsible": draw.younger_name(),
                "responsible_phone": draw.phone(),
            },
        )
        couple = rng.random() < 0.15
        sexes = ["女", "男"] if couple else [rng.choices(("女", "男"), weights=(3, 2))[0]]
        categories = _categories(rng, rural, couple)
        elders = []
        for sex in sexes:
            elder_no += 1
            elders.append(_elder(draw, f"E{elder_no:0{width}d}", sex, list(categories), staff))
        result.append(
            {
                "code": code,
                "address": address,
                "district": DISTRICT,
                "street": street,
                "community": community,
                "elders": elders,
                "devices": _devices(code),
            }
        )
    # Drawn apart from the rest, so the homes are the same with or without watches.
    watch_rng = random.Random(f"eldercare-sim-watch-site/{seed}")
    for home_no, home in enumerate(result[:watches], start=1):
        _give_watch(home, home_no, watch_rng)
    return {"homes": result}


def dump_site_yaml(site: dict[str, Any]) -> str:
    """The site as YAML text (Chinese kept readable, keys in schema order) for `--site` files."""
    return yaml.safe_dump(site, allow_unicode=True, sort_keys=False, default_flow_style=False)
