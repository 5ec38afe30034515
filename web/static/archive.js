// The archive, for archivists and admins. /archive searches the archived meetings (words with or
// without accents, dates, unit, hall, chair, title); /archive?meeting=ID shows one: the recording
// with its chapters and each hall's turns (both seek the player), the approved minutes, the
// attendance, integrity (and a check on demand), every package version with its files, retention
// and legal hold; an admin places or lifts a hold, changes the retention, disposes of a package.
import {
  $, addDays, api, apply, attendanceTable, clock, currentUser, errorText, fillHeader, formatBytes,
  formatDate, formatDateTime, formatDuration, formatRange, h, hasRole, minutesView, notify, onLangChange, t,
} from "/static/common.js";

const SEARCH_FIELDS = ["q", "from", "to", "unit", "hall", "chair", "title"];
const FIELD_INPUT = { q: "q", from: "from", to: "to", unit: "unit", hall: "hall", chair: "chair", title: "title-q" };

const app = {
  user: null,
  view: null,          // "search" or "meeting"
  units: [],
  halls: [],
  hits: null,          // the last search's results
  meetingId: null,
  data: null,          // GET /api/archive/meetings/{id}
  tombstones: [],
  verified: {},        // package id → the last verification's answer
  adminPackageId: null,
  adminResult: null,   // {ok, text, detail}
};
window.giaoban = app;

const isAdmin = () => app.user.user.roles.some((r) => r.role === "admin");

// -- search ------------------------------------------------------------------------------------

function searchParams() {
  const params = new URLSearchParams(location.search);
  return Object.fromEntries(SEARCH_FIELDS.map((name) => [name, params.get(name) ?? ""]));
}

function fillForm(values) {
  for (const name of SEARCH_FIELDS) $(FIELD_INPUT[name]).value = values[name];
}

function formValues() {
  return Object.fromEntries(SEARCH_FIELDS.map((name) => [name, $(FIELD_INPUT[name]).value.trim()]));
}

function fillSelects() {
  const unit = $("unit").value || searchParams().unit;
  const hall = $("hall").value || searchParams().hall;
  $("unit").replaceChildren(h("option", { value: "" }, t("arch.any")),
    ...app.units.map((u) => h("option", { value: String(u.id) }, u.name)));
  $("hall").replaceChildren(h("option", { value: "" }, t("arch.any")),
    ...app.halls.map((x) => h("option", { value: String(x.id) }, x.name)));
  $("unit").value = unit;
  $("hall").value = hall;
}

/** The API's query: dates are whole local days (the end date included). */
function apiQuery(values) {
  const query = new URLSearchParams();
  if (values.q) query.set("q", values.q);
  if (values.from) query.set("from", `${values.from}T00:00`);
  if (values.to) query.set("to", `${addDays(values.to, 1)}T00:00`);
  if (values.unit) query.set("unit_id", values.unit);
  if (values.hall) query.set("hall_id", values.hall);
  if (values.chair) query.set("chair", values.chair);
  if (values.title) query.set("title", values.title);
  return query;
}

let lastSearch = 0;

async function search(values) {
  const mine = ++lastSearch;
  $("count").textContent = t("arch.searching");
  $("search-error").textContent = "";
  const { status, data } = await api(`/api/archive/search?${apiQuery(values)}`);
  if (mine !== lastSearch) return; // a later search was asked for: its answer is the one shown
  if (status !== 200) {
    app.hits = [];
    $("count").textContent = "";
    $("search-error").textContent = errorText(data?.error);
    renderHits();
    return;
  }
  app.hits = data;
  renderHits();
}

function integrityBadge(state) {
  const known = ["ok", "damaged"].includes(state) ? state : "unknown";
  return h("span", { class: `badge integrity-${known}`, dataset: { integrity: state } }, t(`arch.integrity.${known}`));
}

