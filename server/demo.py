"""The demo province, modelled on Quảng Bình: its hall, eight district halls, a terminal each,
one user per role, and a weekly briefing."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.access import Access
from rooms.localtime import LOCAL_TZ, to_local
from rooms.models import Hall, RoleName, Terminal, Unit, UnitLevel, User, UserRole
from rooms.org import actor_for_user, hash_token, new_token
from rooms.scheduling import Scheduler, load_tree
from rooms.schemas import AgendaItemIn, MeetingIn, SeriesIn
from server.security import Passwords

PROVINCE = ("QB", "Tỉnh Quảng Bình", "Hội trường UBND tỉnh Quảng Bình")
DISTRICTS = [
    ("QB-DH", "Thành phố Đồng Hới", "Đồng Hới"),
    ("QB-BD", "Thị xã Ba Đồn", "Ba Đồn"),
    ("QB-BT", "Huyện Bố Trạch", "Bố Trạch"),
    ("QB-QT", "Huyện Quảng Trạch", "Quảng Trạch"),
    ("QB-TH", "Huyện Tuyên Hóa", "Tuyên Hóa"),
    ("QB-MH", "Huyện Minh Hóa", "Minh Hóa"),
    ("QB-QN", "Huyện Quảng Ninh", "Quảng Ninh"),
    ("QB-LT", "Huyện Lệ Thủy", "Lệ Thủy"),
]
# username, full name, role, unit code (None: everywhere)
USERS = [
    ("admin", "Quản trị hệ thống", RoleName.ADMIN, None),
    ("vanphong", "Văn phòng UBND tỉnh", RoleName.SECRETARIAT, "QB"),
    ("chutich", "Chủ tịch UBND tỉnh", RoleName.CHAIR, "QB"),
    ("luutru", "Lưu trữ tỉnh", RoleName.ARCHIVIST, "QB"),
    ("vanphong.donghoi", "Văn phòng UBND TP Đồng Hới", RoleName.SECRETARIAT, "QB-DH"),
]


@dataclass
class DemoCredentials:
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    """username, password, role (unit)"""
    terminals: list[tuple[str, str]] = field(default_factory=list)
    """hall name, token"""

    def render(self, base_url: str) -> str:
        lines = ["Demo logins (username / password / role):"]
        lines += [f"  {u:<18} {p:<22} {r}" for u, p, r in self.logins]
        lines.append("Terminal pairing links (open once on each hall's terminal):")
        lines += [f"  {h:<34} {base_url}/terminal#token={t}" for h, t in self.terminals]
        return "\n".join(lines)


async def is_seeded(session: AsyncSession) -> bool:
    return bool(await session.scalar(sa.select(sa.func.count()).select_from(Unit)))


async def seed_demo(
    session: AsyncSession, passwords: Passwords, scheduler: Scheduler
) -> DemoCredentials:
    """Create the demo province in an empty database; return the secrets it generated."""
    if await is_seeded(session):
        raise RuntimeError("the database already holds units; the demo seeds an empty one")
    creds = DemoCredentials()
    code, name, hall_name = PROVINCE
    province = Unit(code=code, name=name, level=UnitLevel.PROVINCE,
                    authority="UBND TỈNH QUẢNG BÌNH", office="VĂN PHÒNG UBND TỈNH",
                    place="Quảng Bình")  # fmt: skip
    session.add(province)
    await session.flush()
    units = {code: province}
    halls = [Hall(unit_id=province.id, name=hall_name, address="Đồng Hới, Quảng Bình")]
    for code, name, short in DISTRICTS:
        unit = Unit(code=code, name=name, level=UnitLevel.DISTRICT, parent_id=province.id,
                    authority=f"UBND {name.upper()}", office="VĂN PHÒNG HĐND VÀ UBND",
                    place=short)  # fmt: skip
        session.add(unit)
        await session.flush()
        units[code] = unit
        halls.append(Hall(unit_id=unit.id, name=f"Điểm cầu {short}", address=f"{name}, Quảng Bình"))
    session.add_all(halls)
    await session.flush()
    for hall in halls:
        token = new_token()
        session.add(
            Terminal(
                hall_id=hall.id, label=f"Máy điểm cầu {hall.name}", token_hash=hash_token(token)
            )
        )
        creds.terminals.append((hall.name, token))

    users: dict[str, User] = {}
    for username, full_name, role, unit_code in USERS:
        password = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        scope = units[unit_code] if unit_code else None
        user = User(
            username=username,
            full_name=full_name,
            password_hash=await passwords.hash(password),
            roles=[UserRole(role=role, unit_id=scope.id if scope else None)],
        )
        session.add(user)
        users[username] = user
        creds.logins.append(
            (username, password, f"{role.value} ({scope.name if scope else 'all'})")
        )
    await session.commit()

    access = Access(actor_for_user(users["admin"]), await load_tree(session))
    today = to_local(scheduler.clock()).date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    start = datetime.combine(monday, time(8, 0), LOCAL_TZ)
    everyone = [h.id for h in halls]
    agenda = [
        AgendaItemIn(title="Tình hình kinh tế - xã hội trong tuần",
                     presenter="Sở Kế hoạch và Đầu tư", planned_minutes=30),
        AgendaItemIn(title="Báo cáo của các huyện, thị xã, thành phố", presenter="Các địa phương",
                     planned_minutes=45),
        AgendaItemIn(title="Kết luận của Chủ tịch UBND tỉnh", presenter="Chủ tịch UBND tỉnh",
                     planned_minutes=15),
    ]  # fmt: skip
    await scheduler.create_series(
        session,
        access,
        SeriesIn(
            title="Giao ban tuần UBND tỉnh",
            description="Giao ban trực tuyến sáng thứ Hai hằng tuần.",
            start=start,
            end=start + timedelta(minutes=90),
            chair_hall_id=halls[0].id,
            chair_user_id=users["chutich"].id,
            invited_hall_ids=everyone,
            agenda=agenda,
            rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=26",
        ),
    )
    tomorrow = datetime.combine(today + timedelta(days=1), time(14, 0), LOCAL_TZ)
    if tomorrow.date() == monday:
        tomorrow += timedelta(days=1)
    await scheduler.create(
        session,
        access,
        MeetingIn(
            title="Họp triển khai công tác phòng, chống thiên tai",
            description="Chuẩn bị ứng phó mưa lũ cuối năm.",
            start=tomorrow,
            end=tomorrow + timedelta(hours=2),
            chair_hall_id=halls[0].id,
            chair_user_id=users["chutich"].id,
            invited_hall_ids=everyone,
            agenda=[AgendaItemIn(title="Phương án ứng phó mưa lũ", presenter="Ban Chỉ huy PCTT",
                                 planned_minutes=60)],
        ),
    )  # fmt: skip
    return creds


def save_credentials(var_dir: Path, text: str) -> Path:
    """Kept under ``var/`` (mode 0600) so that ``giaoban demo`` can show them again."""
    path = var_dir / "demo-credentials.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    return path
