// The secretariat's console: the unit's week of meetings, the meeting (or series) editor with
// immediate conflict warnings, cancelling, .ics download; and the halls' terminals (pair, revoke).
/* global qrcode */
import {
  $, addDays, api, apply, currentUser, errorText, fillHeader, fmt, formatBytes, formatRange, h, hasRole, localDateTime,
  localParts, notify, onLangChange, shortDate, stateName, t,
} from "/static/common.js";
import { call, connect, negotiate, show } from "/static/live.js";
import { ReadinessBoard, hallWords } from "/static/readiness.js";

const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
const CHECK_HORIZON_DAYS = 120;  // how far ahead the editor looks for a series' conflicts

const app = {
  user: null,
  units: [],
  unitId: null,
  halls: [],           // the halls of the chosen unit and the units below it
  chairs: [],
  weekStart: null,     // "YYYY-MM-DD", a Monday
  meetings: [],
  view: "calendar",
  editing: null,       // {meeting, series} or null for a new one
  checkSeq: 0,
  socket: null,        // the /live socket (readiness alerts, test calls), opened when needed
  board: null,         // the readiness board
  testCall: null,      // {id, hall, media, local}
};
window.giaoban = app;

// -- units ----------------------------------------------------------------------------------

function subtree(unitId) {
  const below = new Set([unitId]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const u of app.units) {
      if (u.parent_id !== null && below.has(u.parent_id) && !below.has(u.id)) {
        below.add(u.id);
        grew = true;
      }
    }
  }
  return below;
}

function managedUnits() {
  if (app.user.user.roles.some((r) => r.role === "admin")) return app.units;
  const roots = app.user.user.roles.filter((r) => r.role === "secretariat").map((r) => r.unit_id);
  const managed = new Set(roots.flatMap((id) => [...subtree(id)]));
  return app.units.filter((u) => managed.has(u.id));
}

function unitName(unitId) {
  return app.units.find((u) => u.id === unitId)?.name ?? "";
}

async function loadUnit() {
  const below = subtree(app.unitId);
  const [halls, chairs] = await Promise.all([api("/api/halls"), api(`/api/units/${app.unitId}/chairs`)]);
  app.halls = halls.status === 200 ? halls.data.filter((x) => below.has(x.unit_id) && x.active) : [];
  app.chairs = chairs.status === 200 ? chairs.data : [];
}

// -- the week calendar -------------------------------------------------------------------------

function mondayOf(isoDate) {
  const weekday = localParts(`${isoDate}T12:00:00+07:00`).weekday;
  return addDays(isoDate, -weekday);
}

function today() {
  return localParts(new Date()).date;
}

async function loadWeek() {
  const from = localDateTime(app.weekStart, "00:00");
  const to = localDateTime(addDays(app.weekStart, 7), "00:00");
  const { status, data } = await api(`/api/meetings?from=${from}&to=${to}&unit_id=${app.unitId}`);
  app.meetings = status === 200 ? data : [];
  if (status !== 200) notify(errorText(data?.error), { error: true });
  renderWeek();
}

function renderWeek() {
  const last = addDays(app.weekStart, 6);
  $("week-label").textContent = t("sec.week", {
    from: shortDate(app.weekStart),
    to: `${shortDate(last)}/${last.slice(0, 4)}`,
  });
  const week = $("week");
  week.replaceChildren();
  for (let i = 0; i < 7; i += 1) {
    const day = addDays(app.weekStart, i);
    const noon = `${day}T12:00:00+07:00`;
    const items = app.meetings.filter((m) => localParts(m.start).date === day);
    const column = h("section", { class: `day ${day === today() ? "today" : ""}`, dataset: { date: day } },
      h("h3", {}, h("span", { class: "weekday" }, fmt(noon, { weekday: "long" })), " ",
        h("span", { class: "daydate" }, shortDate(day))));
    for (const m of items) {
      column.append(h("button", {
        type: "button", class: `meeting-card state-${m.state}`, dataset: { meetingId: m.id },
        onclick: () => openEditor(m),
      },
      h("span", { class: "time" }, formatRange(m.start, m.end), m.series_id ? h("span", { class: "series", title: t("sec.series") }, " ↻") : null),
      h("span", { class: "title" }, m.title),
      h("span", { class: "meta" }, `${m.chair_hall.name} · ${t("sec.hallCount", { n: m.halls.length })}`),
      h("span", { class: `badge state-${m.state}` }, stateName(m.state))));
    }
    if (!items.length) column.append(h("p", { class: "muted empty" }, t("sec.noMeetingDay")));
    week.append(column);
  }
}

// -- the meeting editor -----------------------------------------------------------------------

function dayChecks(selected = []) {
  const box = $("f-days");
  box.replaceChildren();
  WEEKDAYS.forEach((code, i) => {
    const noon = `${addDays("2024-01-01", i)}T12:00:00+07:00`;  // 2024-01-01 is a Monday
    box.append(h("label", { class: "day-check" },
      h("input", { type: "checkbox", value: code, checked: selected.includes(code) }),
      ` ${fmt(noon, { weekday: "short" })}`));
  });
}

