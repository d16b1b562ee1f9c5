"""Secure messaging between professionals: threads (one to one, groups, team mailboxes), about a patient or not."""
