// The hall terminal (kiosk): paired once by the link's #token=…, it waits for its next meeting,
// joins by itself when the chair starts it, leaves when it ends, and reconnects by itself.
import {
  $, api, apply, errorText, fillHeader, formatDate, formatRange, formatTime, notify, onLangChange, t,
} from "/static/common.js";
import { call, connect, follow, knowNodes, linkQuality, negotiate, show } from "/static/live.js";

const KEY = "giaoban.terminal.token";
const SLOTS = ["main", "chair", "screen", "audio", "audio", "audio", "audio"];
const LINK_EVERY = 3000;
const STATUS_EVERY = 120000;  // the self-test goes to the server this often (and on changes)
const PROBES = 5;
const DEVICE_WAIT = 5000;  // a camera prompt nobody answers does not hold anything up longer

const app = {
  token: null,
  socket: null,
  home: null,          // GET /api/terminal: hall and meetings
  clockOffset: 0,      // server time minus this machine's time (ms)
  target: null,        // the meeting this terminal waits for or takes part in
  lobby: null,         // meeting id whose lobby we are in
  live: null,          // the join answer while in a live meeting
  state: null,         // the last room_state
  labels: {},          // slot labels by mid
  media: null,         // {pc, slots, extraTracks}
  devices: { stream: null, camera: null, mic: null, problems: [] },
  devicesReady: null,
  linkTimer: null,
  linkCounters: undefined,
  queue: Promise.resolve(),
  stopped: false,      // replaced by another window, or unpaired
  disconnectedAt: null,
  iceTimer: null,
  version: null,       // the server's version when this page loaded
  micLevel: null,      // the microphone's level now, 0..100
  lastLink: null,      // the last link report in a meeting
  testCall: null,      // {id, media} during a test call with the office
};
window.giaoban = app;  // diagnostics (and the browser tests) read the live state here

// -- one step at a time: joins, offers and teardowns never interleave ---------------------

function enqueue(step) {
  app.queue = app.queue.then(step).catch((error) => {
    console.warn("terminal step failed", error);
    notify(errorText(error), { error: true });
  });
  return app.queue;
}

// -- pairing and the hall's schedule ------------------------------------------------------

function pairFromLink() {
  const match = location.hash.match(/token=([\w-]+)/);
  if (match) {
    localStorage.setItem(KEY, match[1]);
    history.replaceState(null, "", location.pathname);  // the token leaves the address bar
  }
  return localStorage.getItem(KEY);
}

function now() {
  return new Date(Date.now() + app.clockOffset);
}

async function refreshHome() {
  let reply;
  try {
    reply = await api("/api/terminal", { token: app.token });
  } catch {
    return false;
  }
  if (reply.status === 401) {
    app.home = null;
    $("error").textContent = t("terminal.unpaired");
    return false;
  }
  if (reply.status !== 200) return false;
  $("error").textContent = "";
  // The server was upgraded (its pages changed): reload them, but never in a meeting or a
  // test call; the next look after it ends does.
  app.assets ??= reply.data.assets;
  if (reply.data.assets !== app.assets && !app.live && !app.testCall) {
    location.reload();
    await new Promise(() => {});
  }
  app.home = reply.data;
  app.clockOffset = new Date(reply.data.now).getTime() - Date.now();
  $("hall").textContent = reply.data.hall.name;
  document.title = `${reply.data.hall.name} — ${t("app.title")}`;
  return true;
}

function nextMeeting() {
  const meetings = app.home?.meetings ?? [];
  const current = now();
  return meetings.find((m) => m.state === "live")
    ?? meetings.find((m) => m.state === "scheduled" && new Date(m.end) > current) ?? null;
}

// -- the clock, the countdown and the waiting screen ---------------------------------------

