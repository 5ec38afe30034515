// The minutes (biên bản) of a meeting: its versions and their content. The secretariat edits a
// draft (number, chair, secretary, place, each agenda item's content and conclusions, general
// conclusions, recipients) and saves it; the meeting's chair approves it (the server renders and
// signs the PDF); an approved version is downloaded (PDF, DOCX) or corrected (a new draft).
import {
  $, api, apply, currentUser, errorText, fillHeader, formatDate, formatDateTime, formatRange, h, hasRole,
  minutesView, notify, onLangChange, stateName, t,
} from "/static/common.js";

const app = {
  user: null,
  meetingId: null,
  meeting: null,       // GET /api/meetings/{id}
  units: [],
  versions: [],        // GET /api/meetings/{id}/minutes, oldest first
  selected: null,      // the version number shown
  working: null,       // the shown draft's content with the edits not saved yet
  dirty: false,
};
window.giaoban = app;

// -- who may do what ---------------------------------------------------------------------------

const isAdmin = () => app.user.user.roles.some((r) => r.role === "admin");

function lineage(unitId) {
  const out = [];
  let unit = app.units.find((u) => u.id === unitId);
  while (unit) {
    out.push(unit.id);
    unit = unit.parent_id === null ? null : app.units.find((u) => u.id === unit.parent_id);
  }
  return out.length ? out : [unitId];
}

/** A secretariat of the meeting's unit or of a unit above it (the server checks it again). */
function manages() {
  if (isAdmin()) return true;
  const units = lineage(app.meeting.unit.id);
  return app.user.user.roles.some((r) => r.role === "secretariat" && units.includes(r.unit_id));
}

/** The meeting's chair (or an admin) approves. */
function chairs() {
  return isAdmin() || app.meeting.chair_user.id === app.user.user.id;
}

// -- errors ----------------------------------------------------------------------------------

function fieldName(field) {
  const section = /^sections\.(\d+)\.(content|conclusions)/.exec(field);
  if (section) return t(`min.f.${section[2]}`, { n: Number(section[1]) + 1 });
  const names = {
    number: "min.f.number", chair: "min.f.chair", secretary: "min.f.secretary", location: "min.f.location",
    general_conclusions: "min.f.general", recipients: "min.f.recipients", sections: "doc.content",
  };
  const key = names[field.split(".")[0]];
  return key ? t(key) : field;
}

/** An API error as the page says it: the code in words, the server's detail, the field. */
function problem(error) {
  const text = errorText(error);
  return error?.field ? `${text} — ${t("error.field", { field: fieldName(error.field) })}` : text;
}

function showError(error) {
  $("form-error").textContent = error ? problem(error) : "";
}

// -- loading -----------------------------------------------------------------------------------

function version(number) {
  return app.versions.find((v) => v.version === number) ?? null;
}

async function loadVersions(select = null) {
  const { status, data } = await api(`/api/meetings/${app.meetingId}/minutes`);
  if (status !== 200) {
    showError(data?.error);
    return;
  }
  app.versions = data;
  const wanted = select ?? app.selected ?? Number(new URLSearchParams(location.search).get("version"));
  choose(version(wanted) ? wanted : data.at(-1)?.version ?? null);
}

function choose(number) {
  app.selected = number;
  const v = version(number);
  app.working = v ? structuredClone(v.content) : null;
  setDirty(false);
  showError(null);
  if (number !== null) {
    const params = new URLSearchParams(location.search);
    params.set("version", String(number));
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }
  render();
}

function setDirty(dirty) {
  app.dirty = dirty;
  $("dirty").hidden = !dirty;
}

// -- rendering ---------------------------------------------------------------------------------

function stateBadge(state) {
  return h("span", { class: `badge minutes-${state}` }, t(`min.state.${state}`));
}

function meta(v) {
  const parts = [];
  if (v.replaces_version) parts.push(t("min.replaces", { n: v.replaces_version }));
  const successor = app.versions.find((x) => x.replaces_version === v.version);
  if (successor) parts.push(t("min.replacedBy", { n: successor.version }));
  if (v.state === "approved") parts.push(t("min.approvedBy", { name: v.approved_by, when: formatDateTime(v.approved_at) }));
  else parts.push(t("min.updated", { when: formatDateTime(v.updated_at) }));
  return parts;
}

