"""Outgoing email, sent at most once per reason to write, through the mail port (``maillage.integrations.mail``)."""