function fillSelects(meeting) {
  const chairHall = $("f-chair-hall");
  chairHall.replaceChildren(...app.halls.map((x) => h("option", { value: String(x.id) }, x.name)));
  const chairUser = $("f-chair-user");
  chairUser.replaceChildren(...app.chairs.map((u) => h("option", { value: String(u.id) }, u.full_name)));
  if (meeting) {
    if (!app.halls.some((x) => x.id === meeting.chair_hall.id)) {
      chairHall.append(h("option", { value: String(meeting.chair_hall.id) }, meeting.chair_hall.name));
    }
    if (!app.chairs.some((u) => u.id === meeting.chair_user.id)) {
      chairUser.append(h("option", { value: String(meeting.chair_user.id) }, meeting.chair_user.full_name));
    }
    chairHall.value = String(meeting.chair_hall.id);
    chairUser.value = String(meeting.chair_user.id);
  } else {
    const own = app.halls.find((x) => x.unit_id === app.unitId) ?? app.halls[0];
    if (own) chairHall.value = String(own.id);
  }
  const invited = new Set(meeting ? meeting.halls.map((x) => x.id) : []);
  const box = $("f-halls");
  box.replaceChildren();
  const known = [...app.halls];
  for (const x of meeting?.halls ?? []) if (!known.some((k) => k.id === x.id)) known.push(x);
  for (const hall of known) {
    box.append(h("label", { class: "hall-check" },
      h("input", { type: "checkbox", value: String(hall.id), checked: invited.has(hall.id) }),
      ` ${hall.name}`, h("span", { class: "muted" }, ` · ${unitName(hall.unit_id)}`)));
  }
  syncChairHall();
}

/** The chair hall always takes part: its box is ticked and locked (and let go when it changes). */
function syncChairHall() {
  const chair = $("f-chair-hall").value;
  for (const input of $("f-halls").querySelectorAll("input")) {
    const isChair = input.value === chair;
    if (isChair && !input.checked) {
      input.checked = true;
      input.dataset.forced = "true";
    } else if (!isChair && input.dataset.forced) {
      input.checked = false;
      delete input.dataset.forced;
    }
    input.disabled = isChair;
  }
}

function agendaRow(item = { title: "", presenter: "", planned_minutes: 0 }) {
  const row = h("tr", {},
    h("td", { class: "n" }),
    h("td", {}, h("input", { class: "a-title", value: item.title, maxlength: "200", "aria-label": t("sec.f.itemTitle") })),
    h("td", {}, h("input", { class: "a-presenter", value: item.presenter, maxlength: "200", "aria-label": t("sec.f.presenter") })),
    h("td", {}, h("input", { class: "a-minutes", type: "number", min: "0", max: "1440", value: String(item.planned_minutes || 0), "aria-label": t("sec.f.minutes") })),
    h("td", { class: "row-tools" },
      h("button", { type: "button", class: "link", title: t("sec.up"), onclick: () => { row.previousElementSibling?.before(row); numberAgenda(); } }, "↑"),
      h("button", { type: "button", class: "link", title: t("sec.down"), onclick: () => { row.nextElementSibling?.after(row); numberAgenda(); } }, "↓"),
      h("button", { type: "button", class: "link danger-text", title: t("sec.remove"), onclick: () => { row.remove(); numberAgenda(); } }, "✕")));
  return row;
}

function numberAgenda() {
  [...$("f-agenda").children].forEach((row, i) => { row.querySelector(".n").textContent = String(i + 1); });
}

function parseRule(rule) {
  const parts = Object.fromEntries(rule.split(";").map((p) => p.split("=")));
  const simple = parts.FREQ === "WEEKLY" && parts.BYDAY && Object.keys(parts).every((k) => ["FREQ", "BYDAY", "UNTIL"].includes(k))
    && /^\d{8}$/.test(parts.UNTIL ?? "00000000");
  if (!simple) return { mode: "custom", rule };
  const u = parts.UNTIL;
  return { mode: "weekly", days: parts.BYDAY.split(","), until: u ? `${u.slice(0, 4)}-${u.slice(4, 6)}-${u.slice(6, 8)}` : "" };
}

function showRepeat() {
  const mode = $("f-repeat").value;
  $("repeat-box").hidden = mode === "none";
  $("f-days").hidden = mode !== "weekly";
  $("rrule-box").hidden = mode !== "custom";
  $("f-until").closest("label").hidden = mode !== "weekly";
}

// Documents of the meeting being edited: listed with their download link, attached one file
// at a time (the body is the file; the server checks its kind by content).
async function loadDocs(meeting, editable) {
  const items = [h("option", { value: "" }, t("sec.docWholeMeeting"))];
  for (const a of meeting.agenda) items.push(h("option", { value: String(a.id) }, `${a.position + 1}. ${a.title}`));
  $("f-doc-item").replaceChildren(...items);
  const reply = await api(`/api/meetings/${meeting.id}/documents`);
  const docs = reply.status === 200 ? reply.data : [];
  const titles = Object.fromEntries(meeting.agenda.map((a) => [a.id, a.title]));
  $("f-docs").replaceChildren(...docs.map((d) => h("li", {},
    h("a", { href: d.url, download: d.filename }, d.filename),
    h("span", { class: "muted" }, ` ${d.kind.toUpperCase()}, ${formatBytes(d.size)}`
      + (d.agenda_item_id ? ` · ${titles[d.agenda_item_id] ?? ""}` : "")),
    editable ? h("button", { type: "button", class: "link", "data-doc": String(d.id) }, t("sec.docRemove")) : "",
  )));
  $("docs-none").hidden = docs.length > 0;
}

