"""Registry input models (API bodies and forms) and the Chinese labels users see for every enum value."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

USE_LABELS = {"owner_occupied": "自住", "rented": "出租", "commercial": "经营", "vacant": "空置"}
STRUCTURE_LABELS = {"steel_concrete": "钢混", "brick_concrete": "砖混", "steel": "钢结构", "brick_wood": "砖木",
                    "other": "其他"}
INSPECTION_LABELS = {"not_inspected": "未检查", "passed": "检查合格", "hazard": "存在隐患", "rectified": "已整改"}
HOUSEHOLD_LABELS = {"registered": "户籍人口", "floating": "流动人口"}
SEX_LABELS = {"male": "男", "female": "女"}
RELATION_LABELS = {"owner": "业主", "family": "家庭成员", "tenant": "租户", "other": "其他"}
ORG_KIND_LABELS = {"enterprise": "企业", "shop": "商铺", "school": "学校", "hospital": "医院",
                   "social_org": "社会组织", "government": "机关事业单位", "other": "其他"}
FACILITY_KIND_LABELS = {"fire_hydrant": "消防栓", "camera": "监控摄像头", "aed": "AED 除颤仪",
                        "manhole_cover": "井盖", "emergency_shelter": "应急避难场所", "other": "其他设施"}
FACILITY_STATUS_LABELS = {"in_service": "正常", "faulty": "故障", "out_of_service": "停用"}
# how each kind is drawn on maps (ECharts symbol names) and in legends (an SVG of the same shape)
FACILITY_STYLES = {"fire_hydrant": ("#dc2626", "triangle"), "camera": ("#2563eb", "rect"), "aed": ("#059669", "diamond"),
                   "manhole_cover": ("#92400e", "circle"), "emergency_shelter": ("#7c3aed", "pin"),
                   "other": ("#475569", "roundRect")}
FACILITY_LEGEND = [(k, FACILITY_KIND_LABELS[k], c, sym) for k, (c, sym) in FACILITY_STYLES.items()]
# tag → (label, sensitive). Sensitive classes are special populations: only roles with SENSITIVE_TAG_VIEW see them.
TAGS: dict[str, tuple[str, bool]] = {
    "elderly_alone": ("独居老人", False), "disabled": ("残疾人", False), "left_behind_child": ("留守儿童", False),
    "low_income": ("低保对象", False), "veteran": ("退役军人", False), "volunteer": ("平安志愿者", False),
    "mental_illness": ("严重精神障碍患者", True), "drug_rehab": ("社区戒毒康复人员", True),
    "released_prisoner": ("刑满释放人员", True), "community_correction": ("社区矫正对象", True),
    "hiv": ("艾滋病危险人员", True),
}
ENTITY_LABELS = {"resident": "实有人口", "dwelling": "实有房屋", "organisation": "实有单位", "facility": "实有设施",
                 "address": "标准地址", "building": "楼栋"}
CHANGE_LABELS = {"create": "新建", "update": "修改", "import": "导入新建", "import_update": "导入更新",
                 "move_in": "入住", "move_out": "迁出", "tag": "添加标签"}


def inverse(labels: dict[str, str]) -> dict[str, str]:
    """Label → code, also accepting the code itself (files may carry either)."""
    return {v: k for k, v in labels.items()} | {k: k for k in labels}


class AddressIn(BaseModel):
    town: str = Field(..., examples=["东城街道"])
    village: str = Field(..., examples=["岗贝社区"])
    road: str = ""
    house_no: str = ""
    compound: str = ""
    building: str = ""
    unit: str = ""
    floor: str = ""
    room: str = ""
    lon: float | None = None
    lat: float | None = None


class ResidentIn(BaseModel):
    name: str = Field(..., examples=["张三"])
    id_number: str = Field(..., examples=["11010519491231002X"])
    phone: str = ""
    household: str = Field("floating", description="registered (户籍) | floating (流动)")
    address: str = Field("", description="居住地址(自由文本,匹配标准地址)")
    address_id: int | None = None
    relation: str = "tenant"
    moved_in: date | None = None


class ResidentEdit(BaseModel):
    name: str | None = None
    phone: str | None = None
    household: str | None = None


class MoveIn(BaseModel):
    address: str = ""
    address_id: int | None = None
    relation: str = "tenant"
    moved_in: date | None = None


class TagIn(BaseModel):
    tag: str
    valid_from: date | None = None
    valid_to: date | None = None
    note: str = ""


class DwellingIn(BaseModel):
    address: str = ""
    address_id: int | None = None
    use: str = "owner_occupied"
    structure: str = "other"
    floors: int | None = None
    area_m2: float | None = None
    owner_name: str = ""
    owner_phone: str = ""
    inspection_status: str = "not_inspected"
    inspected_on: date | None = None


class OrganisationIn(BaseModel):
    name: str
    uscc: str = ""
    kind: str = "enterprise"
    address: str = ""
    address_id: int | None = None
    person_in_charge: str = ""
    staff_count: int | None = None
    safety_contact: str = ""
    safety_phone: str = ""


class BuildingIn(BaseModel):
    address: str = Field("", description="楼栋一级的标准地址(新建时必填)", examples=["东城街道岗贝社区东城路12号星河花园3栋"])
    address_id: int | None = None
    name: str = ""
    structure: str = Field("other", description="steel_concrete 钢混 | brick_concrete 砖混 | steel 钢结构 | "
                                                "brick_wood 砖木 | other 其他")
    floors: int | None = Field(None, description="地上层数 1–200")
    floors_below: int | None = Field(None, description="地下层数 0–20")


class FacilityIn(BaseModel):
    code: str
    name: str = ""
    kind: str
    status: str = "in_service"
    lon: float | None = None
    lat: float | None = None
    crs: str = Field("wgs84", description="lon/lat 的坐标系: wgs84 | gcj02 | bd09(保存时换算为 WGS-84)")
    address: str = ""
    owner_department: str = ""
    maintainer_department: str = ""
