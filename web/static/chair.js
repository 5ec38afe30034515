// The chair's console: every invited hall with its state, link and microphone, the hand queue,
// and the controls (start and end, floor, mute, voice-activated floor, roll call, agenda, recording).
import {
  $, api, apply, currentUser, documentItems, errorText, fillHeader, formatDate, formatDateTime, formatRange, h, notify,
  onLangChange, stateName, t,
} from "/static/common.js";
import { lang } from "/static/i18n.js";
import { Presenter } from "/static/content.js";
import { call, connect, endWithLogin, follow, knowNodes, negotiate, show } from "/static/live.js";
import { ReadinessBoard } from "/static/readiness.js";

const MAX_THUMBS = 16;
const AUDIO_SLOTS = 4;

const app = {
  meetingId: null,
  meeting: null,       // GET /api/meetings/{id}
  socket: null,
  phase: "loading",    // lobby, live, ended
  canChair: false,
  state: null,
  links: {},
  labels: {},
  media: null,
  seen: new Set(),     // halls that have been connected in this meeting
  listening: false,
  participantId: null,
  presenter: null,     // this console's shared screen (the chair presents from the chair hall)
  queue: Promise.resolve(),
  board: null,         // the halls' readiness, before the start
  boardDenied: false,  // this login may not see it
};
window.giaoban = app;  // diagnostics (and the browser tests) read the live state here

function enqueue(step) {
  app.queue = app.queue.then(step).catch((error) => notify(errorText(error), { error: true }));
  return app.queue;
}

async function act(event, data = {}) {
  try {
    return await call(app.socket, event, data);
  } catch (error) {
    notify(errorText(error), { error: true });
    return null;
  }
}

// -- choosing a meeting -----------------------------------------------------------------------

async function showChooser(user) {
  $("chooser").hidden = false;
  const { status, data } = await api("/api/meetings");
  const list = $("choices");
  list.replaceChildren();
  const meetings = status === 200 ? data.filter((m) => m.state === "live" || m.state === "scheduled") : [];
  if (!meetings.length) list.append(h("li", { class: "muted" }, t("chair.noMeetings")));
  for (const m of meetings) {
    const mine = m.chair_user.id === user.user.id;
    list.append(h("li", { class: mine ? "mine" : "" },
      h("a", { href: `/chair?meeting=${m.id}`, class: "choice" },
        h("strong", {}, m.title),
        h("span", {}, formatDateTime(m.start)),
        h("span", { class: `badge state-${m.state}` }, stateName(m.state)),
        mine ? h("span", { class: "badge" }, t("chair.youChair")) : null)));
  }
}

// -- the live connection -----------------------------------------------------------------------

function setReconnecting(on) {
  $("reconnecting").hidden = !on;
}

function start() {
  const socket = connect();
  app.socket = socket;
  app.board = new ReadinessBoard({
    table: $("ready-table"), banner: $("ready-banner"), summary: $("ready-summary"), socket,
    onDenied: () => { app.boardDenied = true; $("readiness-card").hidden = true; },
  });
  socket.on("connect", () => {
    setReconnecting(false);
    enqueue(join);
  });
  socket.on("disconnect", (reason) => {
    if (app.stopped) return;
    if (app.phase !== "ended") setReconnecting(true);
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000);
  });
  socket.on("connect_error", () => setReconnecting(true));
  endWithLogin(socket, () => {
    app.stopped = true;
    closeMedia();
    socket.disconnect();
    location.assign("/");
  });
  socket.on("meeting_started", ({ meeting_id }) => {
    if (meeting_id === app.meetingId) enqueue(join);
  });
  socket.on("meeting_ended", ({ meeting_id }) => {
    if (meeting_id !== app.meetingId) return;
    enqueue(async () => {
      closeMedia();
      app.phase = "ended";
      await loadMeeting();
      render();
    });
  });
  socket.on("room_state", (state) => {
    if (state.meeting_id !== app.meetingId) return;
    app.state = state;
    for (const hall of state.halls) if (hall.presence === "connected") app.seen.add(hall.hall_id);
    app.presenter.update(state, app.participantId).then(render);
    render();
  });
  socket.on("links", (links) => {
    app.links = links;
    renderHalls();
  });
  socket.on("slots", (labels) => {
    app.labels = labels;
    renderPictures();
  });
  socket.on("going_away", () => setReconnecting(true));
  socket.on("alert", ({ message }) => notify(message, { error: true }));
}

