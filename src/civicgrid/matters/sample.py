"""SAMPLE matter catalogue (示例事项清单), built from the classes in shared/reference.md §3 plus social-governance
matters. It is sample data for the demo and a starting point that a city edits (API, XLSX): the time limits
follow the local examples in reference.md where there are some and are otherwise plausible guesses, NOT an
official table (none is published nationally)."""

from __future__ import annotations

from typing import Any

SAMPLE_NOTE = "示例数据,请按本市规定修改"

# kind code, kind, name
KINDS = [("C", "component", "部件"), ("E", "event", "事件"), ("S", "social", "社会治理事项")]

# class code, name
CLASSES = {
    "C": [("C01", "公用设施"), ("C02", "道路交通"), ("C03", "市容环境"), ("C04", "园林绿化")],
    "E": [("E01", "市容环境"), ("E02", "宣传广告"), ("E03", "施工管理"), ("E04", "突发事件"), ("E05", "街面秩序")],
    "S": [("S01", "治安隐患"), ("S02", "消防隐患"), ("S03", "安全生产隐患"), ("S04", "出租屋管理"),
          ("S05", "矛盾纠纷"), ("S06", "特殊人群"), ("S07", "疫情防控任务")],
}

# subclass code, name, lead department kind, handle hours (normal, urgent), hours mode, village may close,
# public (citizens may choose it), escalate when overdue
SUBCLASSES: list[tuple[str, str, str, float, float, str, bool, bool, bool]] = [
    ("C0101", "井盖破损或缺失", "urban_management", 6, 1, "natural", False, True, True),
    ("C0102", "消防栓损坏", "fire", 14, 4, "working", False, True, False),
    ("C0103", "路灯不亮", "urban_management", 21, 7, "working", False, True, False),
    ("C0104", "电力通信设施损坏", "housing", 21, 7, "working", False, True, False),
    ("C0201", "桥梁损坏", "transport", 35, 7, "working", False, True, True),
    ("C0202", "交通标志损坏", "transport", 21, 7, "working", False, True, False),
    ("C0203", "交通信号灯故障", "public_security", 7, 2, "working", False, True, True),
    ("C0204", "公交站亭损坏", "transport", 21, 7, "working", False, True, False),
    ("C0205", "道路护栏损坏", "transport", 21, 7, "working", False, True, False),
    ("C0301", "公厕设施损坏", "urban_management", 14, 4, "working", False, True, False),
    ("C0302", "垃圾箱破损", "urban_management", 14, 4, "working", True, True, False),
    ("C0303", "广告牌破损", "urban_management", 21, 7, "working", False, True, False),
    ("C0401", "行道树倒伏或缺失", "urban_management", 14, 2, "working", False, True, False),
    ("C0402", "绿地毁损", "urban_management", 21, 7, "working", True, True, False),
    ("C0403", "公共座椅损坏", "urban_management", 21, 7, "working", True, True, False),
    ("E0101", "私搭乱建", "urban_management", 105, 4, "working", False, True, True),
    ("E0102", "暴露垃圾", "urban_management", 7, 2, "working", True, True, False),
    ("E0103", "道路不洁", "urban_management", 4, 2, "working", True, True, False),
    ("E0104", "焚烧垃圾", "environment", 4, 1, "working", False, True, False),
    ("E0105", "积存垃圾渣土", "urban_management", 14, 4, "working", True, True, False),
    ("E0201", "违法小广告", "urban_management", 7, 2, "working", True, True, False),
    ("E0202", "违规户外广告", "urban_management", 35, 7, "working", False, True, False),
    ("E0301", "施工噪音扰民", "environment", 7, 2, "working", False, True, False),
    ("E0302", "施工扬尘", "environment", 7, 2, "working", False, True, False),
    ("E0303", "违规占道施工", "urban_management", 14, 4, "working", False, True, False),
    ("E0401", "供水管道破裂", "water", 6, 2, "natural", False, True, True),
    ("E0402", "路面塌陷", "transport", 6, 2, "natural", False, True, True),
    ("E0403", "道路积水", "water", 6, 2, "natural", False, True, True),
    ("E0404", "火情", "fire", 1, 0.5, "natural", False, True, True),
    ("E0501", "无照经营游商", "urban_management", 4, 2, "working", True, True, False),
    ("E0502", "违章停车", "public_security", 4, 1, "working", False, True, False),
    ("E0503", "露天烧烤", "urban_management", 4, 1, "working", True, True, False),
    ("E0504", "店外占道经营", "urban_management", 7, 2, "working", True, True, False),
    ("E0505", "乞讨卖艺", "civil_affairs", 7, 2, "working", False, True, False),
    ("S0101", "治安隐患线索", "public_security", 14, 2, "working", False, False, True),
    ("S0201", "消防通道堵塞", "fire", 7, 2, "working", True, True, False),
    ("S0202", "电动车违规停放充电", "fire", 7, 2, "working", True, True, False),
    ("S0203", "三小场所消防隐患", "fire", 21, 7, "working", False, True, True),
    ("S0301", "企业安全生产隐患", "emergency", 35, 7, "working", False, True, True),
    ("S0302", "危险化学品隐患", "emergency", 14, 2, "working", False, False, True),
    ("S0401", "出租屋未登记", "public_security", 35, 14, "working", True, False, False),
    ("S0402", "出租屋安全隐患", "housing", 21, 7, "working", False, False, False),
    ("S0501", "邻里纠纷线索", "justice", 35, 7, "working", True, False, False),
    ("S0502", "劳资纠纷线索", "human_resources", 35, 7, "working", False, False, True),
    ("S0601", "特殊人群动态线索", "public_security", 14, 2, "working", False, False, True),
    ("S0701", "疫情防控核查任务", "health", 7, 2, "working", True, False, True),
]


def leaf_rules(lead: str, normal: float, urgent: float, mode: str, village_may_close: bool,
               escalate: bool) -> dict[str, Any]:
    """The rule fields of a sample leaf: 1 working hour to accept and to dispatch (10 minutes when urgent,
    reference.md §4), the handling time given, 2 hours to verify (1 when urgent)."""
    return {
        "lead_departments": {"town": lead, "city": lead},
        "time_limits": {
            "normal": {"accept": 1.0, "dispatch": 1.0, "handle": float(normal), "verify": 2.0},
            "urgent": {"accept": 0.17, "dispatch": 0.17, "handle": float(urgent), "verify": 1.0},
        },
        "hours_mode": mode,
        "village_may_close": village_may_close,
        "escalate_on_overdue": escalate,
    }


def sample_catalogue() -> list[dict[str, Any]]:
    """The sample catalogue as rows in tree order (parents first), the shape import_catalogue takes."""
    rows: list[dict[str, Any]] = []
    for kcode, kind, kname in KINDS:
        rows.append({"code": kcode, "name": kname, "level": "kind", "kind": kind, "parent_code": None})
        for ccode, cname in CLASSES[kcode]:
            rows.append({"code": ccode, "name": cname, "level": "class", "kind": kind, "parent_code": kcode})
            for (scode, sname, lead, normal, urgent, mode, vclose, public, esc) in SUBCLASSES:
                if scode[:3] != ccode:
                    continue
                rows.append({"code": scode, "name": sname, "level": "subclass", "kind": kind,
                             "parent_code": ccode, "public": public,
                             "filing_standard": f"{SAMPLE_NOTE}。发现{sname}即可立案,需附现场照片和位置。",
                             "closing_standard": f"{SAMPLE_NOTE}。{sname}已消除或修复,附处置后照片,经网格员现场核查。",
                             **leaf_rules(lead, normal, urgent, mode, vclose, esc)})
    return rows