function tick() {
  const current = now();
  $("clock").textContent = formatTime(current);
  $("clock-small").textContent = formatTime(current, false);
  $("date").textContent = formatDate(current);
  const next = nextMeeting();
  if (!next) {
    $("next").textContent = app.home ? t("terminal.noMeeting") : "";
    $("next-time").textContent = "";
    $("countdown").textContent = "";
    return;
  }
  $("next").textContent = next.title;
  $("next-time").textContent = `${formatDate(next.start)} · ${formatRange(next.start, next.end)} · ${t("live.chairBadge")}: ${next.chair_hall.name}`;
  const seconds = Math.floor((new Date(next.start) - current) / 1000);
  if (next.state === "live") {
    $("countdown").textContent = t("terminal.joining");
  } else if (seconds <= 0) {
    $("countdown").textContent = t("terminal.waitChair");
  } else {
    const d = Math.floor(seconds / 86400);
    const hh = Math.floor((seconds % 86400) / 3600);
    const mm = Math.floor((seconds % 3600) / 60);
    const ss = seconds % 60;
    $("countdown").textContent = t(d > 0 ? "terminal.countdownDays" : "terminal.countdown", {
      d, h: hh, m: String(mm).padStart(2, "0"), s: String(ss).padStart(2, "0"),
    });
  }
}

// -- devices: camera and microphone check --------------------------------------------------

/** What opening a device gave, in the words of the self-test (terminal_status). */
function deviceResult(error) {
  const name = error?.name || "";
  if (name === "NotAllowedError" || name === "SecurityError") return "refused";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "missing";
  if (name === "NotReadableError") return "busy";
  return "failed";
}

function deviceProblem(error, kind) {
  const name = error?.name || "";
  if (name === "NotAllowedError" || name === "SecurityError") return t("terminal.deviceRefused", { kind: t(kind) });
  if (name === "NotFoundError" || name === "OverconstrainedError") return t("terminal.deviceMissing", { kind: t(kind) });
  if (name === "NotReadableError") return t("terminal.deviceBusy", { kind: t(kind) });
  return t("terminal.deviceFailed", { kind: t(kind), error: name || String(error) });
}

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 25, max: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

async function openDevices() {
  const devices = { stream: new MediaStream(), camera: null, mic: null, problems: [], results: { camera: "failed", mic: "failed" } };
  if (!navigator.mediaDevices?.getUserMedia) {
    devices.problems.push(t("terminal.insecure"));
  } else {
    try {
      const both = await navigator.mediaDevices.getUserMedia({ video: VIDEO, audio: AUDIO });
      devices.camera = both.getVideoTracks()[0] ?? null;
      devices.mic = both.getAudioTracks()[0] ?? null;
    } catch {
      // One of the two may still work: ask for each on its own to say which one is missing.
      try {
        devices.camera = (await navigator.mediaDevices.getUserMedia({ video: VIDEO })).getVideoTracks()[0];
      } catch (error) {
        devices.problems.push(deviceProblem(error, "device.camera"));
        devices.results.camera = deviceResult(error);
      }
      try {
        devices.mic = (await navigator.mediaDevices.getUserMedia({ audio: AUDIO })).getAudioTracks()[0];
      } catch (error) {
        devices.problems.push(deviceProblem(error, "device.mic"));
        devices.results.mic = deviceResult(error);
      }
    }
  }
  if (devices.camera) devices.results.camera = "ok";
  if (devices.mic) devices.results.mic = "ok";
  for (const track of [devices.camera, devices.mic]) if (track) devices.stream.addTrack(track);
  for (const track of [devices.camera, devices.mic]) track?.addEventListener("ended", () => reportStatus());
  app.devices = devices;
  showDevices();
  startMeter();
  reportStatus();
  return devices;
}

