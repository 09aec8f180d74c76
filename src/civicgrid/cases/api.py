"""JSON routes of cases: report, act, read, queues, photos, inbox. Parse, call one service function, return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, File, Header, Query, Response, UploadFile
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.policy import Actor
from civicgrid.cases import service
from civicgrid.cases.schemas import ActionIn, BulkIn, CaseList, ReportIn
from civicgrid.web.deps import current_actor, get_db

router = APIRouter(prefix="/api/v1", tags=["cases"])
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)


@router.post("/cases", status_code=201, summary="上报事件 Report a case",
             description="定位网格、按事项分类归档并交给相应指挥中心。相同的 Idempotency-Key(或 12345 工单号)"
                         "重试返回同一事件(200);同一键但内容不同返回 409。")
def report(body: ReportIn, response: Response, idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
           db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    case, created = service.report_case(db, actor, body.model_dump(exclude_none=True),
                                        idempotency_key=idempotency_key, client="api")
    if not created:
        response.status_code = 200
    return service.report_answer(db, actor, case)


@router.get("/cases", response_model=CaseList, summary="事件列表与队列 Cases (queues, filters)")
def list_cases(queue: str = Query("all", description="队列: " + "、".join(f"{k}={v}" for k, v in service.QUEUES.items())),
               state: str | None = None, category: str | None = Query(None, description="分类编码前缀"),
               source: str | None = None, region: str | None = Query(None, description="区域代码(含下级)"),
               light: str | None = Query(None, description="green / yellow / red"),
               q: str | None = Query(None, description="标题、编号、地址关键词"),
               date_from: datetime | None = None, date_to: datetime | None = None,
               reporter: str | None = Query(None, description="上报人用户名"),
               verifier: str | None = Query(None, description="核查人用户名(核查过该事件)"),
               sort: str = Query("due", description="due 期限 / new 最新上报 / old 最早上报"),
               limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
               db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.list_cases(db, actor, queue=queue, state=state, category=category, source=source, region=region,
                              light=light, text=q, date_from=date_from, date_to=date_to, sort=sort, limit=limit,
                              offset=offset, reporter=reporter, verifier=verifier)


@router.post("/cases/bulk/{action}", summary="批量派遣/督办 Bulk dispatch or supervise")
def bulk(action: str, body: BulkIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    payload = body.model_dump(exclude={"items"}, exclude_none=True)
    results = service.bulk_act(db, actor, [(i.number, i.version) for i in body.items], action, payload, client="api")
    return {"done": sum(r["ok"] for r in results), "failed": sum(not r["ok"] for r in results), "results": results}


@router.get("/cases/export.{fmt}", summary="导出事件清单 XLSX/CSV (与列表相同的筛选)", response_class=Response)
def export(fmt: str, queue: str = "all", state: str | None = None, category: str | None = None,
           source: str | None = None, region: str | None = None, light: str | None = None, q: str | None = None,
           date_from: datetime | None = None, date_to: datetime | None = None, sort: str = "due",
           reporter: str | None = None, verifier: str | None = None, db: Session = DB,
           actor: Actor = ACTOR) -> Response:
    from civicgrid.cases.export import MAX_ROWS, to_csv, to_xlsx
    from civicgrid.errors import BadInput

    if fmt not in ("xlsx", "csv"):
        raise BadInput("invalid_format", "导出格式应为 xlsx 或 csv", "Export format must be xlsx or csv")
    page = service.list_cases(db, actor, queue=queue, state=state, category=category, source=source, region=region,
                              light=light, text=q, date_from=date_from, date_to=date_to, sort=sort, limit=MAX_ROWS,
                              offset=0, reporter=reporter, verifier=verifier)
    stamp = f"{clock.now().astimezone(clock.CHINA_TZ):%Y%m%d-%H%M}"
    name = f"cases-{queue}-{stamp}.{fmt}"
    if fmt == "csv":
        return Response(to_csv(page["items"]), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    title = f"事件清单({service.QUEUES.get(queue, queue)})"
    return Response(to_xlsx(page["items"], title),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/cases/points", summary="地图事件点(未结案,按亮灯着色) Open cases as map points")
def points(region: str = Query(..., description="区域代码(含下级)"), db: Session = DB,
           actor: Actor = ACTOR) -> dict[str, Any]:
    return service.case_points(db, actor, region)


@router.get("/cases/summary", summary="区域/网格事件概况 Case counts of a region or grid")
def summary(region: str = Query(..., description="区域或网格代码"), db: Session = DB,
            actor: Actor = ACTOR) -> dict[str, Any]:
    return service.region_case_summary(db, actor, region)


@router.get("/cases/queues", summary="各队列件数 Queue counts")
def queue_counts(db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    counts = service.queue_counts(db, actor)
    return {"counts": counts, "labels": {k: v for k, v in service.QUEUES.items() if k in counts}}


@router.post("/cases/{number}/reveal-phone", summary="查看上报人完整电话(记入审计) Reveal the reporter's phone")
def reveal_phone(number: str, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return {"number": number, "reporter_phone": service.reveal_phone(db, actor, number)}


@router.get("/cases/{number}", summary="事件详情(含时间线与可执行操作) Case detail")
def detail(number: str, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.case_detail(db, actor, number)


@router.post("/cases/{number}/actions/{action}", summary="执行操作 Apply an action",
             description="只有当前用户此刻可执行的操作会成功;否则 403(角色不符)或 409(状态不符、版本过期),"
                         "并返回 allowed 列表。")
def act(number: str, action: str, body: ActionIn = Body(default_factory=ActionIn), db: Session = DB,
        actor: Actor = ACTOR) -> dict[str, Any]:
    service.act(db, actor, number, action, body.payload(), expected_version=body.version, client="api")
    return service.case_detail(db, actor, number)


@router.post("/cases/{number}/photos", status_code=201, summary="上传照片 Upload a photo",
             description="JPG/PNG/WebP,按内容识别类型;去除除方向和位置以外的 EXIF;生成缩略图。")
def upload_photo(number: str, file: UploadFile = File(...), db: Session = DB,
                 actor: Actor = ACTOR) -> dict[str, Any]:
    from civicgrid.config import get_settings

    limit = int(get_settings().upload_max_mb * 1024 * 1024)
    data = file.file.read(limit + 1)  # a plain def: FastAPI runs it in the thread pool, off the event loop
    att = service.add_photo(db, actor, number, data, file.filename or "")
    return {"id": att.id, "mime": att.mime, "width": att.width, "height": att.height,
            "url": f"/api/v1/photos/{att.id}", "thumb_url": f"/api/v1/photos/{att.id}?thumb=1"}


@router.get("/photos/{attachment_id}", summary="照片 Photo", response_class=Response)
def photo(attachment_id: int, thumb: bool = False, db: Session = DB, actor: Actor = ACTOR) -> Response:
    data, mime = service.get_photo(db, actor, attachment_id, thumb=thumb)
    return Response(data, media_type=mime, headers={"Cache-Control": "private, max-age=86400"})


@router.get("/inbox", summary="消息 Inbox")
def inbox(unread: bool = False, limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0),
          db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.inbox(db, actor, unread_only=unread, limit=limit, offset=offset)


@router.post("/inbox/read", summary="标为已读 Mark read")
def inbox_read(ids: list[int] | None = Body(None, embed=True), db: Session = DB,
               actor: Actor = ACTOR) -> dict[str, int]:
    return {"marked": service.mark_read(db, actor, ids)}


@router.get("/calendar", summary="工作日历状态 Working calendar (which years are known)")
def calendar_status(db: Session = DB, actor: Actor = ACTOR) -> list[dict[str, Any]]:
    from civicgrid.cases import deadlines

    y = clock.today().year
    return deadlines.calendar_status(db, [y - 1, y, y + 1])


@router.put("/calendar/notices/{year}", summary="导入节假日安排 Load a year's holiday notice (CSV: date,type)",
            description="CSV 文本,每行 `日期,休|班`,如 `2027-10-01,休`、`2027-09-26,班`。")
def load_notice(year: int, text: str = Body(..., media_type="text/plain"), source: str = Query(""),
                db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    from civicgrid.cases import deadlines

    return deadlines.load_holiday_notice(db, actor, year, text, source)
