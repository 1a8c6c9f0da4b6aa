"""The staff roles of the EDC and the groups that permissions are written with, in one place.

The role names are the protocol's (``frailtrial.protocol.model.Role``: blinding lists them);
the services (``edc/services``) and the web pages (``web/access.py``) build every
permission from these groups, so a role added or renamed here reaches both.
"""

from __future__ import annotations

from frailtrial.protocol.model import STAFF_ROLES

ROLES: tuple[str, ...] = STAFF_ROLES
"""Every role a member of the trial can hold (the participant is not a member)."""
CLINICAL: tuple[str, ...] = ("investigator", "coordinator")
"""Site staff who screen, consent, randomize, dose and report adverse events."""
ENTRY: tuple[str, ...] = (*CLINICAL, "outcome_assessor")
"""Who records visits and enters measurements and CRFs."""
OVERSIGHT: tuple[str, ...] = ("admin", "monitor")
"""Who raises and closes queries and reviews the audit trail."""
SDV: tuple[str, ...] = ("monitor",)
"""Who marks a CRF as verified against source."""
PHARMACY: tuple[str, ...] = ("unblinded_pharmacist",)
"""Who releases lots and prepares doses (unblinded)."""
SAE_ACK: tuple[str, ...] = ("medical_monitor", "admin")
"""Who acknowledges an SAE report for the sponsor (the admin acts for a sponsor without a
medical monitor); they are notified of every SAE and of every overdue acknowledgement."""
SITE_LIMITED: tuple[str, ...] = (*ENTRY, "monitor")
"""Roles that may be limited to one site (the others act on the whole trial)."""
PEOPLE: tuple[str, ...] = ("admin",)
"""Who invites, deactivates and places members at sites, and adds sites."""
SIGNER: tuple[str, ...] = ("investigator",)
"""Who signs a participant's casebook."""