async function attachDoc() {
  const meeting = app.editing?.meeting;
  const file = $("f-doc-file").files[0];
  if (!meeting || !file) return;
  const params = new URLSearchParams({ filename: file.name });
  if ($("f-doc-item").value) params.set("agenda_item_id", $("f-doc-item").value);
  const response = await fetch(`/api/meetings/${meeting.id}/documents?${params}`, {
    method: "POST", body: file, credentials: "same-origin",
    headers: { "Content-Type": file.type || "application/octet-stream" },
  });
  const data = await response.json();
  if (response.status !== 201) {
    $("form-error").textContent = errorText(data.error);  // in the dialog, where it is seen
    return;
  }
  $("form-error").textContent = "";
  $("f-doc-file").value = "";
  notify(t("sec.docAttached", { name: data.filename }));
  await loadDocs(meeting, true);
}

async function removeDoc(id) {
  const meeting = app.editing?.meeting;
  const reply = await api(`/api/documents/${id}`, { method: "DELETE" });
  $("form-error").textContent = reply.status === 204 ? "" : errorText(reply.data?.error);
  if (meeting) await loadDocs(meeting, true);
}

async function openEditor(meeting = null) {
  const form = $("meeting-form");
  form.reset();
  for (const el of form.querySelectorAll("input, select, textarea, button")) el.disabled = false;
  $("form-error").textContent = "";
  let series = null;
  if (meeting?.series_id) {
    const reply = await api(`/api/series/${meeting.series_id}`);
    if (reply.status === 200) series = reply.data;
  }
  app.editing = meeting ? { meeting, series } : null;
  app.daysTouched = false;
  const editable = !meeting || meeting.state === "scheduled" || meeting.state === "live";
  $("editor-title").textContent = meeting ? t("sec.editMeeting") : t("sec.newMeetingTitle");
  $("editor-state").textContent = meeting ? stateName(meeting.state) : "";
  $("editor-state").className = meeting ? `badge state-${meeting.state}` : "badge";
  $("editor-state").hidden = !meeting;
  $("scope-box").hidden = !(meeting && series && series.state === "active" && meeting.state === "scheduled");
  fillSelects(meeting);
  const start = meeting ? localParts(meeting.start) : null;
  $("f-title").value = meeting?.title ?? "";
  $("f-description").value = meeting?.description ?? "";
  $("f-date").value = start?.date ?? (app.weekStart <= today() && today() <= addDays(app.weekStart, 6) ? today() : app.weekStart);
  $("f-start").value = start?.time ?? "08:00";
  $("f-end").value = meeting ? localParts(meeting.end).time : "10:00";
  $("f-auto-record").checked = meeting ? meeting.auto_record : true;
  $("f-agenda").replaceChildren(...(meeting?.agenda ?? []).map((a) => agendaRow(a)));
  if (!meeting) $("f-agenda").append(agendaRow());
  numberAgenda();
  const weekday = WEEKDAYS[localParts(`${$("f-date").value}T12:00:00+07:00`).weekday];
  if (series) {
    const rule = parseRule(series.rrule);
    $("f-repeat").value = rule.mode;
    dayChecks(rule.days ?? [weekday]);
    $("f-until").value = rule.until ?? "";
    $("f-rrule").value = series.rrule;
  } else {
    $("f-repeat").value = "none";
    dayChecks([weekday]);
  }
  $("f-repeat").disabled = Boolean(meeting && !series);
  setScope();
  if (!editable) {
    for (const el of form.querySelectorAll("input, select, textarea, #agenda-add, #halls-all, #halls-none, .row-tools button")) {
      el.disabled = true;
    }
  }
  $("save").hidden = !editable;
  $("ics").hidden = !meeting;
  if (meeting) $("ics").href = meeting.ics_url;
  $("minutes-link").hidden = meeting?.state !== "ended";  // the minutes are drafted when it ends
  if (meeting) $("minutes-link").href = `/minutes?meeting=${meeting.id}`;
  $("cancel-box").hidden = !(meeting && meeting.state === "scheduled");
  $("cancel-confirm").hidden = true;
  $("cancel-meeting").hidden = false;
  showRepeat();
  $("docs-box").hidden = !meeting;
  $("docs-add").hidden = !editable;
  if (meeting) await loadDocs(meeting, editable);
  $("editor").showModal();
  checkConflicts();
}

function scope() {
  return app.editing?.series && !$("scope-box").hidden
    ? document.querySelector("input[name=scope]:checked").value : "occurrence";
}

function setScope() {
  // The repeat rule belongs to the series: only editable when changing the whole series.
  const whole = scope() === "series" || !app.editing;
  $("f-repeat").disabled = !whole;
  for (const el of $("repeat-box").querySelectorAll("input")) el.disabled = !whole;
  if (app.editing?.series) {
    const s = app.editing.series;
    const m = app.editing.meeting;
    $("f-date").value = localParts(whole ? s.first_start : m.start).date;
  }
}

