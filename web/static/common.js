// Shared helpers: dates in Asia/Ho_Chi_Minh in the chosen language, API calls that surface
// readable errors, a tiny element builder and the page header (language switch, who is in).
import { TZ, t, locale, apply, langSwitch, onLangChange } from "/static/i18n.js";

export { TZ, t, apply, onLangChange };

export const $ = (id) => document.getElementById(id);

export function stateName(state) {
  return t(`state.${state}`);
}

/** An element: h("button", {class: "x", onclick}, "text", child…). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function fmt(value, options) {
  return new Intl.DateTimeFormat(locale(), { timeZone: TZ, ...options }).format(new Date(value));
}

export function formatDateTime(iso) {
  return fmt(iso, {
    weekday: "long", day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

export function formatTime(date, seconds = true) {
  return fmt(date, { hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}), hour12: false });
}

export function formatDate(date) {
  return fmt(date, { weekday: "long", day: "2-digit", month: "2-digit", year: "numeric" });
}

export function formatRange(startIso, endIso) {
  return `${formatTime(startIso, false)}–${formatTime(endIso, false)}`;
}

/** The local (Asia/Ho_Chi_Minh) calendar fields of an instant. */
export function localParts(value) {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23", weekday: "short",
  }).formatToParts(new Date(value));
  const get = (type) => parts.find((p) => p.type === type)?.value;
  const weekdays = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
  return {
    date: `${get("year")}-${get("month")}-${get("day")}`,
    time: `${get("hour")}:${get("minute")}`,
    weekday: weekdays[get("weekday")],  // Monday = 0
  };
}

/** "dd/mm" of a "YYYY-MM-DD" calendar date. */
export function shortDate(isoDate) {
  return `${isoDate.slice(8, 10)}/${isoDate.slice(5, 7)}`;
}