function renderHits() {
  const hits = app.hits ?? [];
  $("count").textContent = hits.length ? t("arch.results", { n: hits.length }) : t("arch.noResults");
  $("results").replaceChildren(...hits.map((hit) => h("li", { class: "result", dataset: { meetingId: hit.meeting_id } },
    h("a", { href: `/archive?meeting=${hit.meeting_id}`, class: "result-link" },
      hit.poster_url
        ? h("img", { class: "poster", src: hit.poster_url, alt: hit.title, loading: "lazy", width: "256", height: "144" })
        : h("div", { class: "poster none" }, t("arch.noPoster")),
      h("div", { class: "result-body" },
        h("h3", { class: "result-title" }, hit.title),
        h("div", { class: "result-when" }, `${formatDate(hit.start)} · ${formatRange(hit.start, hit.end)}`,
          h("span", { class: "duration" }, ` · ${t("arch.duration", { d: formatDuration(hit.duration_seconds) })}`)),
        h("div", { class: "muted" }, `${hit.unit} · ${t("arch.chairBy", { name: hit.chair })}`),
        h("div", { class: "result-halls" }, t("arch.hallsList", { halls: hit.halls.join(", ") })),
        h("div", { class: "result-badges" }, h("span", { class: "badge" }, t("arch.version", { n: hit.version })),
          integrityBadge(hit.integrity)))))));
}

async function showSearch() {
  app.view = "search";
  $("search-view").hidden = false;
  // The form is filled and live before the lists load: what is typed meanwhile is kept.
  fillForm(searchParams());
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues();
    const params = new URLSearchParams(Object.entries(values).filter(([, v]) => v));
    history.pushState(null, "", params.size ? `/archive?${params}` : "/archive");
    search(values);
  });
  $("clear").addEventListener("click", () => {
    fillForm(Object.fromEntries(SEARCH_FIELDS.map((name) => [name, ""])));
    history.pushState(null, "", "/archive");
    search(formValues());
  });
  window.addEventListener("popstate", () => {
    fillForm(searchParams());
    search(searchParams());
  });
  const [units, halls] = await Promise.all([api("/api/units"), api("/api/halls")]);
  app.units = units.status === 200 ? units.data : [];
  app.halls = halls.status === 200 ? halls.data : [];
  fillSelects();
  await search(searchParams());
}

// -- one meeting: the player -----------------------------------------------------------------

function seek(seconds) {
  const video = $("video");
  video.currentTime = seconds;
  video.play().catch(() => {});  // paused by the person, or no sound allowed: the seek still holds
}

function setUpPlayer(data) {
  const video = $("video");
  if (video.dataset.src === data.video_url) return;
  video.dataset.src = data.video_url;
  video.poster = data.poster_url;
  video.src = data.video_url;
  const track = h("track", { kind: "chapters", src: data.chapters_url, srclang: "vi", label: t("arch.chapterTrack"), default: true });
  video.replaceChildren(track);
  track.track.mode = "hidden";  // load the cues (chapters are not drawn on the picture)
  video.addEventListener("timeupdate", markChapter);
}

function markChapter() {
  const now = $("video").currentTime;
  let current = null;
  for (const item of $("chapters").children) {
    if (Number(item.dataset.start) <= now + 0.05) current = item;
  }
  for (const item of $("chapters").children) {
    item.classList.toggle("current", item === current);
    if (item === current) item.setAttribute("aria-current", "true"); else item.removeAttribute("aria-current");
  }
}

function renderChapters(chapters) {
  $("chapters").replaceChildren(...chapters.map((c, i) => h("li", { class: `chapter ${c.kind}`, dataset: { start: c.start, index: i } },
    h("button", { type: "button", class: "seek", onclick: () => seek(c.start) },
      h("span", { class: "stamp" }, clock(c.start)), h("span", { class: "chapter-title" }, c.title)))));
  if (!chapters.length) $("chapters").replaceChildren(h("li", { class: "muted" }, t("arch.noChapters")));
  markChapter();
}

function renderTurns(turns) {
  const halls = Object.entries(turns);
  $("turns").replaceChildren(...halls.map(([hall, periods]) => {
    const total = periods.reduce((sum, p) => sum + (p.end - p.start), 0);
    return h("div", { class: "hall-turns", dataset: { hall } },
      h("div", { class: "hall-name" }, hall, h("span", { class: "muted" }, ` · ${t("arch.turnCount", { n: periods.length, d: formatDuration(total) })}`)),
      h("div", { class: "turn-buttons" }, periods.map((p) => h("button", {
        type: "button", class: "secondary small turn", dataset: { start: p.start, end: p.end }, onclick: () => seek(p.start),
      }, `${clock(p.start)}–${clock(p.end)}`))));
  }));
  if (!halls.length) $("turns").replaceChildren(h("p", { class: "muted" }, t("arch.noTurns")));
}

