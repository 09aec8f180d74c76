"""The deadline sweep: lights, due-soon and overdue notices, automatic escalation, idempotence."""

from datetime import timedelta

from sqlalchemy import func, select

from civicgrid import clock
from civicgrid.cases import deadlines, jobs
from civicgrid.cases.models import Notification, TimelineEntry
from tests.cases.test_engine_loop import do, report


def test_lights_turn_yellow_then_red_and_the_sweep_acts_once(db):
    case = report(db, category="E0102")  # accept within 1 working hour
    assert deadlines.light(case, case.reported_at) == "green"
    assert deadlines.light(case, case.warn_at) == "yellow"
    assert deadlines.light(case, case.due_at) == "red"
    first = jobs.sweep(db, now=case.warn_at + timedelta(seconds=1))
    assert first["due_soon"] >= 1 and case.warned
    after = case.due_at + timedelta(minutes=1)
    r1 = jobs.sweep(db, now=after)
    assert r1["overdue"] >= 1 and case.overdue and case.ever_overdue
    n_entries = db.scalar(select(func.count()).where(TimelineEntry.case_id == case.id))
    n_notes = db.scalar(select(func.count()).where(Notification.case_id == case.id))
    r2 = jobs.sweep(db, now=after)
    assert r2 == {"due_soon": 0, "overdue": 0, "escalated": 0, "skipped": 0}
    assert db.scalar(select(func.count()).where(TimelineEntry.case_id == case.id)) == n_entries
    assert db.scalar(select(func.count()).where(Notification.case_id == case.id)) == n_notes
    # a new step starts a new clock: the flags reset
    do(db, "village.operator", case, "accept")
    assert not case.overdue and case.ever_overdue and case.step == "dispatch"


def test_overdue_case_escalates_when_the_catalogue_says_so(db):
    case = report(db, category="E0101")  # 私搭乱建: escalate_on_overdue in the sample catalogue
    assert case.rules["escalate_on_overdue"] and case.level == "village"
    out = jobs.sweep(db, now=case.due_at + timedelta(minutes=5))
    assert out["escalated"] >= 1 and case.level == "town" and case.state == "reported"
    actions = [e.action for e in db.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case.id)
                                            .order_by(TimelineEntry.seq))]
    assert actions == ["report", "overdue", "auto_escalate"]
    assert case.due_at > clock.now() - timedelta(days=1)


def test_working_hours_skip_the_night(db):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    friday_evening = datetime(2026, 6, 5, 18, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    with clock.frozen(friday_evening):
        case = report(db, category="E0102")
    local_due = case.due_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local_due.year, local_due.month, local_due.day, local_due.hour, local_due.minute) == (2026, 6, 8, 9, 30)


def test_due_soon_and_overdue_queues_follow_the_clock(db):
    from civicgrid.cases import service
    from tests.cases.test_engine_loop import actor

    case = report(db, category="E0102")
    op = actor(db, "village.operator")
    numbers = lambda queue: [c["number"] for c in service.list_cases(db, op, queue=queue)["items"]]  # noqa: E731
    assert case.number not in numbers("due_soon") and case.number not in numbers("overdue")
    with clock.frozen(case.warn_at + timedelta(seconds=1)):
        assert case.number in numbers("due_soon") and case.number not in numbers("overdue")
        assert service.queue_counts(db, op)["due_soon"] >= 1
    with clock.frozen(case.due_at + timedelta(seconds=1)):
        assert case.number in numbers("overdue") and case.number not in numbers("due_soon")
