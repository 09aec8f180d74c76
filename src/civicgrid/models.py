"""Import every domain's models so that metadata (Alembic, tests) sees all tables."""

from civicgrid.access import models as access_models  # noqa: F401
from civicgrid.analytics import aggregates as analytics_aggregates  # noqa: F401 (tables and the after-flush hook)
from civicgrid.cases import models as case_models  # noqa: F401
from civicgrid.db import Base
from civicgrid.geo import models as geo_models  # noqa: F401
from civicgrid.matters import models as matter_models  # noqa: F401
from civicgrid.portal import models as portal_models  # noqa: F401
from civicgrid.registry import models as registry_models  # noqa: F401

metadata = Base.metadata
