// The landing page: log in, then go where the person's role leads (or show the week's meetings).
import {
  $, api, apply, currentUser, fillHeader, formatDateTime, h, hasRole, onLangChange, stateName, t,
} from "/static/common.js";

/**
 * The `next` address, if it is a path of this site; null otherwise. Browsers drop tabs and
 * newlines from a URL and read "\" as "/", so "/%09/evil" and "/%5Cevil" were other sites:
 * control characters and backslashes are refused, and what is left must resolve to our origin.
 */
function sameSitePath(next) {
  if (!next || !next.startsWith("/") || /[\u0000-\u001f\u007f\\]/.test(next)) return null;
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return null;
  }
  if (url.origin !== location.origin) return null;
  return url.pathname + url.search + url.hash;
}

function destination(user) {
  const params = new URLSearchParams(location.search);
  const next = sameSitePath(params.get("next"));
  if (next) return next;
  if (params.has("week")) return null;
  if (hasRole(user, "secretariat")) return "/secretariat";
  if (hasRole(user, "chair")) return "/chair";
  if (hasRole(user, "archivist")) return "/archive";
  return null;
}

async function showWeek(user) {
  fillHeader(user, { current: "/?week" });
  $("login-card").hidden = true;
  $("week-card").hidden = false;
  const { status, data } = await api("/api/meetings");
  const body = $("meetings");
  body.replaceChildren();
  if (status !== 200) return;
  for (const m of data) {
    body.append(h("tr", {},
      h("td", {}, formatDateTime(m.start)), h("td", {}, m.title), h("td", {}, m.chair_hall.name),
      h("td", {}, String(m.halls.length)), h("td", {}, stateName(m.state))));
  }
}

function arrive(user) {
  const target = destination(user);
  if (target) location.href = target;
  else showWeek(user);
}

async function start() {
  apply();
  const user = await currentUser();
  onLangChange(() => (user ? showWeek(user) : fillHeader(null)));
  if (user) return arrive(user);
  fillHeader(null);
  $("login-card").hidden = false;
  $("username").focus();
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const { status, data } = await api("/api/session", {
    method: "POST", body: { username: $("username").value, password: $("password").value },
  });
  if (status === 200) return arrive(data);
  $("login-error").textContent = status === 429
    ? t("login.throttled", { s: data.error.retry_after })
    : t("login.failed");
});

start();