function renderHead() {
  const m = app.meeting;
  const start = m.started_at ?? m.start;
  const end = m.ended_at ?? m.end;
  document.title = `${t("min.pageTitle")} — ${m.title}`;
  $("title").textContent = m.title;
  $("when").textContent = `${formatDate(start)} · ${formatRange(start, end)} · ${m.chair_hall.name} · ${m.chair_user.full_name}`;
  $("meeting-state").textContent = stateName(m.state);
  $("meeting-state").className = `badge state-${m.state}`;
}

function renderVersions() {
  $("versions").replaceChildren(...[...app.versions].reverse().map((v) => h("li", {},
    h("button", {
      type: "button", class: `version ${v.version === app.selected ? "current" : ""}`,
      dataset: { version: v.version, state: v.state }, "aria-current": v.version === app.selected ? "true" : false,
      onclick: () => {
        if (v.version === app.selected || (app.dirty && !window.confirm(t("min.leave")))) return;
        choose(v.version);
      },
    },
    h("span", { class: "version-name" }, t("min.version", { n: v.version })), stateBadge(v.state),
    h("span", { class: "muted version-meta" }, meta(v).join(" · "))))));
}

function area(value, attrs) {
  const el = h("textarea", { rows: "3", placeholder: t("min.onePerLine"), ...attrs });
  el.value = value ?? "";
  return el;
}

function editSlots(c) {
  const slots = {
    number: h("input", { id: "f-number", value: c.number ?? "", maxlength: "40", placeholder: t("min.f.numberHint"), "aria-label": t("min.f.number") }),
    location: area(c.location, { id: "f-location", rows: "2", "aria-label": t("min.f.location") }),
    chair: h("input", { id: "f-chair", value: c.chair ?? "", maxlength: "500", "aria-label": t("min.f.chair") }),
    secretary: h("input", { id: "f-secretary", value: c.secretary ?? "", maxlength: "500", "aria-label": t("min.f.secretary") }),
    general_conclusions: area(c.general_conclusions, { id: "f-general", "aria-label": t("min.f.general") }),
    recipients: area((c.recipients ?? []).join("\n"), { id: "f-recipients", placeholder: t("min.recipientsHint"), "aria-label": t("min.f.recipients") }),
  };
  (c.sections ?? []).forEach((s, i) => {
    slots[`sections.${i}.content`] = area(s.content, { class: "f-content", rows: "4", dataset: { index: i }, "aria-label": t("min.f.content", { n: i + 1 }) });
    slots[`sections.${i}.conclusions`] = area(s.conclusions, { class: "f-conclusions", rows: "2", dataset: { index: i }, "aria-label": t("min.f.conclusions", { n: i + 1 }) });
  });
  return slots;
}

/** The form's values, as the PATCH body of the draft. */
function formPatch() {
  const sections = [...document.querySelectorAll("#doc .f-content")].map((el) => ({
    content: el.value,
    conclusions: document.querySelector(`#doc .f-conclusions[data-index="${el.dataset.index}"]`).value,
  }));
  return {
    number: $("f-number").value.trim(),
    chair: $("f-chair").value.trim(),
    secretary: $("f-secretary").value.trim(),
    location: $("f-location").value,
    general_conclusions: $("f-general").value,
    sections,
    recipients: $("f-recipients").value.split("\n").map((line) => line.trim()).filter(Boolean),
  };
}

/** Keep what was typed (a change of language re-renders the page). */
function keepEdits() {
  if (!app.working || !$("f-number")) return;
  const patch = formPatch();
  const { sections, ...fields } = patch;
  Object.assign(app.working, fields);
  app.working.sections = app.working.sections.map((s, i) => ({ ...s, ...(sections[i] ?? {}) }));
}

