// Administration: the unit tree with its halls (a secretariat manages its own unit and those
// below it: adds units and halls, renames and deactivates halls) and, for an admin, the people
// (add with a first role, give and take roles, reset a password, deactivate and reactivate).
import {
  $, api, apply, currentUser, errorText, fillHeader, h, hasRole, notify, onLangChange, t,
} from "/static/common.js";

const ROLES = ["secretariat", "chair", "archivist", "admin"];
const CHILD_LEVEL = { province: "district", district: "commune" };

const app = {
  user: null,
  units: [],
  halls: [],
  users: [],
  view: "org",
};
window.giaoban = app;

const isAdmin = () => app.user.user.roles.some((r) => r.role === "admin");

/** Whether this person may add below, or change the halls of, ``unitId`` (secretariat over it). */
function manages(unitId) {
  if (isAdmin()) return true;
  const covered = new Set(app.user.user.roles.filter((r) => r.role === "secretariat").map((r) => r.unit_id));
  for (let id = unitId; id != null; id = app.units.find((u) => u.id === id)?.parent_id ?? null) {
    if (covered.has(id)) return true;
  }
  return false;
}

function unitName(unitId) {
  return app.units.find((u) => u.id === unitId)?.name ?? `#${unitId}`;
}

function roleText(role) {
  const name = t(`role.${role.role}`);
  return role.unit_id == null ? name : `${name} — ${unitName(role.unit_id)}`;
}

// -- dialogs ---------------------------------------------------------------------------------

/** Open ``dialog`` and run ``submit`` on its form; an API refusal is shown in the dialog. */
function ask(dialog, submit) {
  const form = dialog.querySelector("form");
  const error = form.querySelector(".form-error");
  error.textContent = "";
  form.onsubmit = async (event) => {
    event.preventDefault();
    const { status, data } = await submit();
    if (status >= 200 && status < 300) {
      dialog.close();
      return;
    }
    const field = data?.error?.field;
    error.textContent = `${errorText(data?.error)}${field ? ` [${field}]` : ""}`;
  };
  for (const button of form.querySelectorAll("[data-close]")) button.onclick = () => dialog.close();
  dialog.showModal();
  form.querySelector("input, select")?.focus();
}

function fillRoles(select) {
  const roles = isAdmin() ? ROLES : ROLES.filter((r) => r !== "admin");
  select.replaceChildren(...roles.map((r) => h("option", { value: r }, t(`role.${r}`))));
}

function fillUnits(select) {
  select.replaceChildren(...app.units.map((u) => h("option", { value: String(u.id) }, indented(u))));
}

function indented(unit) {
  let depth = 0;
  for (let p = unit.parent_id; p != null; p = app.units.find((u) => u.id === p)?.parent_id ?? null) depth += 1;
  return `${"\u2003".repeat(depth)}${unit.name}`;
}

/** The role/unit pair of a form: the unit is not asked for an admin. */
function rolePair(roleSelect, unitSelect) {
  const sync = () => { unitSelect.disabled = roleSelect.value === "admin"; };
  roleSelect.onchange = sync;
  sync();
  return () => ({
    role: roleSelect.value,
    ...(roleSelect.value === "admin" ? {} : { unit_id: Number(unitSelect.value) }),
  });
}

// -- units and halls -------------------------------------------------------------------------

async function loadOrg() {
  const [units, halls] = await Promise.all([api("/api/units"), api("/api/halls")]);
  app.units = units.status === 200 ? units.data : [];
  app.halls = halls.status === 200 ? halls.data : [];
  renderOrg();
}

