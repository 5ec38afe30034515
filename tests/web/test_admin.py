"""Administration in the browser: the admin adds a district with a hall, edits and deactivates
the hall, adds a person with a role, gives and takes a role, sets their password and
deactivates them; a secretariat sees only its own units; anyone changes their own password."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.conftest import PASSWORD, Org
from tests.web.conftest import Browsers, Screenshot
from tests.web.pages import api

pytestmark = pytest.mark.slow

NEW_PASSWORD = "mưa xuân trên đồi chè 2026"


def unit(name: str) -> str:
    return f"#units li.unit:has(> .unit-head .unit-name:text-is('{name}'))"


def accept_confirms(page: Page) -> None:
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)


async def login_status(browsers: Browsers, username: str, password: str) -> int:
    page = await browsers.page("/")
    reply = await api(page, "POST", "/api/session", {"username": username, "password": password})
    await page.close()
    return int(reply["status"])


async def test_the_admin_manages_units_halls_and_people(
    browsers: Browsers, org: Org, screenshot: Screenshot
) -> None:
    admin = await browsers.login("admin")
    await expect(admin).not_to_have_url(f"{browsers.base_url}/")
    await admin.get_by_role("link", name="Quản trị").click()
    await expect(admin).to_have_url(f"{browsers.base_url}/admin")
    await expect(admin.locator("body")).to_have_attribute("data-ready", "true")
    accept_confirms(admin)

    # A new district under the province, refused first for a code with a space.
    await admin.locator(unit("Tỉnh P")).locator("> .unit-head .add-unit").click()
    dialog = admin.locator("#unit-dialog")
    await dialog.locator("#unit-name").fill("Huyện C")
    await dialog.locator("#unit-code").fill("C C")
    await dialog.locator("button[type=submit]").click()
    await expect(dialog.locator(".form-error")).to_contain_text("[code]")
    await dialog.locator("#unit-code").fill("C")
    await dialog.locator("button[type=submit]").click()
    district = admin.locator(unit("Huyện C"))
    await expect(district).to_be_visible()
    await expect(district.locator("> .unit-head .badge")).to_have_text("Huyện")

    # Its hall: added, renamed, deactivated.
    await district.locator("> .unit-head .add-hall").click()
    await admin.locator("#hall-name").fill("Hội trường huyện C")
    await admin.locator("#hall-address").fill("Số 1 đường Lê Lợi")
    await admin.locator("#hall-dialog button[type=submit]").click()
    hall = district.locator(".hall")
    await expect(hall).to_contain_text("Hội trường huyện C · Số 1 đường Lê Lợi")
    await hall.locator(".rename").click()
    await admin.locator("#hall-name").fill("Điểm cầu Huyện C")
    await admin.locator("#hall-dialog button[type=submit]").click()
    await expect(hall.locator(".hall-name")).to_have_text("Điểm cầu Huyện C")
    await screenshot(admin, "admin-units")
    await hall.locator(".toggle").click()
    await expect(hall).to_contain_text("Ngừng hoạt động")
    await expect(hall).to_have_class("hall inactive")

    # A person: a password too short is refused in the dialog; then added with a role.
    await admin.locator("#tab-users").click()
    await admin.locator("#new-user").click()
    form = admin.locator("#user-dialog")
    await form.locator("#user-username").fill("thuky.c")
    await form.locator("#user-fullname").fill("Nguyễn Thị Cúc")
    await form.locator("#user-password").fill("ngắn")
    await form.locator("#user-role").select_option("secretariat")
    await form.locator("#user-unit").select_option(label="\u2003Huyện C")
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".form-error")).to_contain_text("[password]")
    await form.locator("#user-password").fill(PASSWORD)
    await form.locator("button[type=submit]").click()
    person = admin.locator("#users tr[data-username='thuky.c']")
    await expect(person.locator(".roles")).to_have_text("Văn phòng — Huyện C")
    assert await login_status(browsers, "thuky.c", PASSWORD) == 200

    # Another role given, then taken back.
    await person.locator(".give-role").click()
    await admin.locator("#role-role").select_option("archivist")
    await admin.locator("#role-unit").select_option(label="Tỉnh P")
    await admin.locator("#role-dialog button[type=submit]").click()
    await expect(person.locator(".role-chip")).to_have_count(2)
    await expect(person.locator(".roles")).to_contain_text("Lưu trữ — Tỉnh P")
    await screenshot(admin, "admin-people")
    await person.locator(".role-chip[data-role='archivist'] .remove-role").click()
    await expect(person.locator(".role-chip")).to_have_count(1)

    # A new password set by the admin; then the account is deactivated.
    await person.locator(".reset").click()
    await admin.locator("#reset-password").fill(NEW_PASSWORD)
    await admin.locator("#reset-dialog button[type=submit]").click()
    await expect(admin.locator("#notice")).to_contain_text("Nguyễn Thị Cúc")
    assert await login_status(browsers, "thuky.c", PASSWORD) == 401
    assert await login_status(browsers, "thuky.c", NEW_PASSWORD) == 200
    await person.locator(".toggle").click()
    await expect(person.locator(".status")).to_have_text("Ngừng hoạt động")
    assert await login_status(browsers, "thuky.c", NEW_PASSWORD) == 401
    # The admin cannot deactivate themself: no such button on their own row.
    await expect(admin.locator("#users tr[data-username='admin'] .toggle")).to_have_count(0)


async def test_a_secretariat_manages_its_own_units_and_sees_no_people(
    browsers: Browsers, org: Org
) -> None:
    sec = await browsers.login("sec_a")
    await expect(sec).to_have_url(f"{browsers.base_url}/secretariat")
    await sec.goto("/admin")
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    await expect(sec.locator("#tab-users")).to_be_hidden()
    district = sec.locator(unit("Huyện A"))
    await expect(district).to_be_visible()
    await expect(sec.locator(unit("Huyện B"))).to_have_count(0)
    await expect(sec.locator(unit("Xã A1")).locator("> .unit-head .add-hall")).to_be_visible()
    await expect(sec.locator(unit("Xã A1")).locator("> .unit-head .add-unit")).to_have_count(0)


async def test_a_person_changes_their_own_password_from_any_page(
    browsers: Browsers, org: Org
) -> None:
    sec = await browsers.login("sec_p")
    await expect(sec).to_have_url(f"{browsers.base_url}/secretariat")
    await sec.get_by_role("button", name="Đổi mật khẩu").click()
    dialog = sec.locator("#password-dialog")
    fields = dialog.locator("input")
    await fields.nth(0).fill("not my password")
    await fields.nth(1).fill(NEW_PASSWORD)
    await fields.nth(2).fill(NEW_PASSWORD)
    await dialog.locator("button[type=submit]").click()
    await expect(dialog.locator(".form-error")).to_contain_text("current password is wrong")
    await fields.nth(0).fill(PASSWORD)
    await fields.nth(2).fill(NEW_PASSWORD + "!")
    await dialog.locator("button[type=submit]").click()
    await expect(dialog.locator(".form-error")).to_have_text(
        "Hai lần nhập mật khẩu mới không khớp."
    )
    await fields.nth(2).fill(NEW_PASSWORD)
    await dialog.locator("button[type=submit]").click()
    await expect(sec.locator("#password-dialog")).to_have_count(0)
    await expect(sec.locator("#notice")).to_contain_text("Đã đổi mật khẩu")
    assert (await api(sec, "GET", "/api/session"))["status"] == 200  # this login goes on
    assert await login_status(browsers, "sec_p", PASSWORD) == 401
    assert await login_status(browsers, "sec_p", NEW_PASSWORD) == 200