function rruleFromForm() {
  const mode = $("f-repeat").value;
  if (mode === "none") return null;
  if (mode === "custom") return $("f-rrule").value.trim();
  const days = [...$("f-days").querySelectorAll("input:checked")].map((i) => i.value);
  let rule = `FREQ=WEEKLY;BYDAY=${days.join(",")}`;
  const until = $("f-until").value;
  if (until) rule += `;UNTIL=${until.replaceAll("-", "")}`;
  return rule;
}

function formBody() {
  const date = $("f-date").value;
  const body = {
    title: $("f-title").value.trim(),
    description: $("f-description").value,
    start: localDateTime(date, $("f-start").value),
    end: localDateTime(date, $("f-end").value),
    chair_hall_id: Number($("f-chair-hall").value),
    chair_user_id: Number($("f-chair-user").value),
    invited_hall_ids: [...$("f-halls").querySelectorAll("input:checked")].map((i) => Number(i.value))
      .filter((id) => id !== Number($("f-chair-hall").value)),
    agenda: [...$("f-agenda").children].map((row) => ({
      title: row.querySelector(".a-title").value.trim(),
      presenter: row.querySelector(".a-presenter").value.trim(),
      planned_minutes: Number(row.querySelector(".a-minutes").value) || 0,
    })).filter((a) => a.title),
    auto_record: $("f-auto-record").checked,
  };
  return body;
}

function validate(body) {
  if (!body.title) return ["f-title", t("sec.err.title")];
  if (!$("f-date").value || !$("f-start").value || !$("f-end").value) return ["f-date", t("sec.err.time")];
  if (body.end <= body.start) return ["f-end", t("sec.err.endBeforeStart")];
  if (!body.chair_hall_id) return ["f-chair-hall", t("sec.err.chairHall")];
  if (!body.chair_user_id) return ["f-chair-user", t("sec.err.chairUser")];
  const mode = $("f-repeat").value;
  if (mode === "weekly" && !$("f-days").querySelector("input:checked")) return ["f-repeat", t("sec.err.days")];
  if (mode === "custom" && !$("f-rrule").value.trim()) return ["f-rrule", t("sec.err.rrule")];
  return null;
}

/** The local days a weekly rule gives from `first` (inclusive), up to `last`. */
function weeklyDays(first, days, until, last) {
  const out = [];
  const end = until && until < last ? until : last;
  for (let d = first; d <= end; d = addDays(d, 1)) {
    if (days.includes(WEEKDAYS[localParts(`${d}T12:00:00+07:00`).weekday])) out.push(d);
  }
  return out;
}

function instant(date, time) {
  return new Date(`${date}T${time}:00+07:00`);
}

/** Look for halls already booked at the chosen times, as the secretariat edits (debounced). */
let checkTimer = null;
function checkConflicts() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(runConflictCheck, 250);
}

async function runConflictCheck() {
  const seq = ++app.checkSeq;
  const box = $("conflicts");
  const body = formBody();
  const date = $("f-date").value;
  const startTime = $("f-start").value;
  const endTime = $("f-end").value;
  if (!date || !startTime || !endTime || endTime <= startTime) {
    box.hidden = true;
    return;
  }
  const halls = new Set([body.chair_hall_id, ...body.invited_hall_ids]);
  let days = [date];
  const whole = scope() === "series" || !app.editing;
  if (whole && $("f-repeat").value === "weekly") {
    const chosen = [...$("f-days").querySelectorAll("input:checked")].map((i) => i.value);
    const from = date < today() ? today() : date;
    days = weeklyDays(from, chosen, $("f-until").value, addDays(from, CHECK_HORIZON_DAYS));
  }
  if (!days.length) {
    box.hidden = true;
    return;
  }
  const slots = days.map((d) => [instant(d, startTime), instant(d, endTime)]);
  const from = localDateTime(days[0], "00:00");
  const to = localDateTime(addDays(days[days.length - 1], 1), "00:00");
  const { status, data } = await api(`/api/meetings?from=${from}&to=${to}`);
  if (seq !== app.checkSeq || status !== 200) return;
  const editing = app.editing;
  const skip = (m) => m.id === editing?.meeting.id
    || (whole && editing?.series && m.series_id === editing.series.id);
  const found = [];
  for (const m of data) {
    if (skip(m) || (m.state !== "scheduled" && m.state !== "live")) continue;
    const ms = new Date(m.start);
    const me = new Date(m.end);
    if (!slots.some(([s, e]) => s < me && ms < e)) continue;
    for (const hall of m.halls) if (halls.has(hall.id)) found.push({ m, hall });
  }
  renderConflicts(found.map(({ m, hall }) => ({
    hall_name: hall.name, title: m.title, start: m.start, end: m.end,
  })));
}

function renderConflicts(conflicts) {
  const box = $("conflicts");
  box.hidden = conflicts.length === 0;
  box.replaceChildren(
    h("strong", {}, `⚠ ${t("sec.conflictsTitle")}`),
    h("ul", {}, conflicts.slice(0, 20).map((c) => h("li", {}, t("sec.conflict", {
      hall: c.hall_name, title: c.title,
      when: `${fmt(c.start, { weekday: "long" })} ${shortDate(localParts(c.start).date)} ${formatRange(c.start, c.end)}`,
    })))),
    ...(conflicts.length > 20 ? [h("p", {}, t("sec.conflictsMore", { n: conflicts.length - 20 }))] : []),
  );
}