async function loadMeeting() {
  const { status, data } = await api(`/api/meetings/${app.meetingId}`);
  if (status !== 200) throw { code: data?.error?.code || "not_found", message: data?.error?.message };
  app.meeting = data;
  await loadDocs();
}

// The documents that go out with the meeting: downloaded from here by whoever sees it.
async function loadDocs() {
  const items = await documentItems(app.meetingId);
  $("docs").replaceChildren(...items);
  $("docs-card").hidden = items.length === 0;
}

async function join() {
  await loadMeeting();
  if (app.meeting.state === "ended" || app.meeting.state === "cancelled") {
    app.phase = "ended";
    render();
    return;
  }
  let reply;
  try {
    reply = await call(app.socket, "join", { meeting_id: app.meetingId });
  } catch (error) {
    if (error.code !== "moved") throw error;
    closeMedia();
    follow(app.socket, error); // scaled out: to the node hosting the meeting, joined again there
    return;
  }
  knowNodes(app.socket, reply.nodes);
  app.canChair = reply.can_chair;
  if (reply.lobby) {
    app.phase = "lobby";
    render();
    return;
  }
  app.phase = "live";
  app.state = reply.state;
  app.participantId = reply.participant_id;
  await loadSeen();
  render();
  await connectMedia(reply.ice_servers || []);
}

async function loadSeen() {
  const { status, data } = await api(`/api/meetings/${app.meetingId}/attendance`);
  if (status === 200) for (const row of data) if (row.joins > 0) app.seen.add(row.hall_id);
}

async function connectMedia(iceServers) {
  closeMedia();
  const thumbs = Math.min(MAX_THUMBS, app.meeting.halls.length);
  const slots = ["main", "chair", "screen", ...Array(thumbs).fill("thumb"), ...Array(AUDIO_SLOTS).fill("audio")];
  const media = await negotiate(app.socket, {
    iceServers, slots, screen: app.canChair, onLabels: (labels) => { app.labels = labels; },
  });
  if (app.phase !== "live") {
    media.pc.close();
    return;
  }
  app.media = media;
  await app.presenter.attach();
  const thumbsBox = $("thumbs");
  for (const old of thumbsBox.querySelectorAll(".thumb")) old.remove();
  for (const slot of media.slots) {
    if (slot.role === "thumb") {
      const video = h("video", { autoplay: true, playsInline: true, muted: true });
      const figure = h("figure", { class: "picture thumb", dataset: { mid: slot.mid, hallId: "" }, hidden: true },
        video, h("figcaption", {}, h("span", { class: "pic-name" })));
      thumbsBox.append(figure);
      show(video, slot.track);
    } else if (slot.role === "audio") {
      const audio = h("audio", { autoplay: true, muted: !app.listening, dataset: { mid: slot.mid } });
      $("audio-sinks").append(audio);
      show(audio, slot.track);
    }
  }
  media.pc.addEventListener("connectionstatechange", () => {
    if (app.media !== media) return;
    const state = media.pc.connectionState;
    setReconnecting(state !== "connected" && state !== "connecting" && state !== "new");
    if (state === "failed") enqueue(() => (app.media === media ? connectMedia(iceServers) : null));
  });
  renderPictures();
}

function closeMedia() {
  const media = app.media;
  app.media = null;
  if (media) media.pc.close();
  for (const old of $("thumbs").querySelectorAll(".thumb")) old.remove();
  $("audio-sinks").replaceChildren();
  show($("main-video"), null);
  show($("chairpic-video"), null);
  show($("content-video"), null);
}

// -- rendering ---------------------------------------------------------------------------------

function hallName(hallId) {
  return app.meeting?.halls.find((x) => x.id === hallId)?.name
    ?? app.state?.halls.find((x) => x.hall_id === hallId)?.name ?? "";
}

