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
      links.push(["/?week=1", "nav.week"]);
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
        type: "button", class: "link", "data-i18n": "action.logout",
        onclick: async () => { await api("/api/session", { method: "DELETE" }); location.href = "/"; },
      }, t("action.logout")));
    }
    tools.append(langSwitch());
  }
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
