"""All SQLAlchemy models, one module per aggregate.

Importing this package imports every module in it, so ``Base.metadata`` always holds every table
(Alembic autogenerate, the migration test and the worker all rely on it).
"""

import importlib
import pkgutil

from maillage.kit.db import Base
from maillage.models.job import Job, JobStatus

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Base", "Job", "JobStatus"]