// -- one meeting: integrity, versions, retention -------------------------------------------

const PROBLEMS = {
  "missing": "arch.p.missing",
  "content changed (SHA-256 differs from the manifest)": "arch.p.changed",
  "not in the manifest": "arch.p.unexpected",
  "the manifest's signature does not verify": "arch.p.signature",
  "differs from the manifest recorded when archived": "arch.p.manifest",
  "cannot be read": "arch.p.unreadable",
  "the package is missing from the store": "arch.p.gone",
};

function problemText(problem) {
  const size = /^size (\d+) bytes, the manifest says (\d+)$/.exec(problem);
  if (size) return t("arch.p.size", { size: size[1], expected: size[2] });
  return PROBLEMS[problem] ? t(PROBLEMS[problem]) : problem;
}

function problemList(problems) {
  return h("ul", { class: "problems" }, problems.map((p) => h("li", { dataset: { file: p.file ?? "" }, title: p.problem },
    p.file ? [h("code", {}, p.file), ": "] : null, problemText(p.problem))));
}

function verifyResult(result) {
  return h("div", { class: `verify ${result.ok ? "ok" : "bad"}`, dataset: { ok: String(result.ok) } },
    result.ok
      ? h("p", { class: "ok-text" }, `✔ ${t("arch.verifyOk")}`)
      : [h("p", { class: "error" }, `✖ ${t("arch.verifyBad", { n: result.problems.length })}`), problemList(result.problems)],
    h("p", { class: "muted signature" }, t("arch.signature", { summary: result.minutes_signature })));
}

async function verify(packageId, button) {
  const box = button.parentElement.querySelector(".verify-result");
  button.disabled = true;
  box.replaceChildren(h("p", { class: "muted" }, t("arch.verifying")));
  const reply = await api(`/api/archive/packages/${packageId}/verify`, { method: "POST" });
  button.disabled = false;
  if (reply.status !== 200) {
    box.replaceChildren(h("p", { class: "error" }, errorText(reply.data?.error)));
    return;
  }
  const result = reply.data;
  app.verified[packageId] = result;
  const pkg = app.data.versions.find((p) => p.id === packageId);
  if (pkg) {
    Object.assign(pkg, {
      integrity: result.ok ? "ok" : "damaged", integrity_detail: result.problems,
      last_verified_at: new Date().toISOString(),
    });
    if (app.data.package.id === packageId) app.data.package = pkg;
  }
  renderMeeting();
}

function retentionText(pkg) {
  const name = t(`arch.retention.${pkg.retention_class}`, {}, pkg.retention_class);
  const until = pkg.dispose_after ? t("arch.disposeAfter", { date: formatDate(pkg.dispose_after) }) : t("arch.keptForever");
  return `${name} · ${until}`;
}

function holdText(pkg) {
  return pkg.legal_hold ? t("arch.held", { reason: pkg.hold_reason }) : t("arch.notHeld");
}

function renderIntegrity(pkg) {
  const card = $("integrity-card");
  $("integrity").replaceWith(Object.assign(integrityBadge(pkg.integrity), { id: "integrity" }));
  $("verified-at").textContent = pkg.last_verified_at ? t("arch.lastVerified", { when: formatDateTime(pkg.last_verified_at) }) : "";
  const result = app.verified[pkg.id];
  const box = card.querySelector(".verify-result");
  if (result) box.replaceChildren(verifyResult(result));
  else if (pkg.integrity === "damaged" && pkg.integrity_detail.length) box.replaceChildren(problemList(pkg.integrity_detail));
  else box.replaceChildren();
}