function render() {
  const m = app.meeting;
  if (!m) return;
  $("console").hidden = false;
  $("title").textContent = m.title;
  $("when").textContent = `${formatDate(m.start)} · ${formatRange(m.start, m.end)} · ${t("live.chairBadge")}: ${m.chair_hall.name} · ${m.chair_user.full_name}`;
  const phase = app.phase;
  const live = phase === "live" && app.state;
  const status = $("status");
  status.textContent = phase === "lobby" ? t("chair.waiting") : phase === "live" ? stateName("live") : stateName(m.state);
  status.className = `badge state-${phase === "lobby" ? "scheduled" : phase === "live" ? "live" : m.state}`;
  $("rec").hidden = !(live && app.state.recording);

  const chairing = app.canChair;
  $("start").disabled = !(phase === "lobby" && chairing);
  $("start").hidden = phase === "live";
  for (const id of ["end", "take-floor", "mute-all", "unmute-all", "voice", "rollcall", "next-item", "record"]) {
    $(id).disabled = !(live && chairing);
  }
  $("end-box").hidden = phase !== "live";
  $("minutes-link").hidden = m.state !== "ended";  // drafted when the meeting ends
  $("minutes-link").href = `/minutes?meeting=${m.id}`;
  $("listen").disabled = !live;
  if (live) {
    const s = app.state;
    $("take-floor").disabled = !chairing || s.floor_hall_id === null;
    $("voice").setAttribute("aria-pressed", String(s.voice_activated));
    $("voice").classList.toggle("on", s.voice_activated);
    const rolling = Boolean(s.roll_call?.active);
    $("rollcall").textContent = rolling ? t("chair.rollCallEnd") : t("chair.rollCallStart");
    $("record").textContent = s.recording ? t("chair.recordStop") : t("chair.recordStart");
    $("next-item").disabled = !chairing || s.agenda.index + 1 >= s.agenda.items.length;
  }
  $("listen").setAttribute("aria-pressed", String(app.listening));
  renderReadiness();
  renderHalls();
  renderQueue();
  renderContent();
  renderRollCall();
  renderAgenda();
  renderPictures();
}

/** Before the start: every hall's terminal, its self-test and link, and the offline alert. */
function renderReadiness() {
  const before = app.phase === "lobby" && app.meeting?.state === "scheduled" && !app.boardDenied;
  $("readiness-card").hidden = !before;
  if (!app.board) return;
  if (before && app.board.meetingId !== app.meetingId) app.board.show(app.meetingId);
  else if (!before && app.board.meetingId) app.board.stop();
  else if (before) app.board.render();
}

function presenceText(hall) {
  if (app.phase === "lobby") return ["waiting", t("presence.waiting")];
  if (!hall) return ["absent", t("presence.absent")];
  if (hall.presence === "absent" && !app.seen.has(hall.hall_id)) return ["waiting", t("presence.waiting")];
  return [hall.presence, t(`presence.${hall.presence}`)];
}

const percent = () => new Intl.NumberFormat(lang() === "en" ? "en-GB" : "vi-VN", { style: "percent", maximumFractionDigits: 1 });

function linkCell(hall) {
  const link = app.links[String(hall?.hall_id)] ?? hall?.link;
  if (!link || hall?.presence !== "connected") return h("td", { class: "link" }, "—");
  const quality = link.loss < 0.02 && link.rtt_ms < 150 ? "good" : link.loss < 0.05 && link.rtt_ms < 400 ? "fair" : "poor";
  return h("td", { class: `link ${quality}`, dataset: { loss: link.loss, rtt: link.rtt_ms } },
    h("span", { class: "dot" }), ` ${t("chair.loss")} ${percent().format(link.loss)} · RTT ${Math.round(link.rtt_ms)} ms`);
}

