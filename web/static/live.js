// Live meetings in the browser: the socket.io connection to /live, acknowledged events, and one
// WebRTC peer connection per participant (the client offers, the server answers, no trickle).
/* global io */

export class LiveError extends Error {
  constructor(error) {
    super(error?.message || error?.code || "error");
    this.code = error?.code || "error";
    this.field = error?.field;
    this.retryAfter = error?.retry_after;
    this.url = error?.url;
  }
}

/** The /live socket: a terminal passes its token, a person's browser sends its cookie. */
export function connect(auth) {
  const socket = io("/live", {
    auth: auth || {},
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    withCredentials: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    timeout: 8000,
  });
  roam(socket);
  return socket;
}

const originOf = (url) => new URL(url, location.href).origin;
const nodesOf = new WeakMap();

/**
 * Scaled out (docs/protocol.md, "Several nodes"), the socket may talk to another node than
 * the page's own: `moved` sends it to the node hosting the meeting (`follow`), and a node
 * that fails to answer twice is left for the next one known (the page's own first), where
 * the page joins again as after any reconnection.
 */
function roam(socket) {
  const home = location.origin;
  const nodes = { known: [home], failures: 0 };
  nodesOf.set(socket, nodes);
  socket.on("connect", () => { nodes.failures = 0; });
  socket.io.on("error", () => {
    nodes.failures += 1;
    if (nodes.failures < 2 || nodes.known.length < 2) return;
    const here = nodes.known.indexOf(originOf(socket.io.uri));
    socket.io.uri = nodes.known[(here + 1) % nodes.known.length];
    nodes.failures = 0;
  });
}

/**
 * A person's page whose login has ended (the account deactivated, logged out elsewhere, past
 * its lifetime, idle while the page was offline) calls `ended` (the page goes to the login
 * page) instead of being refused for ever: on `removed` saying so, and when the server refuses
 * the socket and GET /api/session says 401. Any other refusal is tried again every 3 s.
 */
export function endWithLogin(socket, ended) {
  socket.on("removed", ({ code }) => {
    if (code === "deactivated" || code === "logged_out") ended();
  });
  socket.on("connect_error", async () => {
    if (socket.active) return; // unreachable: socket.io tries again by itself
    const session = await fetch("/api/session", { credentials: "same-origin" }).catch(() => null);
    if (session?.status === 401) ended();
    else setTimeout(() => socket.connect(), 3000);
  });
}

/** The nodes a successful `join` named: where to go when this one stops answering. */
export function knowNodes(socket, urls = []) {
  const nodes = nodesOf.get(socket);
  if (!nodes || !urls.length) return;
  const home = nodes.known[0];
  nodes.known = [home, ...urls.map(originOf).filter((u) => u !== home)];
}

/** `join` answered `moved`: connect to the node hosting the meeting (the page's "connect"
 * handler then joins again, there). */
export function follow(socket, error) {
  socket.io.uri = originOf(error.url);
  socket.disconnect();
  socket.connect();
}

/** Send an event and wait for its acknowledgement; a refusal throws a LiveError. */
export async function call(socket, event, data = {}) {
  let reply;
  try {
    reply = await socket.timeout(10000).emitWithAck(event, data);
  } catch {
    throw new LiveError({ code: "timeout", message: `${event}: no answer from the server` });
  }
  if (!reply || !reply.ok) throw new LiveError(reply?.error);
  return reply;
}

/** Resolves once every ICE candidate is gathered (the server takes no trickled ones). */
export function iceGathered(pc, ms = 5000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      finish();
    };
    const finish = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

const THUMB_WIDTH = 192;

/**
 * Offer what this participant sends and receives; returns the connection and, by mid, what
 * each m-line carries. `camera`/`mic` are local tracks (either may be missing: the terminal
 * then only receives); `slots` lists the receive roles in order (main, chair, audio, thumb…);
 * `onLabels` gets the answer's slot labels (which hall each slot carries) as soon as it comes.
 * `screen` offers a `screen` m-line with no track yet: a presenter puts its shared screen there
 * (`screenSender.replaceTrack`) while the chair lets it present, with no new offer.
 * `event` and `extra`: a test call offers with `test_call_offer` and its `call_id`.
 */