function showDevices() {
  const { camera, mic, problems } = app.devices;
  show($("preview"), camera);
  $("preview-empty").hidden = Boolean(camera);
  const list = $("devices");
  list.replaceChildren();
  const item = (kind, text) => {
    const li = document.createElement("li");
    li.className = kind;
    li.textContent = text;
    list.append(li);
  };
  if (camera) item("ok", t("terminal.deviceOk", { kind: t("device.camera"), name: camera.label }));
  if (mic) item("ok", t("terminal.deviceOk", { kind: t("device.mic"), name: mic.label }));
  for (const problem of problems) item("problem", problem);
  if (problems.length) item("info", t("terminal.receiveOnly"));
}

function startMeter() {
  const mic = app.devices.mic;
  if (!mic) return;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(new MediaStream([mic])).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const resume = () => context.resume().catch(() => {});
  document.addEventListener("click", resume, { once: true });
  resume();
  setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const level = Math.min(100, Math.round(Math.sqrt(sum / samples.length) * 300));
    app.micLevel = level;
    $("meter-bar").style.width = `${level}%`;
    $("meter").setAttribute("aria-valuenow", String(level));
  }, 100);
}

// -- the self-test: devices, link and version, reported to the readiness board -----------------

/** A device's result now: its track may have ended since it was opened (unplugged). */
function deviceNow(track, opened) {
  if (!track) return opened;
  return track.readyState === "live" ? "ok" : "missing";
}

/** The link before a meeting: a few acknowledged probes over the socket, timed. */
async function probeLink() {
  const times = [];
  let lost = 0;
  for (let i = 0; i < PROBES; i += 1) {
    const started = performance.now();
    try {
      await app.socket.timeout(2000).emitWithAck("probe", {});
      times.push(performance.now() - started);
    } catch {
      lost += 1;
    }
  }
  times.sort((a, b) => a - b);
  const rtt = times.length ? times[Math.floor(times.length / 2)] : 2000;
  return { loss: lost / PROBES, rtt_ms: Math.min(60000, Math.round(rtt * 10) / 10) };
}

let reporting = false;

async function reportStatus() {
  if (reporting || app.stopped || !app.socket?.connected) return;
  reporting = true;
  try {
    const devices = await Promise.race([app.devicesReady, new Promise((r) => setTimeout(r, DEVICE_WAIT, null))]);
    const results = devices?.results ?? { camera: "failed", mic: "failed" };
    const link = app.media && app.lastLink ? app.lastLink : await probeLink();
    if (!app.socket.connected) return;
    await call(app.socket, "terminal_status", {
      camera: deviceNow(devices?.camera, results.camera),
      microphone: deviceNow(devices?.mic, results.mic),
      camera_label: devices?.camera?.label?.slice(0, 200) || null,
      mic_label: devices?.mic?.label?.slice(0, 200) || null,
      mic_level: app.micLevel,
      version: (app.version || "unknown").slice(0, 64),
      user_agent: navigator.userAgent.slice(0, 200),
      link,
    });
  } catch (error) {
    console.warn("terminal_status", error?.code || error);
  } finally {
    reporting = false;
  }
}

async function loadVersion() {
  try {
    const reply = await fetch("/api/health", { cache: "no-store" });
    app.version = (await reply.json()).version ?? null;
  } catch {
    app.version = null;
  }
}

// -- a test call with the office (before a meeting) -------------------------------------------

async function startTestCall(callId) {
  if (app.live || app.stopped) {
    call(app.socket, "end_test_call").catch(() => {});
    return;
  }
  stopTestCall(null);
  const current = { id: callId, media: null };
  app.testCall = current;
  $("testcall").hidden = false;
  document.body.classList.add("in-test-call");
  const devices = await Promise.race([app.devicesReady, new Promise((r) => setTimeout(r, DEVICE_WAIT, null))]);
  show($("tc-own-video"), devices?.camera ?? null);
  $("tc-own").hidden = !devices?.camera;
  const media = await negotiate(app.socket, {
    camera: devices?.camera ?? null, mic: devices?.mic ?? null, slots: ["main", "audio"],
    event: "test_call_offer", extra: { call_id: callId },
  });
  if (app.testCall !== current) {
    media.pc.close();
    return;
  }
  current.media = media;
  for (const slot of media.slots) {
    if (slot.role === "main") {
      show($("tc-office-video"), slot.track);
      // The office may send no picture: the slot's track then never unmutes.
      const shown = () => { $("tc-office-empty").hidden = !slot.track || slot.track.muted; };
      slot.track.addEventListener("unmute", shown);
      slot.track.addEventListener("mute", shown);
      shown();
    } else {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      $("tc-sinks").append(audio);
      show(audio, slot.track);
    }
  }
}

