"""Tele-expertise: a requester's question to a specialty line of the support hospital, the specialist's
structured opinion, the patient's orientation, and the billable acts."""
