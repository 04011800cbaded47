"""A Nautobot user's enabled ObjectPermissions, direct and through groups, read in four queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, or_, select

from reconciler.nautobot.tables import (
    auth_user,
    auth_user_groups,
    django_content_type,
    users_objectpermission,
    users_objectpermission_groups,
    users_objectpermission_object_types,
    users_objectpermission_users,
)


@dataclass(frozen=True)
class UserRecord:
    id: UUID
    username: str
    is_active: bool
    is_superuser: bool


@dataclass(frozen=True)
class PermissionRecord:
    name: str
    actions: tuple[str, ...]
    object_types: tuple[str, ...]  # "app_label.model"
    constraints: Any


def read_user(connection: Connection, username: str) -> tuple[UserRecord, list[PermissionRecord]] | None:
    row = connection.execute(select(auth_user).where(auth_user.c.username == username)).first()
    if row is None:
        return None
    user = UserRecord(row.id, row.username, bool(row.is_active), bool(row.is_superuser))
    groups = select(auth_user_groups.c.group_id).where(auth_user_groups.c.user_id == user.id)
    direct = select(users_objectpermission_users.c.objectpermission_id).where(
        users_objectpermission_users.c.user_id == user.id
    )
    via_group = select(users_objectpermission_groups.c.objectpermission_id).where(
        users_objectpermission_groups.c.group_id.in_(groups)
    )
    permissions = {
        r.id: r
        for r in connection.execute(
            select(users_objectpermission).where(
                users_objectpermission.c.enabled.is_(True),
                or_(users_objectpermission.c.id.in_(direct), users_objectpermission.c.id.in_(via_group)),
            )
        )
    }
    types: dict[UUID, list[str]] = defaultdict(list)
    if permissions:
        query = (
            select(users_objectpermission_object_types.c.objectpermission_id, django_content_type.c.app_label,
                   django_content_type.c.model)
            .join(django_content_type, django_content_type.c.id == users_objectpermission_object_types.c.contenttype_id)
            .where(users_objectpermission_object_types.c.objectpermission_id.in_(list(permissions)))
        )  # fmt: skip
        for permission_id, app_label, model in connection.execute(query):
            types[permission_id].append(f"{app_label}.{model}")
    records = [
        PermissionRecord(p.name, tuple(str(a) for a in p.actions or ()), tuple(sorted(types[p.id])), p.constraints)
        for p in permissions.values()
    ]
    return user, sorted(records, key=lambda r: r.name)