function renderHalls() {
  const body = $("halls");
  if (!app.meeting) return;
  const s = app.phase === "live" ? app.state : null;
  const chairing = app.canChair && s;
  body.replaceChildren();
  for (const ref of app.meeting.halls) {
    const hall = s?.halls.find((x) => x.hall_id === ref.id);
    const [presence, presenceLabel] = presenceText(hall);
    const isChair = ref.id === app.meeting.chair_hall.id;
    const hasFloor = s?.floor_hall_id === ref.id;
    const answer = s?.roll_call?.answers?.[String(ref.id)];
    const actions = h("td", { class: "actions" });
    if (chairing && presence !== "removed") {
      if (hasFloor) {
        actions.append(h("button", { type: "button", class: "take", onclick: () => act("take_floor") }, t("chair.takeFloor")));
      } else if (!isChair) {
        actions.append(h("button", { type: "button", class: "give", onclick: () => act("give_floor", { hall_id: ref.id }) }, t("chair.giveFloor")));
      }
      actions.append(h("button", {
        type: "button", class: `secondary mute ${hall?.muted ? "is-muted" : ""}`,
        onclick: () => act("mute_hall", { hall_id: ref.id, muted: !hall?.muted }),
      }, hall?.muted ? t("live.unmute") : t("live.mute")));
    }
    body.append(h("tr", { dataset: { hallId: ref.id, presence }, class: hasFloor ? "floor" : "" },
      h("th", { scope: "row" }, ref.name, isChair ? h("span", { class: "badge chair" }, t("live.chairBadge")) : null,
        hasFloor ? h("span", { class: "badge speaking" }, t("live.speaking")) : null),
      h("td", { class: `presence presence-${presence}` }, h("span", { class: "dot" }), ` ${presenceLabel}`),
      linkCell(hall),
      h("td", { class: `mic ${hall && !hall.muted ? "on" : "off"}` },
        !hall ? "—" : hall.muted ? (hall.mic_locked ? t("live.micLockedShort") : t("chair.micOff")) : t("chair.micOn")),
      h("td", { class: "hand" }, hall?.hand_raised ? `✋ ${t("chair.handRaised")}` : ""),
      h("td", { class: "answer" }, answer ? (answer.present ? t("chair.answerPresent", { n: answer.delegates }) : t("chair.answerAbsent")) : ""),
      actions));
  }
}

function renderQueue() {
  const list = $("queue");
  list.replaceChildren();
  const hands = app.phase === "live" && app.state ? app.state.hands : [];
  $("queue-empty").hidden = hands.length > 0;
  for (const hallId of hands) {
    list.append(h("li", { dataset: { hallId } }, h("span", { class: "name" }, hallName(hallId)),
      app.canChair ? h("button", { type: "button", onclick: () => act("give_floor", { hall_id: hallId }) }, t("chair.giveFloor")) : null));
  }
}

function renderContent() {
  const s = app.phase === "live" ? app.state : null;
  const content = s?.content ?? null;
  const mine = Boolean(content) && content.participant_id === app.participantId;
  const presenter = app.presenter;
  $("share").hidden = !app.canChair || mine;
  $("share").disabled = !s || presenter.waiting;
  $("stop-share").hidden = !mine;
  $("take-content").hidden = !(app.canChair && content && !mine);
  $("content-now").textContent = content
    ? t("live.presenting", { name: content.presenter, hall: content.hall_name }) : t("chair.contentNone");
  const list = $("content-requests");
  list.replaceChildren();
  for (const r of s?.content_requests ?? []) {
    list.append(h("li", { dataset: { participantId: r.participant_id } },
      h("span", { class: "name" }, r.hall_name ? `${r.presenter} — ${r.hall_name}` : r.presenter),
      app.canChair ? h("button", { type: "button", onclick: () => act("give_content", { participant_id: r.participant_id }) }, t("chair.giveContent")) : null));
  }
}

function renderRollCall() {
  const roll = app.phase === "live" ? app.state?.roll_call : null;
  $("rollcall-card").hidden = !roll;
  if (!roll) return;
  const tally = roll.tally;
  $("tally").replaceChildren(
    h("div", { class: "tally-title" }, roll.active ? t("chair.rollCallRunning") : t("chair.rollCallResult")),
    h("div", { class: "tally-line", dataset: { answered: tally.answered, present: tally.present, delegates: tally.delegates, halls: tally.halls } },
      t("chair.tally", tally)));
}

