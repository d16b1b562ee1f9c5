"""Durable jobs: enqueue inside the caller's transaction, run by ``maillage worker``."""

from maillage.worker.queue import enqueue_job, queue_depth
from maillage.worker.registry import job, periodic

__all__ = ["enqueue_job", "job", "periodic", "queue_depth"]
