"""Who may do what: actors (people and terminals), their roles, and the unit-tree scopes.

A secretariat manages the halls and meetings of its own unit and the units below it, nothing
else; a chair runs the meetings it chairs; an archivist reads; an admin does everything.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from rooms.errors import Forbidden
from rooms.models import Meeting, RoleName


class ActorKind(enum.StrEnum):
    USER = "user"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class Grant:
    """One role held over a unit and everything below it (``unit_id`` None: everywhere)."""

    role: RoleName
    unit_id: int | None


@dataclass(frozen=True)
class Actor:
    """Whoever makes a request: a logged-in person or a paired terminal."""

    kind: ActorKind
    name: str
    user_id: int | None = None
    terminal_id: int | None = None
    hall_id: int | None = None
    """For a terminal: the hall it belongs to."""
    grants: tuple[Grant, ...] = ()

    @property
    def is_admin(self) -> bool:
        return any(g.role is RoleName.ADMIN for g in self.grants)

    @property
    def label(self) -> str:
        """How logs name this actor (no secrets)."""
        if self.kind is ActorKind.TERMINAL:
            return f"terminal:{self.terminal_id}"
        return f"user:{self.user_id}"


@dataclass
class OrgTree:
    """The unit tree, loaded whole (a province has a few hundred units at most)."""

    parent: dict[int, int | None]
    names: dict[int, str] = field(default_factory=dict)

    def lineage(self, unit_id: int) -> list[int]:
        """The unit and its ancestors, nearest first."""
        chain: list[int] = []
        current: int | None = unit_id
        while current is not None and current not in chain:
            chain.append(current)
            current = self.parent.get(current)
        return chain

    def covers(self, scope: int | None, unit_id: int) -> bool:
        """Whether a grant over ``scope`` reaches ``unit_id`` (None reaches everything)."""
        return scope is None or scope in self.lineage(unit_id)

    def subtree(self, unit_id: int) -> set[int]:
        """The unit and every unit below it."""
        return {u for u in self.parent if unit_id in self.lineage(u)}

    def name(self, unit_id: int) -> str:
        return self.names.get(unit_id, f"#{unit_id}")


class Access:
    """The policy for one actor over one tree; ``require_*`` methods raise :class:`Forbidden`."""

    def __init__(self, actor: Actor, tree: OrgTree) -> None:
        self.actor = actor
        self.tree = tree

    def has(self, role: RoleName, unit_id: int) -> bool:
        if self.actor.is_admin:
            return True
        return any(
            g.role is role and self.tree.covers(g.unit_id, unit_id) for g in self.actor.grants
        )

    def require(self, role: RoleName, unit_id: int, action: str) -> None:
        if not self.has(role, unit_id):
            raise Forbidden(
                f"{action} needs the role {role.value} of unit '{self.tree.name(unit_id)}' "
                "or of a unit above it (or admin)",
                required_role=role.value,
                unit_id=unit_id,
            )

    def require_admin(self, action: str) -> None:
        if not self.actor.is_admin:
            raise Forbidden(f"{action} needs the role admin", required_role=RoleName.ADMIN.value)

    def require_user(self, action: str) -> None:
        if self.actor.kind is not ActorKind.USER:
            raise Forbidden(f"{action} needs a person's login, not a terminal")

    def sees_unit(self, unit_id: int) -> bool:
        """Any role over the unit lets a person read its halls and meetings."""
        if self.actor.is_admin:
            return True
        return any(self.tree.covers(g.unit_id, unit_id) for g in self.actor.grants)

    def visible_units(self) -> set[int] | None:
        """The units whose records this actor may read (None: all of them)."""
        if self.actor.is_admin:
            return None
        units: set[int] = set()
        for g in self.actor.grants:
            if g.unit_id is None:
                return None
            units |= self.tree.subtree(g.unit_id)
        return units

    def sees_meeting(self, meeting: Meeting, hall_units: Iterable[int]) -> bool:
        """A terminal sees its hall's meetings; a person those of the units it covers."""
        if self.actor.kind is ActorKind.TERMINAL:
            return self.actor.hall_id in meeting.hall_ids
        return self.sees_unit(meeting.unit_id) or any(self.sees_unit(u) for u in hall_units)

    def manages_meeting(self, meeting: Meeting) -> bool:
        return self.actor.kind is ActorKind.USER and self.has(RoleName.SECRETARIAT, meeting.unit_id)

    def require_manage_meeting(self, meeting: Meeting, action: str) -> None:
        self.require_user(action)
        self.require(RoleName.SECRETARIAT, meeting.unit_id, action)

    def require_chair(self, meeting: Meeting, action: str) -> None:
        """Only the meeting's chair (or an admin) starts and ends it."""
        self.require_user(action)
        if self.actor.is_admin or self.actor.user_id == meeting.chair_user_id:
            return
        raise Forbidden(
            f"{action} is for the meeting's chair ({meeting.chair_user.full_name}) or an admin",
            required_role=RoleName.CHAIR.value,
        )