function changed(body, original) {
  const out = {};
  for (const [key, value] of Object.entries(body)) {
    if (JSON.stringify(value) !== JSON.stringify(original[key])) out[key] = value;
  }
  return out;
}

function meetingAsBody(m) {
  return {
    title: m.title, description: m.description,
    start: localDateTime(localParts(m.start).date, localParts(m.start).time),
    end: localDateTime(localParts(m.end).date, localParts(m.end).time),
    chair_hall_id: m.chair_hall.id, chair_user_id: m.chair_user.id,
    invited_hall_ids: m.halls.map((x) => x.id).filter((id) => id !== m.chair_hall.id),
    agenda: m.agenda.map((a) => ({ title: a.title, presenter: a.presenter, planned_minutes: a.planned_minutes })),
    auto_record: m.auto_record,
  };
}

function seriesAsBody(s) {
  const first = localParts(s.first_start);
  const end = new Date(new Date(s.first_start).getTime() + s.duration_minutes * 60000);
  return {
    title: s.title, description: s.description,
    start: localDateTime(first.date, first.time),
    end: localDateTime(localParts(end).date, localParts(end).time),
    chair_hall_id: s.chair_hall_id, chair_user_id: s.chair_user_id,
    invited_hall_ids: s.hall_ids.filter((id) => id !== s.chair_hall_id),
    agenda: s.agenda.map((a) => ({ title: a.title, presenter: a.presenter ?? "", planned_minutes: a.planned_minutes ?? 0 })),
    auto_record: s.auto_record, rrule: s.rrule,
  };
}

async function save(event) {
  event.preventDefault();
  $("form-error").textContent = "";
  const body = formBody();
  const problem = validate(body);
  if (problem) {
    $("form-error").textContent = problem[1];
    $(problem[0]).focus();
    return;
  }
  const rule = rruleFromForm();
  const editing = app.editing;
  let reply;
  if (!editing) {
    if (rule) reply = await api("/api/series", { method: "POST", body: { ...body, unit_id: app.unitId, rrule: rule } });
    else reply = await api("/api/meetings", { method: "POST", body: { ...body, unit_id: app.unitId } });
  } else if (scope() === "series") {
    const patch = changed({ ...body, rrule: rule }, seriesAsBody(editing.series));
    reply = await api(`/api/series/${editing.series.id}`, { method: "PATCH", body: patch });
  } else {
    let patch = changed(body, meetingAsBody(editing.meeting));
    if (editing.meeting.state === "live") {
      patch = Object.fromEntries(Object.entries(patch).filter(([k]) => ["title", "description", "agenda", "end", "auto_record"].includes(k)));
    }
    reply = await api(`/api/meetings/${editing.meeting.id}`, { method: "PATCH", body: patch });
  }
  if (reply.status === 200 || reply.status === 201) {
    $("editor").close();
    notify(t("sec.saved"));
    await loadWeek();
    return;
  }
  const error = reply.data?.error;
  if (error?.code === "conflict") renderConflicts(error.conflicts ?? []);
  $("form-error").textContent = errorText(error);
}

async function cancelMeeting() {
  const editing = app.editing;
  const reason = $("cancel-reason").value.trim();
  const whole = scope() === "series";
  const path = whole ? `/api/series/${editing.series.id}/cancel` : `/api/meetings/${editing.meeting.id}/cancel`;
  const reply = await api(path, { method: "POST", body: { reason } });
  if (reply.status !== 200) {
    $("form-error").textContent = errorText(reply.data?.error);
    return;
  }
  $("editor").close();
  notify(whole ? t("sec.seriesCancelled") : t("sec.cancelled"));
  await loadWeek();
}

// -- terminals ----------------------------------------------------------------------------------

