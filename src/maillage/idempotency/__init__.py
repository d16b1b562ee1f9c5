"""``Idempotency-Key`` for creates: the same key and body from the same caller create one object, once."""
