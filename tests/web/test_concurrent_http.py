"""Many integrations reporting at once over real HTTP: every request is served (no stalls, no 500s).

Regression test: authentication once ran database work on the event loop, so concurrent requests holding
the same API key row deadlocked the server on PostgreSQL and failed with "database is locked" on SQLite."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import shapely
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from civicgrid.geo.models import Region


def test_concurrent_reports_and_health_are_all_served(live_url, engine, demo_city):
    with sessionmaker(bind=engine)() as s:
        grids = s.scalars(select(Region).where(Region.level == "grid").order_by(Region.code).limit(12)).all()
        points = [shapely.from_wkb(g.geom_wkb).representative_point() for g in grids]
    headers = {"Authorization": f"Bearer {demo_city.api_key}"}

    def report(k: int) -> int:
        p = points[k % len(points)]
        with httpx.Client(base_url=live_url, timeout=60) as c:
            r = c.post("/api/v1/cases", headers=headers,
                       json={"title": f"并发上报 {k}", "category": "E0102", "lon": p.x, "lat": p.y})
            return r.status_code

    def health(_k: int) -> int:
        with httpx.Client(base_url=live_url, timeout=60) as c:
            return c.get("/health").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        reports = list(pool.map(report, range(24)))
        healths = list(pool.map(health, range(12)))
    assert reports == [201] * 24
    assert healths == [200] * 12