function renderVersions(data) {
  const latest = data.package.id;
  $("versions").replaceChildren(...[...data.versions].reverse().map((p) => {
    const result = app.verified[p.id];
    const button = h("button", { type: "button", class: "secondary small verify-one", onclick: (e) => verify(p.id, e.currentTarget) }, t("arch.verify"));
    return h("section", { class: "package", dataset: { packageId: p.id, version: p.version } },
      h("h4", {}, t("arch.packageVersion", { n: p.version }),
        p.id === latest ? h("span", { class: "badge" }, t("arch.latest")) : null, integrityBadge(p.integrity),
        p.legal_hold ? h("span", { class: "badge held" }, t("arch.hold")) : null),
      h("div", { class: "muted" }, [
        t("arch.created", { when: formatDateTime(p.created_at) }),
        p.minutes_version ? t("arch.minutesVersion", { n: p.minutes_version }) : null,
        t("arch.filesTotal", { n: p.files.length, size: formatBytes(p.size) }),
      ].filter(Boolean).join(" · ")),
      h("div", { class: "muted" }, `${t("arch.retention")}: ${retentionText(p)} · ${t("arch.hold")}: ${holdText(p)}`),
      h("div", { class: "manifest muted" }, `${t("arch.manifest")}: `, h("code", {}, p.manifest_sha256)),
      h("table", { class: "files" },
        h("thead", {}, h("tr", {}, h("th", {}, t("arch.file")), h("th", { class: "num" }, t("arch.size")), h("th", {}, "SHA-256"))),
        h("tbody", {}, p.files.map((f) => h("tr", { dataset: { file: f.name } },
          h("td", {}, h("a", { href: f.url, download: f.name }, f.name)),
          h("td", { class: "num" }, formatBytes(f.size)),
          h("td", {}, h("code", { title: f.sha256 }, `${f.sha256.slice(0, 16)}…`)))))),
      h("div", { class: "package-tools" }, button,
        h("div", { class: "verify-result" }, result ? verifyResult(result) : null)));
  }));
  const gone = app.tombstones;
  $("tombstones").replaceChildren(...(gone.length ? [
    h("h4", {}, t("arch.tombstones")),
    h("ul", { class: "tombstones" }, gone.map((x) => h("li", { dataset: { packageId: x.package_id } }, t("arch.tombstone", {
      n: x.version, when: formatDateTime(x.disposed_at), by: x.disposed_by, reason: x.reason,
    })))),
  ] : []));
}

// -- one meeting: administration ---------------------------------------------------------------

function adminPackage() {
  return app.data.versions.find((p) => p.id === app.adminPackageId) ?? app.data.package;
}

function renderAdmin() {
  $("admin").hidden = !isAdmin();
  if (!isAdmin()) return;
  const chosen = adminPackage();
  app.adminPackageId = chosen.id;
  $("admin-package").replaceChildren(...[...app.data.versions].reverse().map((p) => h("option", { value: String(p.id) },
    `${t("arch.packageVersion", { n: p.version })}${p.id === app.data.package.id ? ` (${t("arch.latest")})` : ""}`)));
  $("admin-package").value = String(chosen.id);
  $("hold-place").hidden = chosen.legal_hold;
  $("hold-release").hidden = !chosen.legal_hold;
  $("retention-class").value = chosen.retention_class;
  const result = app.adminResult;
  $("admin-result").replaceChildren(...(result ? [h("div", {
    class: result.ok ? "admin-ok" : "refusal", role: result.ok ? "status" : "alert",
  }, result.title ? h("strong", {}, `${result.title}: `) : null, result.text,
  result.detail ? h("div", { class: "server-said" }, t("arch.serverSaid", { message: result.detail })) : null)] : []));
}

/** A refusal in words (the server's own message is shown beneath it). */
function refusal(error) {
  const message = error?.message ?? "";
  const held = /under a legal hold: (.*)$/.exec(message);
  if (held) return t("arch.r.hold", { reason: held[1] });
  const early = /before (\d{4}-\d{2}-\d{2})/.exec(message);
  if (early) return t("arch.r.early", { date: formatDate(`${early[1]}T12:00:00+07:00`) });
  if (/kept permanently/.test(message)) return t("arch.r.permanent");
  return t(`error.${error?.code}`, {}, t("error.unknown"));
}

function reasonOf(id) {
  const reason = $(id).value.trim();
  if (reason.length >= 3) return reason;
  app.adminResult = { ok: false, text: t("arch.needReason") };
  renderAdmin();
  $(id).focus();
  return null;
}

