// A presenter's laptop in a hall: a person logged in joins a meeting for that hall, asks the
// chair to present, and shares a screen or a window when the chair lets it. It receives the
// main picture only (no sound: the hall's terminal plays the meeting, a second speaker echoes).
import {
  $, api, apply, currentUser, documentItems, errorText, fillHeader, formatDateTime, h, notify, onLangChange, t,
} from "/static/common.js";
import { Presenter } from "/static/content.js";
import { call, connect, endWithLogin, follow, knowNodes, negotiate, show } from "/static/live.js";

const app = {
  meetings: [],
  meetingId: null,
  hallId: null,
  socket: null,
  phase: "choosing",   // choosing, lobby, live, ended
  participantId: null,
  state: null,
  labels: {},
  media: null,
  presenter: null,
  queue: Promise.resolve(),
};
window.giaoban = app;  // diagnostics (and the browser tests) read the live state here

function enqueue(step) {
  app.queue = app.queue.then(step).catch((error) => notify(errorText(error), { error: true }));
  return app.queue;
}

// -- choosing the meeting and the hall -------------------------------------------------------

async function loadChoices() {
  const { status, data } = await api("/api/meetings");
  app.meetings = status === 200 ? data.filter((m) => m.state === "live" || m.state === "scheduled") : [];
  const query = new URLSearchParams(location.search);
  const wanted = Number(query.get("meeting")) || null;
  $("meeting").replaceChildren(...app.meetings.map((m) => h("option", { value: m.id, selected: m.id === wanted },
    `${m.title} — ${formatDateTime(m.start)}`)));
  $("no-meetings").hidden = app.meetings.length > 0;
  $("enter").disabled = app.meetings.length === 0;
  fillHalls(Number(query.get("hall")) || null);
}

function fillHalls(wanted = null) {
  const meeting = app.meetings.find((m) => m.id === Number($("meeting").value));
  showDocs(meeting?.id ?? null);
  const halls = meeting ? [meeting.chair_hall, ...meeting.halls.filter((x) => x.id !== meeting.chair_hall.id)] : [];
  $("hall").replaceChildren(...halls.map((x) => h("option", { value: x.id, selected: x.id === wanted }, x.name)));
}

// The documents that go out with the meeting chosen: the hall downloads them here.
let docsAsked = 0;
async function showDocs(meetingId) {
  const asked = ++docsAsked;
  const items = meetingId ? await documentItems(meetingId) : [];
  if (asked !== docsAsked) return; // another meeting was chosen meanwhile
  $("docs").replaceChildren(...items);
  $("docs-card").hidden = items.length === 0;
  $("docs-card").dataset.meetingId = meetingId ?? "";
}

// -- the live connection -----------------------------------------------------------------------

function start() {
  const socket = connect();
  app.socket = socket;
  socket.on("connect", () => {
    $("reconnecting").hidden = true;
    enqueue(join);
  });
  socket.on("disconnect", (reason) => {
    if (app.phase !== "ended") $("reconnecting").hidden = false;
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000);
  });
  socket.on("connect_error", () => { $("reconnecting").hidden = false; });
  endWithLogin(socket, () => {
    app.phase = "ended";
    app.presenter.release();
    closeMedia();
    socket.disconnect();
    location.assign(`/?next=${encodeURIComponent(location.pathname + location.search)}`);
  });
  socket.on("meeting_started", ({ meeting_id }) => {
    if (meeting_id === app.meetingId) enqueue(join);
  });
  socket.on("meeting_ended", ({ meeting_id }) => {
    if (meeting_id !== app.meetingId) return;
    enqueue(async () => {
      app.presenter.release();
      closeMedia();
      app.phase = "ended";
      render();
    });
  });
  socket.on("room_state", (state) => {
    if (state.meeting_id !== app.meetingId) return;
    app.state = state;
    app.presenter.update(state, app.participantId).then(render);
    render();
  });
  socket.on("slots", (labels) => {
    app.labels = labels;
    render();
  });
  socket.on("removed", ({ code, reason }) => {
    if (code !== "deactivated" && code !== "logged_out") notify(reason, { error: true });
  });
  socket.on("going_away", () => { $("reconnecting").hidden = false; });
}