async function loadTerminals() {
  const cards = $("hall-cards");
  const lists = await Promise.all(app.halls.map((x) => api(`/api/halls/${x.id}/terminals`)));
  cards.replaceChildren();
  app.halls.forEach((hall, i) => {
    const terminals = lists[i].status === 200 ? lists[i].data : [];
    const label = h("input", { class: "pair-label", value: t("sec.defaultLabel"), maxlength: "200", "aria-label": t("sec.terminalLabel") });
    const rows = terminals.map((term) => {
      const revoke = h("span", { class: "confirm-box" });
      const ask = h("button", { type: "button", class: "danger small", onclick: () => { ask.hidden = true; confirmBox.hidden = false; } }, t("sec.revoke"));
      const confirmBox = h("span", { hidden: true },
        h("button", { type: "button", class: "danger small", onclick: () => revokeTerminal(term.id) }, t("sec.revokeYes")),
        h("button", { type: "button", class: "secondary small", onclick: () => { ask.hidden = false; confirmBox.hidden = true; } }, t("action.back")));
      revoke.append(ask, confirmBox);
      const active = term.state === "active";
      return h("tr", { dataset: { terminalId: term.id, state: term.state } },
        h("td", {}, term.label),
        h("td", { class: `tstate ${term.state}` }, active ? t("sec.terminalActive") : t("sec.terminalRevoked")),
        h("td", {}, term.last_seen_at ? fmt(term.last_seen_at, { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" }) : t("sec.never")),
        h("td", {}, fmt(term.created_at, { day: "2-digit", month: "2-digit", year: "numeric" })),
        h("td", { class: "actions" }, active ? [
          h("button", { type: "button", class: "secondary small", onclick: () => rotateTerminal(term.id, hall) }, t("sec.rotate")),
          revoke,
        ] : null));
    });
    cards.append(h("section", { class: "card hall-card", dataset: { hallId: hall.id } },
      h("h3", {}, hall.name, h("span", { class: "muted" }, ` · ${unitName(hall.unit_id)}`)),
      terminals.length ? h("table", { class: "terminals" },
        h("thead", {}, h("tr", {}, ["sec.terminalLabel", "sec.terminalState", "sec.lastSeen", "sec.created", "chair.col.actions"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows)) : h("p", { class: "muted" }, t("sec.noTerminals")),
      h("div", { class: "pair-row" }, label,
        h("button", { type: "button", class: "pair", onclick: () => pairTerminal(hall, label.value) }, t("sec.pair")))));
  });
}

function showPaired(hall, paired) {
  $("paired-hall").textContent = `${hall.name} · ${paired.terminal.label}`;
  $("paired-link").value = paired.pairing_url;
  const qr = qrcode(0, "M");
  qr.addData(paired.pairing_url);
  qr.make();
  // An image, not markup: nothing is parsed as HTML (and the page's CSP has no inline style).
  $("qr").replaceChildren(h("img", { src: qr.createDataURL(5, 2), alt: "QR", class: "qr-code" }));
  $("qr").dataset.text = paired.pairing_url;
  $("paired").showModal();
}

async function pairTerminal(hall, label) {
  const reply = await api(`/api/halls/${hall.id}/terminals`, { method: "POST", body: { label: label.trim() || t("sec.defaultLabel") } });
  if (reply.status !== 201) {
    notify(errorText(reply.data?.error), { error: true });
    return;
  }
  await loadTerminals();
  showPaired(hall, reply.data);
}

async function rotateTerminal(id, hall) {
  const reply = await api(`/api/terminals/${id}/rotate`, { method: "POST" });
  if (reply.status !== 200) {
    notify(errorText(reply.data?.error), { error: true });
    return;
  }
  await loadTerminals();
  showPaired(hall, reply.data);
}

async function revokeTerminal(id) {
  const reply = await api(`/api/terminals/${id}/revoke`, { method: "POST" });
  if (reply.status !== 200) notify(errorText(reply.data?.error), { error: true });
  else notify(t("sec.revoked"));
  await loadTerminals();
}

// -- readiness: the halls' terminals before a meeting, and test calls ----------------------------

function liveSocket() {
  if (!app.socket) {
    app.socket = connect();
    app.socket.on("test_call_ended", ({ call_id, reason }) => {
      if (app.testCall?.id === call_id) endTestCall(reason, { told: true });
    });
  }
  return app.socket;
}

async function loadReadinessMeetings() {
  const from = localDateTime(today(), "00:00");
  const to = localDateTime(addDays(today(), 8), "00:00");
  const { status, data } = await api(`/api/meetings?from=${from}&to=${to}&unit_id=${app.unitId}`);
  const now = Date.now();
  const meetings = status === 200
    ? data.filter((m) => (m.state === "scheduled" || m.state === "live") && new Date(m.end).getTime() > now) : [];
  const select = $("ready-meeting");
  const previous = Number(select.value) || app.readyMeeting;
  select.replaceChildren(...meetings.map((m) => h("option", { value: String(m.id) },
    `${fmt(m.start, { weekday: "short", day: "2-digit", month: "2-digit" })} ${formatRange(m.start, m.end)} · ${m.title}`)));
  const chosen = meetings.find((m) => m.id === previous) ?? meetings[0];
  if (chosen) select.value = String(chosen.id);
  $("ready-none").hidden = meetings.length > 0;
  select.disabled = meetings.length === 0;
  return chosen?.id ?? null;
}

async function showReadiness() {
  if (!app.board) {
    app.board = new ReadinessBoard({
      table: $("ready-table"), banner: $("ready-banner"), summary: $("ready-summary"),
      onTestCall: startTestCall, socket: liveSocket(),
    });
  }
  const id = await loadReadinessMeetings();
  app.readyMeeting = id;
  await app.board.show(id);
}

async function startTestCall(hall) {
  if (app.testCall) await endTestCall(null);
  const socket = liveSocket();
  let reply;
  try {
    reply = await call(socket, "start_test_call", { hall_id: hall.hall_id });
  } catch (error) {
    notify(errorText(error), { error: true });
    return;
  }
  const current = { id: reply.call_id, hall, media: null, local: null };
  app.testCall = current;
  $("tc-title").textContent = t("ready.callingHall", { hall: reply.hall_name });
  $("tc-hall-name").textContent = reply.hall_name;
  $("tc-hall").dataset.hallId = String(hall.hall_id);
  $("tc-status").textContent = t("ready.connecting");
  $("tc-hangup").textContent = t("ready.hangUp");
  $("test-call").showModal();
  // The office's own camera and microphone, when this computer has them; else receive only.
  try {
    current.local = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch {
    current.local = null;
  }
  if (app.testCall !== current) { current.local?.getTracks().forEach((x) => x.stop()); return; }
  const camera = current.local?.getVideoTracks()[0] ?? null;
  $("tc-self").hidden = !camera;
  show($("tc-self-video"), camera);
  try {
    current.media = await negotiate(socket, {
      iceServers: reply.ice_servers || [], camera, mic: current.local?.getAudioTracks()[0] ?? null,
      slots: ["main", "audio"], event: "test_call_offer", extra: { call_id: current.id },
    });
  } catch (error) {
    if (app.testCall === current) await endTestCall(errorText(error));
    return;
  }
  if (app.testCall !== current) { current.media.pc.close(); return; }
  for (const slot of current.media.slots) {
    if (slot.role === "main") show($("tc-hall-video"), slot.track);
    else {
      const audio = h("audio", { autoplay: true });
      $("tc-audio").append(audio);
      show(audio, slot.track);
    }
  }
  $("tc-status").textContent = t("ready.inCall", { m: Math.round(reply.limit_seconds / 60) });
}

async function endTestCall(reason, { told = false } = {}) {
  const current = app.testCall;
  if (!current) return;
  app.testCall = null;
  if (!told && app.socket?.connected) await call(app.socket, "end_test_call").catch(() => {});
  current.media?.pc.close();
  current.local?.getTracks().forEach((x) => x.stop());
  show($("tc-hall-video"), null);
  show($("tc-self-video"), null);
  $("tc-audio").replaceChildren();
  $("tc-status").textContent = reason ? t("ready.callEnded", { reason }) : t("ready.callEndedPlain");
  $("tc-hangup").textContent = t("action.close");
}

// -- halls offline before a meeting, told on every tab ------------------------------------------

const SOON_MS = 20 * 60 * 1000;  // meetings starting this soon are watched (the alert: 15 min)
const ALERT_KEPT_MS = 75 * 1000; // an alert not repeated for this long is over (checks: 30 s)
const soon = { meetings: new Map(), alerts: new Map() }; // id → meeting; "meeting:hall" → alert

/** The unit's meetings starting within 20 minutes are watched, whatever the tab: a hall still
 * offline 15 minutes before the start is named at the top of the page (the server pushes
 * `readiness_alert`), with a link to its board. */
async function watchSoonMeetings() {
  const now = Date.now();
  const from = localDateTime(today(), "00:00");
  const to = localDateTime(addDays(today(), 2), "00:00");
  const { status, data } = await api(`/api/meetings?from=${from}&to=${to}&unit_id=${app.unitId}`);
  if (status !== 200) return;
  const wanted = data.filter((m) => m.state === "scheduled"
    && new Date(m.start).getTime() - now <= SOON_MS && new Date(m.end).getTime() > now);
  const socket = wanted.length ? alertSocket() : app.socket;
  for (const m of wanted) {
    if (soon.meetings.has(m.id)) continue;
    soon.meetings.set(m.id, m);
    if (socket?.connected) call(socket, "watch_readiness", { meeting_id: m.id }).catch(() => {});
  }
  for (const id of soon.meetings.keys()) if (!wanted.some((m) => m.id === id)) soon.meetings.delete(id);
  renderOfflineAlert();
}

function alertSocket() {
  const socket = liveSocket();
  if (!socket.watchingSoon) {
    socket.watchingSoon = true;
    socket.on("connect", () => {
      for (const id of soon.meetings.keys()) call(socket, "watch_readiness", { meeting_id: id }).catch(() => {});
    });
    socket.on("readiness_alert", (alert) => {
      if (!soon.meetings.has(alert.meeting_id)) return;
      soon.alerts.set(`${alert.meeting_id}:${alert.hall_id}`, { ...alert, at: Date.now() });
      renderOfflineAlert();
    });
  }
  return socket;
}

function renderOfflineAlert() {
  const now = Date.now();
  for (const [key, a] of soon.alerts) {
    if (now - a.at > ALERT_KEPT_MS || !soon.meetings.has(a.meeting_id)) soon.alerts.delete(key);
  }
  const alerts = [...soon.alerts.values()];
  const banner = $("offline-alert");
  banner.replaceChildren(...alerts.map((a) => h("p", { class: "alert-line", dataset: { meetingId: a.meeting_id, hallId: a.hall_id } },
    `⚠ ${t("ready.alert", { hall: hallWords(a.hall_name), m: a.minutes_left })} · ${soon.meetings.get(a.meeting_id)?.title ?? ""} `,
    h("button", { type: "button", class: "link-button", onclick: () => showBoardOf(a.meeting_id) }, t("ready.seeBoard")))));
  banner.hidden = alerts.length === 0 || app.view === "readiness";
}

async function showBoardOf(meetingId) {
  app.readyMeeting = meetingId;
  $("ready-meeting").value = String(meetingId);
  await setView("readiness");
}

// -- views ------------------------------------------------------------------------------------

const VIEWS = ["calendar", "terminals", "readiness"];

function setView(view) {
  app.view = view;
  for (const name of VIEWS) {
    $(`${name}-view`).hidden = view !== name;
    $(`tab-${name}`).setAttribute("aria-selected", String(view === name));
  }
  if (view !== "readiness") app.board?.stop();
  renderOfflineAlert();
  history.replaceState(null, "", view === "calendar" ? location.pathname : `#${view}`);
  if (view === "calendar") return loadWeek();
  return view === "terminals" ? loadTerminals() : showReadiness();
}

async function chooseUnit(unitId) {
  app.unitId = unitId;
  localStorage.setItem("giaoban.secretariat.unit", String(unitId));
  $("new-meeting").disabled = true;
  await loadUnit();
  $("new-meeting").disabled = false;
  await setView(app.view);
}

function wire() {
  $("tab-calendar").addEventListener("click", () => setView("calendar"));
  $("tab-terminals").addEventListener("click", () => setView("terminals"));
  $("tab-readiness").addEventListener("click", () => setView("readiness"));
  $("ready-meeting").addEventListener("change", (e) => {
    app.readyMeeting = Number(e.target.value);
    app.board?.show(app.readyMeeting);
  });
  $("tc-hangup").addEventListener("click", async () => {
    if (app.testCall) await endTestCall(null);
    else $("test-call").close();
  });
  $("test-call").addEventListener("close", () => { if (app.testCall) endTestCall(null); });
  $("unit").addEventListener("change", (e) => chooseUnit(Number(e.target.value)));
  $("prev-week").addEventListener("click", () => { app.weekStart = addDays(app.weekStart, -7); loadWeek(); });
  $("next-week").addEventListener("click", () => { app.weekStart = addDays(app.weekStart, 7); loadWeek(); });
  $("this-week").addEventListener("click", () => { app.weekStart = mondayOf(today()); loadWeek(); });
  $("new-meeting").addEventListener("click", () => openEditor(null));
  $("meeting-form").addEventListener("submit", save);
  $("editor-close").addEventListener("click", () => $("editor").close());
  $("meeting-form").addEventListener("input", checkConflicts);
  $("meeting-form").addEventListener("change", (e) => {
    if (e.target.id === "f-chair-hall") syncChairHall();
    if (e.target.closest("#f-days")) app.daysTouched = true;
    if (e.target.id === "f-date" && !app.daysTouched && e.target.value) {
      dayChecks([WEEKDAYS[localParts(`${e.target.value}T12:00:00+07:00`).weekday]]);
    }
    if (e.target.id === "f-repeat") showRepeat();
    if (e.target.name === "scope") setScope();
    checkConflicts();
  });
  $("agenda-add").addEventListener("click", () => { $("f-agenda").append(agendaRow()); numberAgenda(); });
  $("doc-add").addEventListener("click", attachDoc);
  $("f-docs").addEventListener("click", (event) => {
    const id = event.target.closest("button[data-doc]")?.dataset.doc;
    if (id) removeDoc(id);
  });
  $("halls-all").addEventListener("click", () => {
    for (const i of $("f-halls").querySelectorAll("input")) i.checked = true;
    checkConflicts();
  });
  $("halls-none").addEventListener("click", () => {
    for (const i of $("f-halls").querySelectorAll("input:not(:disabled)")) i.checked = false;
    checkConflicts();
  });
  $("cancel-meeting").addEventListener("click", () => { $("cancel-meeting").hidden = true; $("cancel-confirm").hidden = false; });
  $("cancel-no").addEventListener("click", () => { $("cancel-meeting").hidden = false; $("cancel-confirm").hidden = true; });
  $("cancel-yes").addEventListener("click", cancelMeeting);
  $("paired-close").addEventListener("click", () => $("paired").close());
  $("copy-link").addEventListener("click", async () => {
    $("paired-link").select();
    try {
      await navigator.clipboard.writeText($("paired-link").value);
      notify(t("sec.copied"));
    } catch {
      document.execCommand?.("copy");
    }
  });
}

async function boot() {
  const user = await currentUser({ required: true });
  app.user = user;
  fillHeader(user, { current: "/secretariat" });
  apply();
  if (!hasRole(user, "secretariat")) {
    notify(t("sec.notSecretariat"), { error: true });
    return;
  }
  const units = await api("/api/units");
  app.units = units.status === 200 ? units.data : [];
  const managed = managedUnits();
  $("unit").replaceChildren(...managed.map((u) => h("option", { value: String(u.id) }, u.name)));
  const remembered = Number(localStorage.getItem("giaoban.secretariat.unit"));
  app.unitId = managed.some((u) => u.id === remembered) ? remembered : managed[0]?.id;
  $("unit").value = String(app.unitId);
  app.weekStart = mondayOf(today());
  wire();
  onLangChange(() => {
    fillHeader(user, { current: "/secretariat" });
    if (app.view === "calendar") renderWeek();
    else if (app.view === "terminals") loadTerminals();
    else app.board?.render();
  });
  app.view = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "calendar";
  await loadUnit();
  $("new-meeting").disabled = false;
  await setView(app.view);
  document.body.dataset.ready = "true";
  // Colleagues schedule too: look again now and then (not while a meeting is being edited).
  setInterval(() => {
    if (app.view === "calendar" && !$("editor").open && !document.hidden) loadWeek();
  }, 60000);
  await watchSoonMeetings();
  setInterval(watchSoonMeetings, 30000);
  setInterval(renderOfflineAlert, 5000);
}

boot();