function render() {
  if (!app.meeting) return;
  renderHead();
  const v = version(app.selected);
  $("empty").hidden = Boolean(v);
  $("body").hidden = !v;
  if (!v) return;
  renderVersions();
  const draft = v.state === "draft";
  const latest = app.versions.at(-1).version === v.version;
  const editable = draft && manages();
  $("version-label").textContent = t("min.version", { n: v.version });
  $("version-state").replaceWith(Object.assign(stateBadge(v.state), { id: "version-state" }));
  $("version-meta").textContent = meta(v).join(" · ");
  $("save").hidden = !editable;
  $("approve-box").hidden = !(draft && chairs());
  $("approve-confirm").hidden = true;
  $("approve").hidden = false;
  $("wait-chair").hidden = !(draft && !chairs());
  $("wait-chair").textContent = t("min.waitChair", { name: app.meeting.chair_user.full_name });
  $("preview").hidden = !draft;
  $("preview").href = v.pdf_url;
  $("pdf").hidden = draft;
  $("pdf").href = v.pdf_url;
  $("docx").hidden = draft;
  $("docx").href = v.docx_url;
  $("correct").hidden = !(v.state === "approved" && latest && manages());
  const content = editable ? app.working : v.content;
  $("doc").dataset.version = String(v.version);
  $("doc").dataset.state = v.state;
  $("doc").replaceChildren(minutesView(content, {
    slots: editable ? editSlots(content) : {}, replaces: v.replaces_version,
  }));
}

// -- actions -----------------------------------------------------------------------------------

async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

async function save() {
  const v = version(app.selected);
  showError(null);
  const reply = await api(`/api/meetings/${app.meetingId}/minutes/${v.version}`, { method: "PATCH", body: formPatch() });
  if (reply.status !== 200) {
    showError(reply.data?.error);
    return false;
  }
  Object.assign(v, reply.data);
  app.working = structuredClone(reply.data.content);
  setDirty(false);
  render();
  notify(t("min.saved"));
  return true;
}

async function approve() {
  const v = version(app.selected);
  showError(null);
  if (app.dirty && manages() && !(await save())) return;
  $("approve-confirm").hidden = true;
  $("approve").hidden = false;
  notify(t("min.approving"));
  const reply = await api(`/api/meetings/${app.meetingId}/minutes/${v.version}/approve`, { method: "POST" });
  if (reply.status !== 200) {
    notify("");
    showError(reply.data?.error);
    return;
  }
  await loadVersions(v.version);
  notify(t("min.approved"));
}

async function correct() {
  const v = version(app.selected);
  showError(null);
  const reply = await api(`/api/meetings/${app.meetingId}/minutes/${v.version}/correct`, { method: "POST" });
  if (reply.status !== 201) {
    showError(reply.data?.error);
    return;
  }
  await loadVersions(reply.data.version);
  notify(t("min.corrected", { n: reply.data.version }));
}

function wire() {
  $("save").addEventListener("click", () => busy($("save"), save));
  $("approve").addEventListener("click", () => { $("approve").hidden = true; $("approve-confirm").hidden = false; });
  $("approve-no").addEventListener("click", () => { $("approve").hidden = false; $("approve-confirm").hidden = true; });
  $("approve-yes").addEventListener("click", () => busy($("approve-yes"), approve));
  $("correct").addEventListener("click", () => busy($("correct"), correct));
  $("doc").addEventListener("input", () => setDirty(true));
  window.addEventListener("beforeunload", (event) => {
    if (app.dirty) event.preventDefault();
  });
  // Someone else may have saved or approved meanwhile: look again when the page is back in view.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !app.dirty) loadVersions();
  });
}

// -- boot --------------------------------------------------------------------------------------

function header() {
  fillHeader(app.user, { current: "/minutes" });
  if (hasRole(app.user, "archivist")) {
    $("nav").append(h("a", { href: "/archive", "data-i18n": "nav.archive" }, t("nav.archive")));
  }
}

async function boot() {
  app.user = await currentUser({ required: true });
  header();
  apply();
  app.meetingId = Number(new URLSearchParams(location.search).get("meeting"));
  if (!app.meetingId) {
    notify(t("min.notFound"), { error: true });
    return;
  }
  const [meeting, units] = await Promise.all([api(`/api/meetings/${app.meetingId}`), api("/api/units")]);
  if (meeting.status !== 200) {
    notify(problem(meeting.data?.error), { error: true });
    return;
  }
  app.meeting = meeting.data;
  app.units = units.status === 200 ? units.data : [];
  wire();
  onLangChange(() => {
    keepEdits();
    header();
    render();
  });
  await loadVersions();
  render();
  document.body.dataset.ready = "true";
}

boot();
