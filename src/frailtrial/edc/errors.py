"""Errors of the store's services that are not bad input (those raise InputError)."""


class AccessDenied(PermissionError):
    """Role, site or blinding does not allow this; the message never holds an arm."""


class TrialLocked(AccessDenied):
    """The database is locked: nothing changes any more."""


class Conflict(Exception):
    """Someone else changed the record since the caller read it (optimistic concurrency)."""
