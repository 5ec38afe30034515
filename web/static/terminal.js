// The hall terminal: paired once by the link's #token=…, then waits for its next meeting.
import { api, formatDateTime, formatTime } from "/static/common.js";

const KEY = "giaoban.terminal.token";
const $ = (id) => document.getElementById(id);

function pairFromLink() {
  const match = location.hash.match(/token=([\w-]+)/);
  if (match) {
    localStorage.setItem(KEY, match[1]);
    history.replaceState(null, "", location.pathname);  // the token leaves the address bar
  }
  return localStorage.getItem(KEY);
}

let meetings = [];

function tick() {
  const now = new Date();
  $("clock").textContent = formatTime(now);
  const next = meetings.find((m) => new Date(m.end) > now);
  if (!next) {
    $("next").textContent = "Chưa có cuộc họp sắp tới";
    $("countdown").textContent = "";
    return;
  }
  $("next").textContent = `${next.title} — ${formatDateTime(next.start)}`;
  const seconds = Math.floor((new Date(next.start) - now) / 1000);
  if (next.state === "live" || seconds <= 0) {
    $("countdown").textContent = next.state === "live" ? "Đang họp" : "Chờ chủ trì bắt đầu";
  } else {
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    $("countdown").textContent = `Còn ${h} giờ ${String(m).padStart(2, "0")} phút ${String(s).padStart(2, "0")} giây`;
  }
}

async function refresh(token) {
  try {
    const { status, data } = await api("/api/terminal", { token });
    if (status === 401) {
      $("error").textContent = "Máy chưa được ghép nối hoặc đã bị thu hồi. Liên hệ văn phòng để nhận liên kết mới.";
      meetings = [];
      return;
    }
    if (status === 200) {
      $("error").textContent = "";
      $("state").textContent = "";
      $("hall").textContent = data.hall.name;
      meetings = data.meetings;
    }
  } catch {
    $("state").textContent = "Đang kết nối lại…";
  }
}

const token = pairFromLink();
if (!token) {
  $("error").textContent = "Mở liên kết ghép nối của điểm cầu một lần trên máy này.";
} else {
  refresh(token);
  setInterval(() => refresh(token), 30000);
}
setInterval(tick, 1000);
tick();