async function join() {
  let reply;
  try {
    reply = await call(app.socket, "join", { meeting_id: app.meetingId, hall_id: app.hallId });
  } catch (error) {
    if (error.code === "moved") {
      closeMedia();
      follow(app.socket, error);
      return;
    }
    app.phase = error.code === "invalid_state" ? "ended" : "choosing";
    render();
    throw error;
  }
  knowNodes(app.socket, reply.nodes);
  if (reply.lobby) {
    app.phase = "lobby";
    render();
    return;
  }
  app.phase = "live";
  app.state = reply.state;
  app.participantId = reply.participant_id;
  render();
  closeMedia();
  const media = await negotiate(app.socket, {
    iceServers: reply.ice_servers || [], screen: true, slots: ["main"],
    onLabels: (labels) => { app.labels = labels; },
  });
  if (app.phase !== "live") {
    media.pc.close();
    return;
  }
  app.media = media;
  await app.presenter.attach();
  render();
}

function closeMedia() {
  const media = app.media;
  app.media = null;
  if (media) media.pc.close();
  show($("main-video"), null);
}

// -- rendering ---------------------------------------------------------------------------------

function render() {
  const phase = app.phase;
  $("chooser").hidden = phase !== "choosing";
  $("room").hidden = phase === "choosing";
  if (phase === "choosing") return;
  const meeting = app.meetings.find((m) => m.id === app.meetingId);
  const hall = [meeting?.chair_hall, ...(meeting?.halls ?? [])].find((x) => x?.id === app.hallId);
  $("room-title").textContent = `${meeting?.title ?? ""} — ${hall?.name ?? ""}`;
  const s = phase === "live" ? app.state : null;
  const content = s?.content ?? null;
  const presenter = app.presenter;
  const mine = Boolean(content) && content.participant_id === app.participantId;
  let status;
  if (phase === "lobby") status = t("present.lobby");
  else if (phase === "ended") status = t("terminal.ended");
  else if (mine) status = t("present.presenting");
  else if (presenter.waiting) status = t("present.waiting");
  else if (content) status = t("live.presenting", { name: content.presenter, hall: content.hall_name });
  else status = t("chair.contentNone");
  $("room-status").textContent = status;
  $("room").dataset.presenting = String(mine);
  $("share").hidden = mine || presenter.waiting || phase !== "live";
  $("stop").hidden = !(mine || presenter.waiting);
  $("preview").hidden = !presenter.track;
  show($("preview-video"), presenter.track);
  const main = app.media?.slots.find((x) => x.role === "main");
  const label = main ? app.labels[main.mid] : null;
  $("main").dataset.hallId = label?.hall_id ?? "";
  $("main-name").textContent = label?.name ?? "—";
  show($("main-video"), label?.hall_id ? main.track : null);
}

// -- controls ------------------------------------------------------------------------------

$("meeting").addEventListener("change", () => fillHalls());
$("choose").addEventListener("submit", (event) => {
  event.preventDefault();
  app.meetingId = Number($("meeting").value);
  app.hallId = Number($("hall").value);
  history.replaceState(null, "", `/present?meeting=${app.meetingId}&hall=${app.hallId}`);
  app.phase = "lobby";
  render();
  if (app.socket) enqueue(join);
  else start();
});
$("share").addEventListener("click", () => {
  app.presenter.start().catch((error) => notify(errorText(error), { error: true })).finally(render);
});
$("stop").addEventListener("click", () => app.presenter.stop().finally(render));
$("leave").addEventListener("click", () => enqueue(async () => {
  await app.presenter.stop();
  closeMedia();
  if (app.socket?.connected) await call(app.socket, "leave").catch(() => {});
  app.phase = "choosing";
  render();
}));

// -- boot ----------------------------------------------------------------------------------

app.presenter = new Presenter({ socket: () => app.socket, media: () => app.media, changed: () => render() });

async function boot() {
  const user = await currentUser({ required: true });
  fillHeader(user, { current: "/present" });
  apply();
  onLangChange(() => { fillHeader(user, { current: "/present" }); render(); });
  await loadChoices();
  render();
}

boot();