function renderOrg() {
  const children = (parentId) => app.units.filter((u) => u.parent_id === parentId);
  const known = new Set(app.units.map((u) => u.id));
  const roots = app.units.filter((u) => u.parent_id == null || !known.has(u.parent_id));
  const item = (unit) => {
    const mine = manages(unit.id);
    const halls = app.halls.filter((x) => x.unit_id === unit.id);
    return h("li", { class: "unit", dataset: { unitId: unit.id } },
      h("div", { class: "unit-head" },
        h("strong", { class: "unit-name" }, unit.name),
        h("span", { class: "badge" }, t(`level.${unit.level}`)),
        h("span", { class: "muted" }, unit.code),
        mine && CHILD_LEVEL[unit.level]
          ? h("button", { type: "button", class: "secondary small add-unit", onclick: () => addUnit(unit) },
            t("admin.addUnit", { level: t(`level.${CHILD_LEVEL[unit.level]}`) }))
          : null,
        mine ? h("button", { type: "button", class: "secondary small add-hall", onclick: () => addHall(unit) }, t("admin.addHall")) : null),
      h("ul", { class: "halls" }, ...halls.map((hall) => h("li", { class: hall.active ? "hall" : "hall inactive", dataset: { hallId: hall.id } },
        h("span", { class: "hall-name" }, hall.name),
        hall.address ? h("span", { class: "muted" }, ` · ${hall.address}`) : null,
        hall.active ? null : h("span", { class: "badge state-cancelled" }, t("admin.inactive")),
        mine ? h("button", { type: "button", class: "link rename", onclick: () => renameHall(hall) }, t("admin.rename")) : null,
        mine ? h("button", { type: "button", class: "link toggle", onclick: () => toggleHall(hall) },
          hall.active ? t("admin.deactivateHall") : t("admin.reactivate")) : null))),
      h("ul", { class: "units" }, ...children(unit.id).map(item)));
  };
  $("units").replaceChildren(...roots.map(item));
}

function addUnit(parent) {
  $("unit-title").textContent = t("admin.addUnitUnder", { level: t(`level.${CHILD_LEVEL[parent.level]}`), parent: parent.name });
  $("unit-name").value = "";
  $("unit-code").value = "";
  ask($("unit-dialog"), async () => {
    const reply = await api("/api/units", {
      method: "POST", body: { name: $("unit-name").value, code: $("unit-code").value, parent_id: parent.id },
    });
    if (reply.status === 201) {
      notify(t("admin.unitAdded", { name: reply.data.name }));
      await loadOrg();
    }
    return reply;
  });
}

function addHall(unit) {
  $("hall-title").textContent = t("admin.addHallTo", { unit: unit.name });
  $("hall-name").value = "";
  $("hall-address").value = "";
  ask($("hall-dialog"), async () => {
    const reply = await api("/api/halls", {
      method: "POST", body: { unit_id: unit.id, name: $("hall-name").value, address: $("hall-address").value },
    });
    if (reply.status === 201) {
      notify(t("admin.hallAdded", { name: reply.data.name }));
      await loadOrg();
    }
    return reply;
  });
}

function renameHall(hall) {
  $("hall-title").textContent = t("admin.renameHall", { name: hall.name });
  $("hall-name").value = hall.name;
  $("hall-address").value = hall.address;
  ask($("hall-dialog"), async () => {
    const reply = await api(`/api/halls/${hall.id}`, {
      method: "PATCH", body: { name: $("hall-name").value, address: $("hall-address").value },
    });
    if (reply.status === 200) await loadOrg();
    return reply;
  });
}

async function toggleHall(hall) {
  if (hall.active && !window.confirm(t("admin.confirmDeactivateHall", { name: hall.name }))) return;
  const reply = await api(`/api/halls/${hall.id}`, { method: "PATCH", body: { active: !hall.active } });
  if (reply.status !== 200) notify(errorText(reply.data?.error), { error: true });
  await loadOrg();
}

// -- people ----------------------------------------------------------------------------------

async function loadUsers() {
  const { status, data } = await api("/api/users");
  app.users = status === 200 ? data : [];
  renderUsers();
}

function renderUsers() {
  const me = app.user.user.id;
  $("users").replaceChildren(...app.users.map((u) => h("tr", { class: u.active ? "" : "inactive", dataset: { userId: u.id, username: u.username } },
    h("td", {}, u.username),
    h("td", {}, u.full_name),
    h("td", { class: "roles" }, ...u.roles.map((r) => h("span", { class: "role-chip", dataset: { role: r.role, unitId: r.unit_id ?? "" } },
      roleText(r),
      u.roles.length > 1 && !(r.role === "admin" && u.id === me)
        ? h("button", { type: "button", class: "link remove-role", title: t("admin.removeRole"), "aria-label": t("admin.removeRole"), onclick: () => removeRole(u, r) }, "✕")
        : null))),
    h("td", { class: "status" }, u.active ? t("admin.active") : t("admin.inactive")),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "secondary small give-role", onclick: () => giveRole(u) }, t("admin.giveRole")),
      h("button", { type: "button", class: "secondary small reset", onclick: () => resetPassword(u) }, t("admin.setPassword")),
      u.id === me ? null : h("button", { type: "button", class: "secondary small toggle", onclick: () => toggleUser(u) },
        u.active ? t("admin.deactivateUser") : t("admin.reactivate"))))));
}

