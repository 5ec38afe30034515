// The readiness board (issue 13): every invited hall's terminal before a meeting: online, its
// self-test (camera, microphone), its link and page version, ready or not, and the alert of a
// hall still offline 15 minutes before the start. Shared by the secretariat's page and the
// chair's console. Polls GET /api/meetings/{id}/readiness every 2.5 s (a closed terminal shows
// offline within seconds) and hears `readiness_alert` pushed over the /live socket.
import { api, errorText, fmt, h, notify, t } from "/static/common.js";
import { lang } from "/static/i18n.js";
import { call } from "/static/live.js";

export const POLL_MS = 2500;

const percent = () => new Intl.NumberFormat(lang() === "en" ? "en-GB" : "vi-VN", { style: "percent", maximumFractionDigits: 1 });

function deviceCell(result, label) {
  if (!result) return h("td", { class: "device unknown" }, "—");
  return h("td", { class: `device device-${result}`, title: label || "" },
    h("span", { class: "dot" }), ` ${t(`ready.device.${result}`)}`);
}

function linkCell(row) {
  if (!row.link) return h("td", { class: "link" }, "—");
  return h("td", { class: `link ${row.quality}`, dataset: { quality: row.quality } },
    h("span", { class: "dot" }), ` ${t(`ready.quality.${row.quality}`)} · ${t("chair.loss")} ${percent().format(row.link.loss)} · RTT ${Math.round(row.link.rtt_ms)} ms`);
}

/** "Điểm cầu X", unless the hall's name already says it. */
export function hallWords(name) {
  const word = t("ready.hallWord");
  return name.toLocaleLowerCase().startsWith(word.toLocaleLowerCase()) ? name : `${word} ${name}`;
}

function seenText(iso) {
  return iso ? fmt(iso, { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }) : t("sec.never");
}

/**
 * A board in `table` (a <tbody> is made), its banner in `banner`; `onTestCall(hall)`, when
 * given, adds a "Gọi thử" button to each online hall.
 */
export class ReadinessBoard {
  constructor({ table, banner, summary = null, onTestCall = null, socket = null, onDenied = null }) {
    this.onDenied = onDenied;
    this.table = table;
    this.banner = banner;
    this.summary = summary;
    this.onTestCall = onTestCall;
    this.socket = socket;
    this.meetingId = null;
    this.data = null;
    this.pushed = new Map();  // hall id → the last readiness_alert for it
    this.timer = null;
    this.seq = 0;
    this.onAlert = (alert) => {
      if (alert.meeting_id !== this.meetingId) return;
      if (!this.pushed.has(alert.hall_id)) console.info("readiness alert", alert.hall_id, alert.minutes_left);
      this.pushed.set(alert.hall_id, alert);
      this.render();
    };
    this.onConnect = () => this.watch();
    if (socket) {
      socket.on("readiness_alert", this.onAlert);
      socket.on("connect", this.onConnect);
    }
  }

  async show(meetingId) {
    this.stop();
    this.meetingId = meetingId;
    this.data = null;
    this.pushed.clear();
    this.render();
    if (!meetingId) return;
    await this.watch();
    await this.refresh();
    this.timer = setInterval(() => { if (!document.hidden) this.refresh(); }, POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.meetingId = null;
  }

  async watch() {
    if (!this.socket?.connected || !this.meetingId) return;
    try {
      await call(this.socket, "watch_readiness", { meeting_id: this.meetingId });
    } catch (error) {
      console.warn("watch_readiness", error.code);
    }
  }

  async refresh() {
    const id = this.meetingId;
    const seq = ++this.seq;
    const { status, data } = await api(`/api/meetings/${id}/readiness`).catch(() => ({ status: 0, data: null }));
    if (seq !== this.seq || id !== this.meetingId) return;
    if (status !== 200) {
      if ((status === 403 || status === 404) && this.onDenied) {
        this.stop();
        this.onDenied();
      } else if (status) {
        notify(errorText(data?.error), { error: true });
      }
      return;
    }
    this.data = data;
    // The board's own answer is the truth: an alert stands while the hall is offline.
    for (const row of data.halls) if (row.online || !data.alerting) this.pushed.delete(row.hall_id);
    this.render();
  }

  alerts() {
    const data = this.data;
    if (!data) return [...this.pushed.values()].map((a) => ({ hall_id: a.hall_id, name: a.hall_name, minutes: a.minutes_left }));
    const out = [];
    for (const row of data.halls) {
      const pushed = this.pushed.get(row.hall_id);
      if (row.alert || (pushed && !row.online)) {
        out.push({ hall_id: row.hall_id, name: row.name, minutes: data.alerting ? data.minutes_left : pushed?.minutes_left ?? data.minutes_left });
      }
    }
    return out;
  }

  render() {
    const data = this.data;
    const alerts = this.alerts();
    const alerted = new Set(alerts.map((a) => a.hall_id));
    this.banner.replaceChildren(...alerts.map((a) => h("p", { class: "alert-line", dataset: { hallId: a.hall_id } },
      `⚠ ${t("ready.alert", { hall: hallWords(a.name), m: a.minutes })}`)));
    this.banner.hidden = alerts.length === 0;
    if (this.summary) {
      const ready = data ? data.halls.filter((r) => r.ready).length : 0;
      this.summary.textContent = data ? t("ready.summary", { ready, total: data.halls.length }) : "";
    }
    const body = h("tbody");
    for (const row of data?.halls ?? []) {
      const stale = row.version && data.server_version && row.version !== data.server_version;
      const classes = [row.ready ? "is-ready" : "not-ready", alerted.has(row.hall_id) ? "alert" : ""].join(" ");
      const actions = h("td", { class: "actions" });
      if (this.onTestCall && row.online) {
        actions.append(h("button", { type: "button", class: "secondary small test-call", onclick: () => this.onTestCall(row) }, t("ready.testCall")));
      }
      body.append(h("tr", { class: classes, dataset: { hallId: row.hall_id, online: row.online, ready: row.ready } },
        h("th", { scope: "row" }, row.name, row.chair ? h("span", { class: "badge chair" }, t("live.chairBadge")) : null),
        h("td", { class: `online ${row.online ? "presence-connected" : "presence-absent"}` },
          h("span", { class: "dot" }), ` ${row.online ? t("ready.online") : t("ready.offline")}`),
        h("td", { class: "seen" }, seenText(row.last_seen)),
        deviceCell(row.camera, row.camera_label),
        deviceCell(row.microphone, row.mic_label),
        linkCell(row),
        h("td", { class: `version ${stale ? "stale" : ""}`, title: stale ? t("ready.staleVersion") : "" }, row.version ?? "—"),
        h("td", { class: `ready ${row.ready ? "yes" : "no"}` }, row.ready ? `✓ ${t("ready.yes")}` : t("ready.no")),
        actions));
    }
    const head = h("thead", {}, h("tr", {}, ["ready.col.hall", "ready.col.online", "ready.col.seen", "ready.col.camera",
      "ready.col.mic", "ready.col.link", "ready.col.version", "ready.col.ready", "chair.col.actions"].map((k) => h("th", {}, t(k)))));
    this.table.replaceChildren(head, body);
  }
}