function stopTestCall(callId) {
  const current = app.testCall;
  if (!current || (callId && current.id !== callId)) return;
  app.testCall = null;
  current.media?.pc.close();
  for (const track of current.media?.extraTracks ?? []) track.stop();
  show($("tc-office-video"), null);
  show($("tc-own-video"), null);
  $("tc-sinks").replaceChildren();
  $("testcall").hidden = true;
  document.body.classList.remove("in-test-call");
}

$("tc-end").addEventListener("click", () => {
  const current = app.testCall;
  stopTestCall(null);
  if (current) call(app.socket, "end_test_call").catch(() => {});
});

// -- signalling ----------------------------------------------------------------------------

function setReconnecting(on) {
  $("reconnecting").hidden = !on;
  document.body.classList.toggle("is-reconnecting", on);
}

function start() {
  const socket = connect({ token: app.token });
  app.socket = socket;
  socket.on("connect", () => {
    app.disconnectedAt = null;
    if (!app.media || app.media.pc.connectionState === "connected") setReconnecting(false);
    enqueue(async () => {
      await refreshHome();
      await enter({ force: true });
    });
    reportStatus();
  });
  socket.on("disconnect", (reason) => {
    app.disconnectedAt = Date.now();
    app.lobby = null;
    stopTestCall(null);  // the server ends it with the socket
    setReconnecting(true);
    // The server closed us on purpose (restart): socket.io does not retry that by itself.
    if (reason === "io server disconnect" && !app.stopped) setTimeout(() => socket.connect(), 1000);
  });
  socket.on("connect_error", async (error) => {
    setReconnecting(true);
    if (!socket.active && !app.stopped) {
      // Refused by the server (the token is revoked?) rather than unreachable: ask the API.
      await refreshHome();
      setTimeout(() => socket.connect(), app.home ? 2000 : 30000);
    }
    console.warn("socket connect_error", error?.message);
  });
  socket.on("meeting_started", ({ meeting_id }) => {
    if (meeting_id === app.lobby) enqueue(() => join(meeting_id));
  });
  socket.on("meeting_ended", ({ meeting_id }) => {
    if (meeting_id !== app.target?.id) return;
    enqueue(async () => {
      teardown();
      app.target = null;
      app.lobby = null;
      notify(t("terminal.ended"));
      await refreshHome();
      await enter({ force: true });
    });
  });
  socket.on("removed", ({ code }) => {
    enqueue(async () => {
      teardown();
      if (code === "replaced" || code === "revoked") {
        app.stopped = true;
        socket.disconnect();
        setReconnecting(false);
        $("message").textContent = t("terminal.replaced");
      } else {
        $("message").textContent = t("terminal.removed");
      }
    });
  });
  socket.on("going_away", () => setReconnecting(true));
  socket.on("room_state", (state) => {
    if (state.meeting_id !== app.live?.meeting_id) return;
    app.state = state;
    render();
  });
  socket.on("slots", (labels) => {
    app.labels = labels;
    render();
  });
  socket.on("test_call", ({ call_id }) => enqueue(() => startTestCall(call_id)));
  socket.on("test_call_ended", ({ call_id }) => stopTestCall(call_id));
}