function newUser() {
  for (const id of ["user-username", "user-fullname", "user-password"]) $(id).value = "";
  fillRoles($("user-role"));
  fillUnits($("user-unit"));
  const grant = rolePair($("user-role"), $("user-unit"));
  ask($("user-dialog"), async () => {
    const reply = await api("/api/users", {
      method: "POST",
      body: { username: $("user-username").value.trim(), full_name: $("user-fullname").value, password: $("user-password").value, roles: [grant()] },
    });
    if (reply.status === 201) {
      notify(t("admin.userAdded", { name: reply.data.username }));
      await loadUsers();
    }
    return reply;
  });
}

function giveRole(user) {
  $("role-title").textContent = t("admin.giveRoleTo", { name: user.full_name });
  fillRoles($("role-role"));
  fillUnits($("role-unit"));
  const grant = rolePair($("role-role"), $("role-unit"));
  ask($("role-dialog"), async () => {
    const reply = await api(`/api/users/${user.id}/roles`, { method: "POST", body: grant() });
    if (reply.status === 200) await loadUsers();
    return reply;
  });
}

async function removeRole(user, role) {
  const query = new URLSearchParams({ role: role.role, ...(role.unit_id == null ? {} : { unit_id: String(role.unit_id) }) });
  const reply = await api(`/api/users/${user.id}/roles?${query}`, { method: "DELETE" });
  if (reply.status !== 200) notify(errorText(reply.data?.error), { error: true });
  await loadUsers();
}

function resetPassword(user) {
  $("reset-title").textContent = t("admin.setPasswordOf", { name: user.full_name });
  $("reset-password").value = "";
  ask($("reset-dialog"), async () => {
    const reply = await api(`/api/users/${user.id}/password`, { method: "POST", body: { password: $("reset-password").value } });
    if (reply.status === 200) notify(t("admin.passwordSet", { name: user.full_name }));
    return reply;
  });
}

async function toggleUser(user) {
  if (user.active && !window.confirm(t("admin.confirmDeactivateUser", { name: user.full_name }))) return;
  const reply = await api(`/api/users/${user.id}/${user.active ? "deactivate" : "reactivate"}`, { method: "POST" });
  if (reply.status !== 200) notify(errorText(reply.data?.error), { error: true });
  await loadUsers();
}

// -- views -----------------------------------------------------------------------------------

async function setView(view) {
  app.view = view;
  for (const name of ["org", "users"]) {
    $(`${name}-view`).hidden = view !== name;
    $(`tab-${name}`).setAttribute("aria-selected", String(view === name));
  }
  history.replaceState(null, "", view === "org" ? location.pathname : `#${view}`);
  if (view === "users") await loadUsers();
  else await loadOrg();
}

async function boot() {
  const user = await currentUser({ required: true });
  app.user = user;
  fillHeader(user, { current: "/admin" });
  apply();
  if (!hasRole(user, "secretariat")) {
    notify(t("admin.notAllowed"), { error: true });
    $("org-view").hidden = true;
    return;
  }
  $("tab-users").hidden = !isAdmin();
  $("tab-org").addEventListener("click", () => setView("org"));
  $("tab-users").addEventListener("click", () => setView("users"));
  $("new-user").addEventListener("click", newUser);
  onLangChange(() => {
    fillHeader(user, { current: "/admin" });
    if (app.view === "users") renderUsers();
    else renderOrg();
  });
  await loadOrg();  // the units name the users' roles too
  await setView(location.hash === "#users" && isAdmin() ? "users" : "org");
  document.body.dataset.ready = "true";
}

boot();
