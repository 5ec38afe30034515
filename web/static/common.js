// Shared helpers: dates in Asia/Ho_Chi_Minh, API calls that surface readable errors.
export const TZ = "Asia/Ho_Chi_Minh";

export const STATES = {
  scheduled: "Đã lên lịch", live: "Đang họp", ended: "Đã kết thúc", cancelled: "Đã hủy",
};

export function formatDateTime(iso) {
  return new Intl.DateTimeFormat("vi-VN", {
    timeZone: TZ, weekday: "long", day: "2-digit", month: "2-digit", year: "numeric",
    hour: "2-digit", minute: "2-digit",
  }).format(new Date(iso));
}

export function formatTime(date) {
  return new Intl.DateTimeFormat("vi-VN", {
    timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).format(date);
}

export async function api(path, { method = "GET", body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.headers.get("Content-Type")?.includes("json") ? await response.json() : null;
  return { status: response.status, data };
}