/** "YYYY-MM-DD" plus `days`, as a plain calendar date (no time zone involved). */
export function addDays(isoDate, days) {
  const d = new Date(`${isoDate}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** A local date and time as the API takes it (no offset: Asia/Ho_Chi_Minh). */
export function localDateTime(isoDate, time) {
  return `${isoDate}T${time}`;
}

/** The instant of a local date (midnight in Asia/Ho_Chi_Minh, which has no daylight saving). */
export function localMidnight(isoDate) {
  return new Date(`${isoDate}T00:00:00+07:00`);
}

export async function api(path, { method = "GET", body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.headers.get("Content-Type")?.includes("json") ? await response.json() : null;
  return { status: response.status, data };
}

/** A readable message for an API or signalling error ({code, message, field}). */
export function errorText(error) {
  if (!error) return t("error.unknown");
  const known = t(`error.${error.code}`, {}, null);
  const detail = error.message ? ` (${error.message})` : "";
  return known ? `${known}${detail}` : error.message || error.code;
}

/** The logged-in person, or null (sends them to the login page when `required`). */
export async function currentUser({ required = false } = {}) {
  let reply;
  try {
    reply = await api("/api/session");
  } catch {
    reply = { status: 0 };
  }
  if (reply.status === 200 && reply.data.kind === "user") return reply.data;
  if (required) {
    location.href = `/?next=${encodeURIComponent(location.pathname + location.search)}`;
    await new Promise(() => {});
  }
  return null;
}

export function hasRole(user, role, unitId = undefined) {
  return user.user.roles.some((r) => r.role === "admin" || (r.role === role && (unitId === undefined || r.unit_id === unitId)));
}

/** Fill the page header: who is in, the pages they may open, the language switch, log out. */
export function fillHeader(user, { current } = {}) {
  const nav = $("nav");
  if (nav) {
    nav.replaceChildren();
    if (user) {
      const links = [];
      if (hasRole(user, "secretariat")) links.push(["/secretariat", "nav.secretariat"]);
      if (hasRole(user, "chair") || hasRole(user, "secretariat")) links.push(["/chair", "nav.chair"]);
      links.push(["/present", "nav.present"]);
      links.push(["/?week=1", "nav.week"]);
      if (hasRole(user, "secretariat")) links.push(["/admin", "nav.admin"]);
      for (const [href, key] of links) {
        nav.append(h("a", { href, class: href.startsWith(current) ? "current" : "", "data-i18n": key }, t(key)));
      }
    }
  }
  const tools = $("tools");
  if (tools) {
    tools.replaceChildren();
    if (user) {
      tools.append(h("span", { class: "who" }, user.name));
      tools.append(h("button", {
        type: "button", class: "link change-password", "data-i18n": "account.changePassword",
        onclick: changePassword,
      }, t("account.changePassword")));
      tools.append(h("button", {
        type: "button", class: "link", "data-i18n": "action.logout",
        onclick: async () => { await api("/api/session", { method: "DELETE" }); location.href = "/"; },
      }, t("action.logout")));
    }
    tools.append(langSwitch());
  }
}

/** The person changes their own password (the current one first); their other logins end. */
function changePassword() {
  const input = (key, autocomplete) => h("label", {}, h("span", {}, t(key)), " ",
    h("input", { type: "password", required: true, autocomplete, dataset: { field: key } }));
  const error = h("p", { class: "error form-error", role: "alert" });
  const form = h("form", { method: "dialog", novalidate: true },
    h("h2", {}, t("account.changePassword")),
    input("account.current", "current-password"), input("account.new", "new-password"),
    input("account.repeat", "new-password"), h("p", { class: "muted" }, t("admin.passwordRule")), error,
    h("footer", { class: "dialog-foot" },
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, t("action.cancel")),
      h("button", { type: "submit" }, t("action.save"))));
  const dialog = h("dialog", { id: "password-dialog", class: "password-dialog" }, form);
  const value = (key) => form.querySelector(`[data-field="${key}"]`).value;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (value("account.new") !== value("account.repeat")) {
      error.textContent = t("account.mismatch");
      return;
    }
    const reply = await api("/api/session/password", {
      method: "POST", body: { current_password: value("account.current"), password: value("account.new") },
    });
    if (reply.status === 200 || reply.status === 204) {
      dialog.close();
      notify(t("account.changed"));
      return;
    }
    error.textContent = errorText(reply.data?.error);
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

/** Show a short message in the page's status line (role=status or alert). */
export function notify(text, { error = false } = {}) {
  const box = $("notice");
  if (!box) return;
  box.textContent = text;
  box.className = error ? "notice error" : "notice";
  box.setAttribute("role", error ? "alert" : "status");
  clearTimeout(notify.timer);
  if (text) notify.timer = setTimeout(() => { box.textContent = ""; }, error ? 10000 : 4000);
}

// -- the minutes and the archive -------------------------------------------------------------

/** "12:05" or "1:02:05" of a position in a recording (seconds). */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A length of time in words: "1 giờ 5 phút 30 giây", "4 phút 30 giây". */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const vars = { h: Math.floor(total / 3600), m: Math.floor((total % 3600) / 60), s: total % 60 };
  if (vars.h) return t("time.hms", vars);
  return vars.m ? t("time.ms", vars) : t("time.s", vars);
}

/** A file size: "842 B", "1,5 MB" (in the chosen language's number format). */
export function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value)} ${units[unit]}`;
}

/** A time of the minutes as the document writes it: "08 giờ 00, ngày 05 tháng 01 năm 2026". */
/** A meeting's documents as list items: each a download link with its kind and size. */
export async function documentItems(meetingId) {
  const { status, data } = await api(`/api/meetings/${meetingId}/documents`);
  const docs = status === 200 ? data : [];
  return docs.map((d) => h("li", {},
    h("a", { href: d.url, download: d.filename }, d.filename),
    h("span", { class: "muted" }, ` ${d.kind.toUpperCase()}, ${formatBytes(d.size)}`)));
}

export function docTime(iso) {
  if (!iso) return "—";
  const { date, time } = localParts(iso);
  const [y, m, d] = date.split("-");
  const [hh, mm] = time.split(":");
  return t("doc.time", { hh, mm, d, m, y });
}

function paragraphs(text) {
  const lines = String(text ?? "").split("\n").filter((line) => line.trim());
  if (!lines.length) return h("p", { class: "muted empty" }, t("doc.empty"));
  return h("div", { class: "paras" }, lines.map((line) => h("p", {}, line)));
}

/** The attendance rows of a draft (joined, left) or of the archive (first_join, last_leave). */
export function attendanceTable(rows) {
  const yesNo = (present) => (present === true ? t("doc.present") : present === false ? t("doc.absent") : "—");
  return h("table", { class: "attendance" },
    h("thead", {}, h("tr", {}, ["doc.col.no", "doc.col.hall", "doc.col.joined", "doc.col.left",
      "doc.col.connected", "doc.col.delegates", "doc.col.present"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.map((r, i) => {
      const joined = r.joined ?? r.first_join;
      const left = r.left ?? r.last_leave;
      return h("tr", { dataset: { hall: r.hall } },
        h("td", {}, String(i + 1)), h("th", { scope: "row" }, r.hall),
        h("td", {}, joined ? formatTime(joined, false) : "—"), h("td", {}, left ? formatTime(left, false) : "—"),
        h("td", {}, r.connected_minutes === undefined ? "—" : formatDuration(r.connected_minutes * 60)),
        h("td", {}, r.delegates ?? "—"), h("td", {}, yesNo(r.present)));
    })));
}

/**
 * The minutes' content as the page shows it (the signed PDF is the document itself). `slots`
 * replaces an editable part with a form control: "number", "location", "chair", "secretary",
 * "sections.N.content", "sections.N.conclusions", "general_conclusions", "recipients".
 */
export function minutesView(c, { slots = {}, replaces = null } = {}) {
  const part = (key, text) => slots[key] ?? paragraphs(text);
  const line = (labelKey, value, cls = "") => h("div", { class: `doc-line ${cls}` },
    h("span", { class: "doc-label" }, `${t(labelKey)}: `), value);
  const [y, m, d] = String(c.date ?? "").split("-");
  const attendance = c.attendance ?? [];
  const delegates = attendance.reduce((sum, r) => sum + (r.delegates ?? 0), 0);
  const connected = attendance.filter((r) => r.joined ?? r.first_join).length;
  return h("div", { class: "minutes-view" },
    h("div", { class: "doc-head" },
      h("div", { class: "doc-issuer" },
        h("div", {}, c.governing_body ?? ""), h("div", { class: "strong" }, c.issuing_body ?? ""),
        h("div", { class: "doc-number" }, slots.number
          ? h("label", { class: "inline" }, h("span", {}, t("doc.numberLabel")), slots.number)
          : t("doc.number", { number: c.number || "……" }))),
      h("div", { class: "doc-nation" },
        h("div", { class: "strong" }, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        h("div", { class: "strong motto" }, "Độc lập - Tự do - Hạnh phúc"),
        h("div", { class: "doc-date" }, t("doc.placeDate", { place: c.place ?? "", d: d ?? "", m: m ?? "", y: y ?? "" })))),
    h("h3", { class: "doc-title" }, t("doc.title")),
    h("div", { class: "doc-subject" }, c.subject ?? ""),
    replaces ? h("div", { class: "doc-replaces" }, t("doc.replaces", { n: replaces })) : null,
    line("doc.started", docTime(c.started)),
    line("doc.location", part("location", c.location), "block"),
    h("div", { class: "doc-line" }, attendance.some((r) => r.delegates !== null && r.delegates !== undefined)
      ? t("doc.attendance", { halls: connected, delegates }) : t("doc.attendanceHalls", { halls: connected })),
    attendanceTable(attendance),
    line("doc.chair", part("chair", c.chair), "block"),
    line("doc.secretary", part("secretary", c.secretary), "block"),
    h("h4", { class: "doc-section-head" }, t("doc.content")),
    h("ol", { class: "doc-sections" }, (c.sections ?? []).map((s, i) => h("li", { class: "doc-section", dataset: { section: i } },
      h("div", { class: "section-title" }, s.title),
      s.presenter ? h("div", { class: "doc-line" }, t("doc.presenter", { name: s.presenter })) : null,
      h("div", { class: "doc-line turns" }, h("span", { class: "doc-label" }, `${t("doc.turns")}: `),
        s.turns?.length
          // the draft keeps tenths of a minute: a turn under 3 seconds reads 0
          ? s.turns.map((turn) => `${turn.hall} (${turn.minutes > 0 ? formatDuration(turn.minutes * 60) : t("doc.brief")})`).join("; ")
          : t("doc.noTurns")),
      line("doc.sectionContent", part(`sections.${i}.content`, s.content), "block"),
      line("doc.conclusions", part(`sections.${i}.conclusions`, s.conclusions), "block")))),
    // who presented content (a shared screen), as the PDF and the DOCX list it
    (c.presentations ?? []).length ? line("doc.presentations", h("ul", { class: "presentations" },
      c.presentations.map((p) => h("li", {}, `${p.hall && p.hall !== p.presenter ? `${p.presenter} (${p.hall})` : p.presenter}: ${formatRange(p.started, p.ended)}`))), "block") : null,
    line("doc.generalConclusions", part("general_conclusions", c.general_conclusions), "block"),
    (c.recording_links ?? []).length ? line("doc.recording", h("ul", {},
      c.recording_links.map((link) => h("li", {}, h("a", { href: link }, link)))), "block") : null,
    line("doc.ended", docTime(c.ended)),
    line("doc.recipients", slots.recipients ?? h("ul", { class: "recipients" },
      (c.recipients ?? []).map((r) => h("li", {}, r))), "block"));
}