async function adminCall(button, path, body, done) {
  button.disabled = true;
  const reply = await api(`/api/archive/packages/${app.adminPackageId}/${path}`, { method: "POST", body });
  button.disabled = false;
  if (reply.status !== 200) {
    app.adminResult = { ok: false, title: path === "dispose" ? t("arch.disposeRefused") : null, text: refusal(reply.data?.error), detail: reply.data?.error?.message };
    renderAdmin();
    return;
  }
  await done(reply.data);
}

/** A changed package as the server answers it. The hold and retention answers say
 * `minutes_version: null` whatever the package holds (server/api/archive.py calls
 * `package_out(call, updated, None)`): the version the meeting's page gave is kept. */
function updatePackage(changed) {
  const pkg = app.data.versions.find((p) => p.id === changed.id);
  if (!pkg) return;
  const { minutes_version: _, ...fields } = changed;
  Object.assign(pkg, fields);
  if (app.data.package.id === pkg.id) app.data.package = pkg;
}

function wireAdmin() {
  $("admin-package").addEventListener("change", (e) => {
    app.adminPackageId = Number(e.target.value);
    app.adminResult = null;
    renderAdmin();
  });
  $("hold-place").addEventListener("click", async (e) => {
    const reason = reasonOf("hold-reason");
    if (reason === null) return;
    await adminCall(e.currentTarget, "hold", { hold: true, reason }, (pkg) => {
      updatePackage(pkg);
      app.adminResult = { ok: true, text: t("arch.holdPlaced") };
      renderMeeting();
    });
  });
  $("hold-release").addEventListener("click", async (e) => {
    await adminCall(e.currentTarget, "hold", { hold: false, reason: $("hold-reason").value.trim() }, (pkg) => {
      updatePackage(pkg);
      app.adminResult = { ok: true, text: t("arch.holdReleased") };
      renderMeeting();
    });
  });
  $("set-retention").addEventListener("click", async (e) => {
    const value = $("retention-class").value;
    await adminCall(e.currentTarget, "retention", { retention_class: value }, (pkg) => {
      updatePackage(pkg);
      app.adminResult = { ok: true, text: t("arch.retentionSet", { name: t(`arch.retention.${value}`) }) };
      renderMeeting();
    });
  });
  $("dispose").addEventListener("click", () => {
    if (reasonOf("dispose-reason") === null) return;
    $("dispose").hidden = true;
    $("dispose-confirm").hidden = false;
  });
  $("dispose-no").addEventListener("click", () => { $("dispose").hidden = false; $("dispose-confirm").hidden = true; });
  $("dispose-yes").addEventListener("click", async (e) => {
    $("dispose").hidden = false;
    $("dispose-confirm").hidden = true;
    const reason = reasonOf("dispose-reason");
    if (reason === null) return;
    await adminCall(e.currentTarget, "dispose", { reason }, async () => {
      app.adminResult = { ok: true, text: t("arch.disposed") };
      app.adminPackageId = null;
      notify(t("arch.disposed"));
      await loadMeeting();
    });
  });
}

// -- one meeting: the page ---------------------------------------------------------------------