export async function negotiate(socket, {
  iceServers = [], camera = null, mic = null, thumb = false, screen = false, slots, onLabels = () => {},
  event = "offer", extra: fields = {},
}) {
  const pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
  const lines = [];
  const extra = [];
  try {
    if (camera) {
      lines.push({ transceiver: pc.addTransceiver(camera, { direction: "sendonly" }), source: "camera" });
      if (thumb) {
        const small = camera.clone();
        extra.push(small);
        const width = camera.getSettings().width || 1280;
        lines.push({
          transceiver: pc.addTransceiver(small, {
            direction: "sendonly",
            sendEncodings: [{ scaleResolutionDownBy: Math.max(1, width / THUMB_WIDTH), maxBitrate: 150000, maxFramerate: 10 }],
          }),
          source: "thumb",
        });
      }
    }
    if (mic) lines.push({ transceiver: pc.addTransceiver(mic, { direction: "sendonly" }), source: "mic" });
    let screenSender = null;
    if (screen) {
      const transceiver = pc.addTransceiver("video", { direction: "sendonly" });
      screenSender = transceiver.sender;
      lines.push({ transceiver, source: "screen" });
    }
    for (const role of slots) {
      const kind = role === "audio" ? "audio" : "video";
      lines.push({ transceiver: pc.addTransceiver(kind, { direction: "recvonly" }), slot: role });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc);
    const sources = {};
    const slotRoles = {};
    for (const line of lines) {
      if (line.source) sources[line.transceiver.mid] = line.source;
      else slotRoles[line.transceiver.mid] = line.slot;
    }
    const reply = await call(socket, event, { ...fields, sdp: pc.localDescription.sdp, sources, slots: slotRoles });
    // Now, before anything else is awaited: a `slots` event sent after this answer is newer.
    onLabels(reply.slots || {});
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    const slotLines = lines.filter((l) => l.slot).map((l) => ({
      mid: l.transceiver.mid, role: l.slot, kind: l.transceiver.receiver.track.kind,
      track: l.transceiver.receiver.track, transceiver: l.transceiver,
    }));
    return { pc, slots: slotLines, extraTracks: extra, screenSender };
  } catch (error) {
    pc.close();
    for (const track of extra) track.stop();
    throw error;
  }
}

/**
 * The connection as its stats see it: packet loss (0..1) since the last call, over what this
 * side receives and what the server reports of what it sends, and the round-trip time (ms).
 */
export async function linkQuality(pc, previous = { lost: 0, received: 0 }) {
  const stats = await pc.getStats();
  let rtt = null;
  let remoteRtt = null;
  let lost = 0;
  let received = 0;
  let remoteLoss = 0;
  let remoteCount = 0;
  let pairId = null;
  stats.forEach((r) => {
    if (r.type === "transport" && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  stats.forEach((r) => {
    if (r.type === "candidate-pair" && r.currentRoundTripTime !== undefined
        && (r.id === pairId || (pairId === null && r.nominated && r.state === "succeeded"))) {
      rtt = r.currentRoundTripTime * 1000;
    } else if (r.type === "remote-inbound-rtp") {
      if (r.roundTripTime !== undefined) remoteRtt = r.roundTripTime * 1000;
      if (r.fractionLost !== undefined) { remoteLoss += r.fractionLost; remoteCount += 1; }
    } else if (r.type === "inbound-rtp") {
      lost += Math.max(0, r.packetsLost || 0);
      received += r.packetsReceived || 0;
    }
  });
  const dLost = Math.max(0, lost - previous.lost);
  const dReceived = Math.max(0, received - previous.received);
  const inbound = dLost + dReceived > 0 ? dLost / (dLost + dReceived) : 0;
  const outbound = remoteCount ? remoteLoss / remoteCount : 0;
  return {
    report: { loss: Math.min(1, Math.max(inbound, outbound)), rtt_ms: Math.min(60000, rtt ?? remoteRtt ?? 0) },
    counters: { lost, received },
  };
}

/** Attach a track to a media element, only when it changed (no flicker). */
export function show(element, track) {
  const current = element.srcObject?.getTracks?.()[0] ?? null;
  if (current === track) return;
  element.srcObject = track ? new MediaStream([track]) : null;
  if (track) element.play?.().catch(() => {});
}

/**
 * Ask the person at this browser for a screen or a window to present (it must follow a click:
 * browsers allow the picker only then). Resolves to the video track; `onEnded` is called when
 * the person stops sharing from the browser's own bar.
 */
export async function pickScreen(onEnded) {
  if (!navigator.mediaDevices?.getDisplayMedia) throw new LiveError({ code: "unsupported", message: "getDisplayMedia" });
  const stream = await navigator.mediaDevices.getDisplayMedia({
    video: { frameRate: { ideal: 15, max: 30 }, width: { max: 1920 }, height: { max: 1080 } },
    audio: false,
  });
  const track = stream.getVideoTracks()[0];
  track.contentHint = "detail";  // slides and documents: sharp text before smooth motion
  track.addEventListener("ended", () => onEnded(track), { once: true });
  return track;
}
