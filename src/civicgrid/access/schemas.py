"""Pydantic models of the access API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"username": "admin", "password": "civic2026"}})
    username: str = Field(max_length=64)
    password: str = Field(max_length=200)


class PasswordChangeIn(BaseModel):
    old_password: str = Field(max_length=200)
    new_password: str = Field(max_length=200)


class RoleOut(BaseModel):
    id: int
    role: str
    role_label: str
    region_code: str | None = None
    region_name: str | None = None
    department_code: str | None = None
    department_name: str | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "username": "town.dongcheng", "display_name": "东城街道调度员", "active": True, "locked": False,
        "can_log_in": True, "roles": [{"id": 3, "role": "town_dispatcher", "role_label": "镇街调度员",
                                       "region_code": "441900003", "region_name": "东城街道"}], "grids": []}})
    username: str
    display_name: str
    active: bool
    locked: bool
    can_log_in: bool
    roles: list[RoleOut]
    grids: list[dict[str, str]]


class UserPage(BaseModel):
    total: int
    items: list[UserOut]


class UserCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "username": "wang.fang", "display_name": "王芳", "password": "grid2026a"}})
    username: str = Field(max_length=64)
    display_name: str = Field(max_length=100)
    password: str | None = Field(default=None, max_length=200)


class UserUpdate(BaseModel):
    display_name: str | None = Field(default=None, max_length=100)
    active: bool | None = None
    password: str | None = Field(default=None, max_length=200)
    unlock: bool = False


class RoleAssignIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"role": "town_dispatcher", "region_code": "441900003"}})
    role: str
    region_code: str | None = None
    department_code: str | None = None


class GridAssignIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"grid_codes": ["441900003001001"]}})
    grid_codes: list[str] = Field(min_length=1, max_length=100)


class DepartmentIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "code": "441900003-cgzf", "name": "东城街道城管执法分局", "kind": "urban_management", "region_code": "441900003"}})
    code: str = Field(max_length=40)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=40)
    region_code: str
    parent_code: str | None = None


class DepartmentOut(BaseModel):
    code: str
    name: str
    kind: str
    level: str
    region_code: str
    region_name: str
    active: bool


class CentreOut(BaseModel):
    name: str
    level: str
    region_code: str
    region_name: str


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"username": "hotline12345", "name": "12345 热线对接"}})
    username: str
    name: str = Field(max_length=100)


class ApiKeyOut(BaseModel):
    key: str = Field(description="只显示这一次 Shown once")


class MeOut(BaseModel):
    username: str
    display_name: str
    roles: list[dict[str, str | None]]
    csrf_token: str | None = None
