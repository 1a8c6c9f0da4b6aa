"""One list of roles (the protocol's) and one set of role groups (edc/roles.py) that the
store's services and the web pages both build their permissions from."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from frailtrial.edc import roles
from frailtrial.protocol.model import Role
from web_support import web_store

GROUPS = {
    "CLINICAL": roles.CLINICAL,
    "ENTRY": roles.ENTRY,
    "OVERSIGHT": roles.OVERSIGHT,
    "PHARMACY": roles.PHARMACY,
}


def test_the_roles_are_the_protocols_staff_roles_and_every_group_names_only_those() -> None:
    assert tuple(r for r in get_args(Role) if r != "participant") == roles.ROLES
    for name, group in GROUPS.items():
        assert group and set(group) <= set(roles.ROLES), name
    assert set(roles.ENTRY) == {*roles.CLINICAL, "outcome_assessor"}


def test_the_store_and_the_pages_read_the_same_roles(tmp_path: Path) -> None:
    web_store(tmp_path)
    from frailtrial.edc.models import ROLES, Membership
    from frailtrial.edc.services import common, crf, product, visits
    from frailtrial.web import access

    assert ROLES is roles.ROLES
    assert [c for c, _ in Membership._meta.get_field("role").choices] == list(roles.ROLES)
    assert common.CLINICAL is roles.CLINICAL and access.CLINICAL is roles.CLINICAL
    assert crf.ENTRY is visits.ENTRY is access.ENTRY is roles.ENTRY
    assert product.PHARMACY is access.PHARMACY is roles.PHARMACY
    assert access.PERMISSIONS["pharmacy"] == roles.PHARMACY
    assert access.PERMISSIONS["crf_enter"] == roles.ENTRY
    for permission, allowed in access.PERMISSIONS.items():
        assert set(allowed) <= set(roles.ROLES), permission