/** Wait in the lobby of the next meeting, or join it if it is live. */
async function enter({ force = false } = {}) {
  if (app.stopped || !app.socket?.connected) return;
  const next = nextMeeting();
  if (!next) {
    if (app.live) teardown();
    app.target = null;
    app.lobby = null;
    return;
  }
  if (!force && (app.lobby === next.id || app.live?.meeting_id === next.id)) return;
  await join(next.id);
}

async function join(meetingId) {
  if (app.stopped) return;
  app.target = nextMeeting()?.id === meetingId ? nextMeeting() : { id: meetingId };
  let reply;
  try {
    reply = await call(app.socket, "join", { meeting_id: meetingId });
  } catch (error) {
    if (error.code === "moved") {
      // Scaled out: the meeting is hosted by another node; the socket goes there and joins
      // again when it is connected.
      if (app.live) teardown();
      follow(app.socket, error);
      return;
    }
    if (error.code === "busy") {
      // The server carries all it can: try again later (spread out, so that the halls it
      // refused do not all come back at the same moment).
      $("message").textContent = t("terminal.busy");
      const wait = (error.retryAfter || 10) * 1000 * (0.5 + Math.random());
      setTimeout(() => enqueue(() => enter({ force: true })), wait);
      return;
    }
    if (error.code === "invalid_state" || error.code === "not_found" || error.code === "forbidden") {
      // Ended, cancelled or no longer ours while we were away: wait for the next one.
      app.lobby = null;
      if (app.live) teardown();
      await refreshHome();
      const next = nextMeeting();
      if (next && next.id !== meetingId) await join(next.id);
      return;
    }
    throw error;
  }
  $("message").textContent = "";
  if (reply.lobby) {
    if (app.live) teardown();
    app.lobby = meetingId;
    return;
  }
  app.lobby = null;
  knowNodes(app.socket, reply.nodes);
  app.live = reply;
  app.state = reply.state;
  app.labels = {};
  document.body.dataset.mode = "meeting";
  render();
  await connectMedia();
}

async function connectMedia() {
  const live = app.live;
  if (!live) return;
  // A camera prompt nobody answers must not keep the hall out: join to receive, and offer
  // again with the devices once they are there.
  let devices = await Promise.race([app.devicesReady, new Promise((r) => setTimeout(r, DEVICE_WAIT, null))]);
  if (!devices) {
    devices = { camera: null, mic: null };
    app.devicesReady.then(() => enqueue(() => (app.live === live && app.media ? connectMedia() : null)));
  }
  closeMedia();
  const media = await negotiate(app.socket, {
    iceServers: live.ice_servers || [],
    camera: devices.camera,
    mic: devices.mic,
    thumb: true,
    slots: SLOTS,
    onLabels: (labels) => { app.labels = labels; },
  });
  if (app.live !== live) {  // the meeting ended while connecting
    media.pc.close();
    return;
  }
  app.media = media;
  app.linkCounters = undefined;
  media.pc.addEventListener("connectionstatechange", () => watchIce(media));
  watchIce(media);
  for (const slot of media.slots) {
    if (slot.kind === "audio") {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.mid = slot.mid;
      $("audio-sinks").append(audio);
      show(audio, slot.track);
    }
  }
  clearInterval(app.linkTimer);
  app.linkTimer = setInterval(reportLink, LINK_EVERY);
  render();
}

function watchIce(media) {
  if (app.media !== media) return;
  const state = media.pc.connectionState;
  clearTimeout(app.iceTimer);
  if (state === "connected") {
    if (app.socket.connected) setReconnecting(false);
  } else if (state === "failed") {
    setReconnecting(true);
    enqueue(() => (app.media === media ? connectMedia() : null));
  } else if (state === "disconnected") {
    setReconnecting(true);
    app.iceTimer = setTimeout(() => enqueue(() => (app.media === media ? connectMedia() : null)), 5000);
  }
}

async function reportLink() {
  const media = app.media;
  if (!media || !app.socket.connected) return;
  try {
    const { report, counters } = await linkQuality(media.pc, app.linkCounters);
    app.linkCounters = counters;
    app.lastLink = report;
    await call(app.socket, "link_stats", report);
  } catch {
    // a report lost now is replaced by the next one
  }
}

