import { api, formatDateTime, STATES } from "/static/common.js";

const $ = (id) => document.getElementById(id);

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function showWeek(me) {
  $("who").textContent = me.name;
  $("login-card").hidden = true;
  $("week-card").hidden = false;
  const { status, data } = await api("/api/meetings");
  const body = $("meetings");
  body.replaceChildren();
  if (status !== 200) return;
  for (const m of data) {
    const tr = document.createElement("tr");
    tr.append(
      cell(formatDateTime(m.start)), cell(m.title), cell(m.chair_hall.name),
      cell(String(m.halls.length)), cell(STATES[m.state] ?? m.state),
    );
    body.append(tr);
  }
}

async function start() {
  const { status, data } = await api("/api/session");
  if (status === 200 && data.kind === "user") return showWeek(data);
  $("login-card").hidden = false;
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const { status, data } = await api("/api/session", {
    method: "POST", body: { username: $("username").value, password: $("password").value },
  });
  if (status === 200) return showWeek(data);
  $("login-error").textContent = status === 429
    ? `Đăng nhập sai nhiều lần, vui lòng thử lại sau ${data.error.retry_after} giây.`
    : "Sai tên đăng nhập hoặc mật khẩu.";
});

$("logout").addEventListener("click", async () => {
  await api("/api/session", { method: "DELETE" });
  location.reload();
});

start();
