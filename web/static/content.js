// Presenting content (a shared screen or window): one presenter at a time, granted by the chair
// like the floor. The page offers a `screen` m-line with no track; the picked screen goes on it
// only while the room says this participant presents, so nothing is sent before the grant.
import { call, pickScreen } from "/static/live.js";

export class Presenter {
  /** `socket()` and `media()` give the current socket and peer connection; `changed()` re-renders. */
  constructor({ socket, media, changed }) {
    this.socket = socket;
    this.media = media;
    this.changed = changed;
    this.track = null;       // the picked screen, kept while asking and presenting
    this.asking = false;     // a request_content on its way
    this.presenting = false;
  }

  /** After a click: pick a screen and ask to present (the chair's console presents at once). */
  async start() {
    if (!this.track) this.track = await pickScreen((track) => { if (track === this.track) this.stop(); });
    this.asking = true;
    try {
      const reply = await call(this.socket(), "request_content");
      if (reply.granted) this.presenting = true;
    } catch (error) {
      this.release();
      throw error;
    } finally {
      this.asking = false;
    }
    await this.attach();
    this.changed();
  }

  /** Stop presenting, or withdraw the request. */
  async stop() {
    const socket = this.socket();
    this.release();
    this.changed();
    if (socket?.connected) await call(socket, "stop_content").catch(() => {});
  }

  /** A room_state: follow what the chair decided (granted, switched to another, taken back). */
  async update(state, participantId) {
    const mine = Boolean(participantId) && state?.content?.participant_id === participantId;
    const waiting = Boolean(state?.content_requests?.some((r) => r.participant_id === participantId));
    if (mine && this.track) {
      this.presenting = true;
      await this.attach();
    } else if (!mine && !waiting && !this.asking && this.track) {
      this.release();  // taken back, another presenter, or the request dropped
    } else if (!mine) {
      this.presenting = false;
      await this.attach();
    }
  }

  /** Put the screen on the current connection's screen m-line (after a new offer too). */
  async attach() {
    const sender = this.media()?.screenSender;
    if (!sender) return;
    const wanted = this.presenting ? this.track : null;
    if (sender.track !== wanted) await sender.replaceTrack(wanted).catch(() => {});
  }

  get waiting() {
    return Boolean(this.track) && !this.presenting;
  }

  release() {
    const track = this.track;
    this.track = null;
    this.presenting = false;
    this.media()?.screenSender?.replaceTrack(null).catch(() => {});
    if (track) track.stop();
  }
}