function closeMedia() {
  clearInterval(app.linkTimer);
  clearTimeout(app.iceTimer);
  const media = app.media;
  app.media = null;
  if (media) {
    media.pc.close();
    for (const track of media.extraTracks) track.stop();
  }
  $("audio-sinks").replaceChildren();
}

function teardown() {
  closeMedia();
  if (app.devices.mic) app.devices.mic.enabled = true;
  app.live = null;
  app.state = null;
  app.labels = {};
  document.body.dataset.mode = "waiting";
  show($("large-video"), null);
  show($("small-video"), null);
  show($("content-video"), null);
  $("rollcall").hidden = true;
  render();
}

// -- the meeting screen ---------------------------------------------------------------------

function slotTrack(role) {
  return app.media?.slots.find((s) => s.role === role) ?? null;
}

function hallName(hallId) {
  return app.state?.halls.find((x) => x.hall_id === hallId)?.name ?? "";
}

function picture(prefix, { hallId, name, track, self, empty }) {
  const figure = $(prefix);
  figure.dataset.hallId = hallId ?? "";
  figure.classList.toggle("is-self", Boolean(self));
  $(`${prefix}-name`).textContent = name ?? "";
  show($(`${prefix}-video`), track ?? null);
  $(`${prefix}-empty`).hidden = Boolean(track);
  $(`${prefix}-empty`).textContent = track ? "" : empty ?? "";
}

function render() {
  const state = app.state;
  const live = app.live;
  if (!state || !live) return;
  const own = live.hall_id;
  const chair = state.chair_hall_id;
  const speaking = state.floor_hall_id ?? chair;
  const camera = app.devices.camera;

  // The speaking hall large (this hall's own camera when it speaks), the chair hall smaller;
  // the server shows the chair hall instead of a speaker whose picture has frozen.
  let shown = speaking;
  if (speaking === own) {
    picture("large", { hallId: own, name: hallName(own), track: camera, self: true, empty: t("terminal.noCamera") });
  } else {
    const main = slotTrack("main");
    const label = main ? app.labels[main.mid] : null;
    shown = label?.hall_id ?? speaking;
    picture("large", {
      hallId: label?.hall_id, name: label?.name ?? hallName(speaking),
      track: label?.hall_id ? main.track : null, empty: t("terminal.notConnected", { hall: hallName(speaking) }),
    });
  }
  const holderShown = state.floor_hall_id !== null && shown === state.floor_hall_id;
  $("large-badge").textContent = holderShown ? t("live.speaking") : t("live.chairBadge");
  const small = $("small");
  if (chair === speaking || shown === chair) {
    small.hidden = true;
    show($("small-video"), null);
  } else if (chair === own) {
    small.hidden = false;
    picture("small", { hallId: own, name: hallName(own), track: camera, self: true, empty: t("terminal.noCamera") });
  } else {
    small.hidden = false;
    const slot = slotTrack("chair");
    const label = slot ? app.labels[slot.mid] : null;
    picture("small", {
      hallId: label?.hall_id, name: label?.name ?? hallName(chair),
      track: label?.hall_id ? slot.track : null, empty: t("terminal.notConnected", { hall: hallName(chair) }),
    });
  }
  // Content presented: large, with the speaker (and the chair hall) in a column beside it.
  const screen = slotTrack("screen");
  const screenLabel = screen ? app.labels[screen.mid] : null;
  const content = state.content;
  const presenting = Boolean(content && screenLabel?.hall_id);
  $("stage").classList.toggle("has-content", presenting);
  $("content").hidden = !presenting;
  picture("content", {
    hallId: screenLabel?.hall_id, track: presenting ? screen.track : null,
    name: presenting ? t("live.presenting", { name: content.presenter, hall: content.hall_name }) : "",
  });

  const selfShown = speaking === own || chair === own || presenting;
  $("self").hidden = selfShown || !camera;
  show($("self-video"), selfShown ? null : camera);

  $("meeting-title").textContent = state.title;
  const agenda = state.agenda;
  $("agenda").textContent = agenda.index >= 0 && agenda.items[agenda.index]
    ? t("live.agendaItem", { n: agenda.index + 1, total: agenda.items.length, title: agenda.items[agenda.index] })
    : t("live.agendaNone");

  const mine = state.halls.find((x) => x.hall_id === own);
  $("floor").textContent = state.floor_hall_id
    ? (state.floor_hall_id === own ? t("terminal.youHaveFloor") : t("live.floorHeld", { hall: hallName(state.floor_hall_id) }))
    : t("live.floorChair", { hall: hallName(chair) });
  $("floor").classList.toggle("mine", state.floor_hall_id === own);
  const muted = mine?.muted ?? true;
  const mic = $("mic");
  mic.textContent = muted ? (mine?.mic_locked ? t("live.micLocked") : t("live.micOff")) : t("live.micOn");
  mic.classList.toggle("off", muted);
  mic.dataset.muted = String(muted);
  if (app.devices.mic) app.devices.mic.enabled = !muted;
  $("rec").hidden = !state.recording;

  const hand = $("hand");
  const raised = state.hands.includes(own);
  hand.textContent = state.floor_hall_id === own ? t("live.speaking") : raised ? t("live.lowerHand") : t("live.raiseHand");
  hand.classList.toggle("raised", raised);
  hand.setAttribute("aria-pressed", String(raised));
  hand.disabled = state.floor_hall_id === own || own === chair;
  hand.hidden = own === chair;
  const mute = $("mute");
  mute.textContent = muted ? t("live.unmute") : t("live.mute");
  mute.disabled = Boolean(mine?.mic_locked) || !app.devices.mic;

  const roll = state.roll_call;
  const answered = roll?.answers?.[String(own)];
  $("rollcall").hidden = !(roll?.active && !answered);
  const done = $("rollcall-done");
  done.hidden = !(roll?.active && answered);
  if (answered) done.textContent = t("terminal.rollCallDone", { n: answered.delegates });
}