function renderMeeting() {
  const data = app.data;
  $("meeting-head").hidden = !data && !app.tombstones.length;
  $("meeting-body").hidden = !data;
  if (!data) {
    $("m-title").textContent = app.tombstones[0]?.title ?? "";
    $("m-when").textContent = "";
    $("m-meta").textContent = t("arch.gone");
    for (const id of ["m-version", "m-integrity"]) $(id).hidden = true;
    $("m-hold").hidden = true;
    $("meeting-body").hidden = false;  // only the disposed packages are left to show
    for (const card of $("meeting-body").querySelectorAll(".card")) card.hidden = !card.contains($("tombstones"));
    renderVersions({ package: { id: null }, versions: [] });
    return;
  }
  for (const card of $("meeting-body").querySelectorAll(".card")) if (card.id !== "admin") card.hidden = false;
  const m = data.meeting;
  const pkg = data.package;
  document.title = `${m.title} — ${t("arch.title")}`;
  $("m-title").textContent = m.title;
  const seconds = (new Date(m.end) - new Date(m.start)) / 1000;
  $("m-when").textContent = `${formatDate(m.start)} · ${formatRange(m.start, m.end)} · ${t("arch.duration", { d: formatDuration(seconds) })}`;
  $("m-meta").textContent = `${m.unit} · ${t("arch.chairBy", { name: m.chair })} · ${t("arch.hallsList", { halls: m.halls.join(", ") })}`;
  $("m-version").hidden = false;
  $("m-version").textContent = t("arch.version", { n: pkg.version });
  $("m-integrity").replaceWith(Object.assign(integrityBadge(pkg.integrity), { id: "m-integrity" }));
  $("m-hold").hidden = !pkg.legal_hold;
  $("m-hold").textContent = t("arch.hold");
  setUpPlayer(data);
  renderChapters(data.chapters);
  renderTurns(data.turns);
  const minutes = data.minutes;
  $("minutes-version").textContent = minutes ? t("arch.minutesVersion", { n: minutes.version }) : "";
  $("minutes-pdf").hidden = !minutes;
  $("minutes-docx").hidden = !minutes;
  if (minutes) {
    $("minutes-pdf").href = minutes.pdf_url;
    $("minutes-docx").href = minutes.docx_url;
  }
  $("minutes").replaceChildren(minutes ? minutesView(minutes.content) : h("p", { class: "muted" }, t("arch.noMinutes")));
  $("attendance").replaceChildren(attendanceTable(data.attendance));
  renderIntegrity(pkg);
  $("retention").textContent = retentionText(pkg);
  $("hold").textContent = holdText(pkg);
  $("hold").classList.toggle("held-text", pkg.legal_hold);
  renderVersions(data);
  renderAdmin();
  if ($("audit-box").open) loadAudit();
}

async function loadAudit() {
  const { status, data } = await api(`/api/archive/audit?meeting_id=${app.meetingId}`);
  if (status !== 200) return;
  $("audit").replaceChildren(...data.map((e) => h("tr", {},
    h("td", {}, formatDateTime(e.at)), h("td", {}, e.actor_name || e.actor),
    h("td", {}, t(`arch.action.${e.action}`, {}, e.action)), h("td", {}, e.detail))));
}

async function loadMeeting() {
  const [reply, gone] = await Promise.all([
    api(`/api/archive/meetings/${app.meetingId}`),
    api("/api/archive/tombstones"),
  ]);
  app.tombstones = gone.status === 200 ? gone.data.filter((x) => x.meeting_id === app.meetingId) : [];
  $("meeting-error").textContent = "";
  if (reply.status !== 200) {
    app.data = null;
    if (!(reply.status === 404 && app.tombstones.length)) $("meeting-error").textContent = errorText(reply.data?.error);
  } else {
    app.data = reply.data;
  }
  renderMeeting();
}

async function showMeeting(id) {
  app.view = "meeting";
  app.meetingId = id;
  $("meeting-view").hidden = false;
  $("back").addEventListener("click", (event) => {
    if (document.referrer.startsWith(`${location.origin}/archive`) && history.length > 1) {
      event.preventDefault();
      history.back();
    }
  });
  $("verify").addEventListener("click", (e) => verify(app.data.package.id, e.currentTarget));
  $("audit-box").addEventListener("toggle", () => { if ($("audit-box").open) loadAudit(); });
  wireAdmin();
  await loadMeeting();
}

// -- boot --------------------------------------------------------------------------------------

function header() {
  fillHeader(app.user, { current: "/archive" });
  $("nav").append(h("a", { href: "/archive", class: "current", "data-i18n": "nav.archive" }, t("nav.archive")));
}

async function boot() {
  app.user = await currentUser({ required: true });
  header();
  apply();
  if (!hasRole(app.user, "archivist")) {
    notify(t("arch.notArchivist"), { error: true });
    return;
  }
  onLangChange(() => {
    header();
    if (app.view === "search") {
      fillSelects();
      if (app.hits) renderHits();
    } else if (app.view === "meeting") {
      renderMeeting();
    }
  });
  const id = Number(new URLSearchParams(location.search).get("meeting"));
  if (id) await showMeeting(id);
  else await showSearch();
  document.body.dataset.ready = "true";
}

boot();
