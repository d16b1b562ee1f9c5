"""The security core shared by ``auth``, ``authz`` and ``audit``, below all three: who acts (``Actor``), in which
role (``Role``), allowed to do what (``Permission`` and the role table), from where (``AuditContext``), and the
request dependencies that resolve the actor. Holds no I/O and imports no capability."""