// -- the hall's own actions -------------------------------------------------------------------

$("hand").addEventListener("click", () => {
  const raised = app.state?.hands.includes(app.live?.hall_id);
  call(app.socket, raised ? "lower_hand" : "raise_hand").catch((e) => notify(errorText(e), { error: true }));
});

$("mute").addEventListener("click", () => {
  const mine = app.state?.halls.find((x) => x.hall_id === app.live?.hall_id);
  call(app.socket, "set_muted", { muted: !(mine?.muted ?? true) }).catch((e) => notify(errorText(e), { error: true }));
});

$("present").addEventListener("click", () => {
  const delegates = Math.max(0, Math.min(10000, parseInt($("delegates").value, 10) || 0));
  call(app.socket, "answer_roll_call", { present: true, delegates }).catch((e) => notify(errorText(e), { error: true }));
});

// -- boot -----------------------------------------------------------------------------------

fillHeader(null);
apply();
onLangChange(() => { tick(); showDevices(); render(); });
app.token = pairFromLink();
setInterval(tick, 1000);
tick();
if (!app.token) {
  $("error").textContent = t("terminal.openLink");
  app.devicesReady = openDevices();
} else {
  app.devicesReady = openDevices();
  refreshHome().then(tick);
  loadVersion().then(() => start());
  // The self-test goes to the readiness board now and then, and when the devices change.
  setInterval(reportStatus, STATUS_EVERY);
  navigator.mediaDevices?.addEventListener?.("devicechange", () => reportStatus());
  // The schedule changes (a meeting moved, added or cancelled): look again now and then.
  setInterval(() => enqueue(async () => {
    if (await refreshHome()) await enter();
  }), 30000);
}
