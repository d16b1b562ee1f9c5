"""Exchange with the outside by MSSanté-shaped mail: send a patient's document or a tele-expertise report to an
external professional, read the applicative mailbox and file what arrives (``docs/mssante.md``)."""
