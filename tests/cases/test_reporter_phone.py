"""The reporter's phone number: encrypted at rest, shown masked, revealed in full only to staff working the
case whose roles may unmask, every reveal audited; key rotation re-encrypts it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from civicgrid.access.models import AuditEntry
from civicgrid.cases import service
from civicgrid.errors import Forbidden, NotFound
from tests.cases.test_engine_loop import actor, do, report


def _hotline_case(db):
    return report(db, who="village.operator", source="citizen", reporter_name="王女士", reporter_phone="13800138000")


def test_the_phone_is_encrypted_at_rest_and_masked_in_the_case(db):
    case = _hotline_case(db)
    raw = db.execute(text("select reporter_phone from cases where id = :i"), {"i": case.id}).scalar()
    assert raw.startswith("dev$") and "13800138000" not in raw  # key id, then AES-GCM ciphertext
    detail = service.case_detail(db, actor(db, "village.operator"), case.number)
    assert detail["reporter_phone"] == "138****8000" and detail["may_reveal_phone"]


@pytest.mark.parametrize("who, outcome", [("village.operator", "forbidden"), ("town.dispatcher", "ok"),
                                          ("grid.worker", "ok"), ("dept.handler", "not_found"),
                                          ("leader", "forbidden"), ("mediator", "forbidden")])
def test_reveal_is_for_staff_working_the_case_and_audited(db, who, outcome):
    """After escalation the town holds the case: the village no longer works it; the grid worker verifies it."""
    case = _hotline_case(db)
    do(db, "village.operator", case, "accept")
    do(db, "village.operator", case, "escalate", note="需镇街派遣")
    who_ = actor(db, who)
    before = db.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
    if outcome == "ok":
        assert service.reveal_phone(db, who_, case.number) == "13800138000"
        entry = db.scalars(select(AuditEntry).where(AuditEntry.id > before, AuditEntry.action == "case.unmask")).one()
        assert entry.actor_id == who_.user_id and entry.detail["number"] == case.number
    else:
        with pytest.raises(Forbidden if outcome == "forbidden" else NotFound):
            service.reveal_phone(db, who_, case.number)
        assert db.scalar(select(AuditEntry.id).where(AuditEntry.id > before, AuditEntry.action == "case.unmask")) is None