function renderAgenda() {
  const list = $("agenda");
  list.replaceChildren();
  const index = app.phase === "live" && app.state ? app.state.agenda.index : -1;
  for (const [i, item] of (app.meeting?.agenda ?? []).entries()) {
    list.append(h("li", { class: i === index ? "current" : i < index ? "done" : "" },
      item.title, item.presenter ? h("span", { class: "muted" }, ` — ${item.presenter}`) : null,
      i === index ? h("span", { class: "badge" }, t("chair.now")) : null));
  }
}

function renderPictures() {
  const media = app.media;
  const slot = (role) => media?.slots.find((x) => x.role === role);
  for (const [id, role] of [["main", "main"], ["chairpic", "chair"]]) {
    const line = slot(role);
    const label = line ? app.labels[line.mid] : null;
    $(id).dataset.hallId = label?.hall_id ?? "";
    $(`${id}-name`).textContent = label?.name ?? "—";
    show($(`${id}-video`), label?.hall_id ? line.track : null);
  }
  const screen = slot("screen");
  const screenLabel = screen ? app.labels[screen.mid] : null;
  const presenting = Boolean(app.state?.content && screenLabel?.hall_id);
  $("content").hidden = !presenting;
  $("content").dataset.hallId = screenLabel?.hall_id ?? "";
  $("content-name").textContent = presenting
    ? t("live.presenting", { name: app.state.content.presenter, hall: app.state.content.hall_name }) : "";
  show($("content-video"), presenting ? screen.track : null);
  for (const figure of $("thumbs").querySelectorAll(".thumb")) {
    const label = app.labels[figure.dataset.mid];
    figure.hidden = !label?.hall_id;
    figure.dataset.hallId = label?.hall_id ?? "";
    figure.querySelector(".pic-name").textContent = label?.name ?? "";
  }
}

// -- controls ------------------------------------------------------------------------------

$("start").addEventListener("click", async () => {
  $("start").disabled = true;
  const reply = await act("start_meeting", { meeting_id: app.meetingId });
  if (!reply) render();
});
$("end").addEventListener("click", () => { $("end").hidden = true; $("end-confirm").hidden = false; });
$("end-no").addEventListener("click", () => { $("end").hidden = false; $("end-confirm").hidden = true; });
$("end-yes").addEventListener("click", async () => {
  $("end").hidden = false;
  $("end-confirm").hidden = true;
  await act("end_meeting", { meeting_id: app.meetingId });
});
$("take-floor").addEventListener("click", () => act("take_floor"));
$("mute-all").addEventListener("click", () => act("mute_all", { muted: true }));
$("unmute-all").addEventListener("click", () => act("mute_all", { muted: false }));
$("voice").addEventListener("click", () => act("set_voice_activated", { enabled: !app.state?.voice_activated }));
$("rollcall").addEventListener("click", async () => {
  if (app.state?.roll_call?.active) {
    const reply = await act("end_roll_call");
    if (reply) notify(t("chair.tally", reply.tally));
  } else {
    await act("start_roll_call");
  }
});
$("next-item").addEventListener("click", () => act("next_agenda_item"));
$("share").addEventListener("click", () => {
  app.presenter.start().catch((error) => notify(errorText(error), { error: true })).finally(render);
});
$("stop-share").addEventListener("click", () => app.presenter.stop().finally(render));
$("take-content").addEventListener("click", () => act("take_content"));
$("record").addEventListener("click", () => act(app.state?.recording ? "stop_recording" : "start_recording"));
$("listen").addEventListener("click", () => {
  app.listening = !app.listening;
  for (const audio of $("audio-sinks").children) audio.muted = !app.listening;
  render();
});

// -- boot ----------------------------------------------------------------------------------

app.presenter = new Presenter({ socket: () => app.socket, media: () => app.media, changed: () => render() });

async function boot() {
  const user = await currentUser({ required: true });
  fillHeader(user, { current: "/chair" });
  apply();
  onLangChange(() => { fillHeader(user, { current: "/chair" }); render(); });
  const id = Number(new URLSearchParams(location.search).get("meeting"));
  if (!id) {
    await showChooser(user);
    onLangChange(() => showChooser(user));
    return;
  }
  app.meetingId = id;
  try {
    await loadMeeting();
  } catch (error) {
    notify(errorText(error), { error: true });
    return;
  }
  render();
  start();
}

boot();
