"""Domain errors: an HTTP status, a stable machine code, a Chinese message and an English detail."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user may see. Rendered as JSON by the API, as a message by pages."""

    status: int = 400
    code: str = "bad_request"
    keep_changes: bool = False  # commit the transaction's writes anyway (e.g. a failed log-in's audit entry)

    def __init__(self, code: str | None = None, message_zh: str = "请求有误", detail: str = "Bad request",
                 *, status: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        if code:
            self.code = code
        if status:
            self.status = status
        self.message_zh = message_zh
        self.detail = detail
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message_zh, "detail": self.detail}
        if self.extra:
            body.update(self.extra)
        return body


class BadInput(DomainError):
    status = 400


class NotFound(DomainError):
    status = 404
    code = "not_found"

    def __init__(self, what: str = "record", message_zh: str = "记录不存在或无权查看") -> None:
        super().__init__("not_found", message_zh, f"{what} not found")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthenticated(DomainError):
    status = 401
    code = "not_authenticated"

    def __init__(self, code: str = "not_authenticated", message_zh: str = "请先登录",
                 detail: str = "Authentication required") -> None:
        super().__init__(code, message_zh, detail)


class Conflict(DomainError):
    status = 409
    code = "conflict"
