"""The kit knows no medicine: database plumbing, time, logging, crypto primitives."""
