"""All SQLAlchemy models, one module per aggregate. Importing this package registers every table."""

from maillage.kit.db import Base
from maillage.models.job import Job, JobStatus

__all__ = ["Base", "Job", "JobStatus"]
