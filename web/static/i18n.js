// The pages' words: Vietnamese by default, English on request (kept in localStorage).
// t("key", {name}) fills {name}; elements with data-i18n="key" (and data-i18n-placeholder,
// data-i18n-title, data-i18n-aria-label) are translated by apply().

export const TZ = "Asia/Ho_Chi_Minh";
const STORE = "giaoban.lang";

const vi = {
  "app.title": "Giao ban trực tuyến",
  "lang.switch": "Ngôn ngữ",
  "action.logout": "Đăng xuất",
  "action.save": "Lưu",
  "action.close": "Đóng",
  "action.back": "Quay lại",
  "nav.secretariat": "Văn phòng",
  "nav.chair": "Điều hành",
  "nav.week": "Lịch 7 ngày",

  "state.scheduled": "Đã lên lịch",
  "state.live": "Đang họp",
  "state.ended": "Đã kết thúc",
  "state.cancelled": "Đã hủy",
  "presence.waiting": "Đang chờ",
  "presence.connected": "Đã kết nối",
  "presence.reconnecting": "Đang kết nối lại",
  "presence.absent": "Vắng mặt",
  "presence.removed": "Đã mời ra",

  "error.unknown": "Có lỗi xảy ra",
  "error.timeout": "Máy chủ không trả lời",
  "error.validation": "Dữ liệu chưa hợp lệ",
  "error.invalid": "Không hợp lệ",
  "error.unauthenticated": "Cần đăng nhập lại",
  "error.bad_credentials": "Sai tên đăng nhập hoặc mật khẩu",
  "error.forbidden": "Không có quyền thực hiện",
  "error.not_found": "Không tìm thấy",
  "error.conflict": "Trùng lịch điểm cầu",
  "error.invalid_state": "Không thực hiện được ở trạng thái hiện tại",
  "error.rate_limited": "Thao tác quá nhanh, vui lòng chờ",
  "error.internal": "Lỗi máy chủ (đã ghi nhật ký)",

  "login.title": "Đăng nhập",
  "login.username": "Tên đăng nhập",
  "login.password": "Mật khẩu",
  "login.submit": "Đăng nhập",
  "login.failed": "Sai tên đăng nhập hoặc mật khẩu.",
  "login.throttled": "Đăng nhập sai nhiều lần, vui lòng thử lại sau {s} giây.",
  "login.terminalHint": "Máy trạm điểm cầu: mở liên kết ghép nối do văn phòng cấp.",
  "week.title": "Lịch họp 7 ngày tới",
  "week.time": "Thời gian",
  "week.meeting": "Cuộc họp",
  "week.chair": "Chủ trì",
  "week.halls": "Điểm cầu",
  "week.state": "Trạng thái",

  "device.camera": "camera",
  "device.mic": "micrô",

  "live.reconnecting": "Đang kết nối lại…",
  "live.chairBadge": "Chủ trì",
  "live.speaking": "Đang phát biểu",
  "live.recording": "Đang ghi hình",
  "live.raiseHand": "Xin phát biểu",
  "live.lowerHand": "Hủy xin phát biểu",
  "live.rollCall": "Điểm danh",
  "live.delegates": "Số đại biểu",
  "live.present": "Có mặt",
  "live.mute": "Tắt micrô",
  "live.unmute": "Bật micrô",
  "live.micOn": "Micrô đang bật",
  "live.micOff": "Micrô đang tắt",
  "live.micLocked": "Micrô bị chủ trì khóa",
  "live.micLockedShort": "Tắt (khóa)",
  "live.floorHeld": "Đang phát biểu: {hall}",
  "live.floorChair": "Chủ trì đang điều hành: {hall}",
  "live.agendaItem": "Nội dung {n}/{total}: {title}",
  "live.agendaNone": "Chưa bắt đầu nội dung nào",

  "terminal.next": "Cuộc họp tiếp theo",
  "terminal.noMeeting": "Chưa có cuộc họp sắp tới",
  "terminal.countdown": "Còn {h} giờ {m} phút {s} giây",
  "terminal.countdownDays": "Còn {d} ngày {h} giờ {m} phút",
  "terminal.waitChair": "Đang chờ chủ trì bắt đầu cuộc họp",
  "terminal.joining": "Cuộc họp đang diễn ra — đang vào họp…",
  "terminal.deviceCheck": "Kiểm tra camera và micrô",
  "terminal.micLevel": "Mức âm micrô",
  "terminal.noCamera": "Không có hình ảnh camera",
  "terminal.deviceOk": "Đã sẵn sàng {kind}: {name}",
  "terminal.deviceRefused": "Quyền dùng {kind} bị từ chối. Cho phép {kind} trong trình duyệt của máy trạm.",
  "terminal.deviceMissing": "Không tìm thấy {kind}. Kiểm tra dây cắm của thiết bị.",
  "terminal.deviceBusy": "{kind} đang được chương trình khác sử dụng.",
  "terminal.deviceFailed": "Không mở được {kind} ({error}).",
  "terminal.insecure": "Trang không chạy qua HTTPS nên trình duyệt không cho dùng camera và micrô.",
  "terminal.receiveOnly": "Điểm cầu vẫn vào họp để nghe và xem.",
  "terminal.thisHall": "Điểm cầu này",
  "terminal.notConnected": "{hall} chưa kết nối",
  "terminal.youHaveFloor": "Điểm cầu này đang phát biểu",
  "terminal.rollCallPrompt": "Chủ trì đang điểm danh. Xác nhận điểm cầu có mặt:",
  "terminal.rollCallDone": "Đã điểm danh: {n} đại biểu",
  "terminal.unpaired": "Máy chưa được ghép nối hoặc đã bị thu hồi. Liên hệ văn phòng để nhận liên kết mới.",
  "terminal.openLink": "Mở liên kết ghép nối của điểm cầu một lần trên máy này.",
  "terminal.ended": "Cuộc họp đã kết thúc.",
  "terminal.replaced": "Điểm cầu này đã được mở ở một cửa sổ hoặc máy khác.",
  "terminal.removed": "Chủ trì đã mời điểm cầu ra khỏi cuộc họp.",

  "chair.choose": "Chọn cuộc họp để điều hành",
  "chair.noMeetings": "Không có cuộc họp nào trong 7 ngày tới.",
  "chair.youChair": "Bạn chủ trì",
  "chair.controls": "Điều khiển",
  "chair.waiting": "Chờ bắt đầu",
  "chair.start": "Bắt đầu cuộc họp",
  "chair.end": "Kết thúc cuộc họp",
  "chair.endConfirm": "Kết thúc cuộc họp cho tất cả điểm cầu?",
  "chair.endYes": "Kết thúc",
  "chair.giveFloor": "Giao quyền phát biểu",
  "chair.takeFloor": "Thu hồi quyền phát biểu",
  "chair.muteAll": "Tắt micrô tất cả",
  "chair.unmuteAll": "Bật micrô tất cả",
  "chair.voice": "Tự động theo giọng nói",
  "chair.rollCallStart": "Điểm danh",
  "chair.rollCallEnd": "Kết thúc điểm danh",
  "chair.rollCallRunning": "Đang điểm danh",
  "chair.rollCallResult": "Kết quả điểm danh",
  "chair.tally": "Đã trả lời {answered}/{halls} · Có mặt {present} điểm cầu · Số đại biểu {delegates}",
  "chair.nextItem": "Nội dung tiếp theo",
  "chair.recordStart": "Bắt đầu ghi hình",
  "chair.recordStop": "Dừng ghi hình",
  "chair.listen": "Nghe âm thanh",
  "chair.halls": "Điểm cầu",
  "chair.col.hall": "Điểm cầu",
  "chair.col.state": "Trạng thái",
  "chair.col.link": "Đường truyền",
  "chair.col.mic": "Micrô",
  "chair.col.hand": "Xin phát biểu",
  "chair.col.rollCall": "Điểm danh",
  "chair.col.actions": "Thao tác",
  "chair.loss": "mất gói",
  "chair.micOn": "Bật",
  "chair.micOff": "Tắt",
  "chair.handRaised": "Xin phát biểu",
  "chair.answerPresent": "Có mặt · {n} đại biểu",
  "chair.answerAbsent": "Vắng",
  "chair.queue": "Danh sách xin phát biểu",
  "chair.queueEmpty": "Chưa có điểm cầu nào xin phát biểu.",
  "chair.agenda": "Chương trình",
  "chair.now": "Đang thảo luận",
  "chair.mainPicture": "Hình chính",

  "sec.tabCalendar": "Lịch họp",
  "sec.tabTerminals": "Thiết bị điểm cầu",
  "sec.unit": "Đơn vị",
  "sec.prevWeek": "‹ Tuần trước",
  "sec.thisWeek": "Tuần này",
  "sec.nextWeek": "Tuần sau ›",
  "sec.week": "Tuần {from} – {to}",
  "sec.newMeeting": "+ Tạo cuộc họp",
  "sec.newMeetingTitle": "Tạo cuộc họp",
  "sec.editMeeting": "Cuộc họp",
  "sec.noMeetingDay": "Không có cuộc họp",
  "sec.hallCount": "{n} điểm cầu",
  "sec.series": "Họp định kỳ",
  "sec.scope": "Áp dụng cho",
  "sec.scopeOne": "Chỉ buổi họp này",
  "sec.scopeSeries": "Cả chuỗi họp định kỳ",
  "sec.f.title": "Tên cuộc họp",
  "sec.f.description": "Mô tả",
  "sec.f.date": "Ngày",
  "sec.f.start": "Bắt đầu",
  "sec.f.end": "Kết thúc",
  "sec.f.repeat": "Lặp lại",
  "sec.f.until": "Đến ngày",
  "sec.f.chairHall": "Điểm cầu chủ trì",
  "sec.f.chairUser": "Người chủ trì",
  "sec.f.halls": "Điểm cầu tham dự",
  "sec.f.agenda": "Chương trình",
  "sec.f.itemTitle": "Nội dung",
  "sec.f.presenter": "Người trình bày",
  "sec.f.minutes": "Phút",
  "sec.f.autoRecord": "Tự động ghi hình khi họp",
  "sec.repeat.none": "Không lặp lại",
  "sec.repeat.weekly": "Hằng tuần",
  "sec.repeat.custom": "Quy tắc RRULE",
  "sec.allHalls": "Chọn tất cả",
  "sec.noHalls": "Bỏ chọn",
  "sec.addItem": "+ Thêm nội dung",
  "sec.up": "Lên",
  "sec.down": "Xuống",
  "sec.remove": "Xóa",
  "sec.ics": "Tải lịch (.ics)",
  "sec.cancelMeeting": "Hủy cuộc họp",
  "sec.cancelReason": "Lý do hủy",
  "sec.cancelYes": "Xác nhận hủy",
  "sec.cancelled": "Đã hủy cuộc họp.",
  "sec.seriesCancelled": "Đã hủy chuỗi họp định kỳ.",
  "sec.saved": "Đã lưu cuộc họp.",
  "sec.conflictsTitle": "Trùng lịch: các điểm cầu sau đã có cuộc họp vào thời gian này",
  "sec.conflict": "{hall}: “{title}”, {when}",
  "sec.conflictsMore": "và {n} trường hợp khác",
  "sec.err.title": "Nhập tên cuộc họp.",
  "sec.err.time": "Nhập ngày, giờ bắt đầu và giờ kết thúc.",
  "sec.err.endBeforeStart": "Giờ kết thúc phải sau giờ bắt đầu.",
  "sec.err.chairHall": "Chọn điểm cầu chủ trì.",
  "sec.err.chairUser": "Chọn người chủ trì.",
  "sec.err.days": "Chọn ít nhất một ngày trong tuần.",
  "sec.err.rrule": "Nhập quy tắc lặp lại.",
  "sec.notSecretariat": "Trang này dành cho văn phòng (vai trò thư ký) của đơn vị.",
  "sec.terminalLabel": "Tên máy trạm",
  "sec.terminalState": "Trạng thái",
  "sec.terminalActive": "Đang hoạt động",
  "sec.terminalRevoked": "Đã thu hồi",
  "sec.lastSeen": "Kết nối lần cuối",
  "sec.created": "Ngày ghép nối",
  "sec.never": "Chưa kết nối",
  "sec.noTerminals": "Chưa có máy trạm nào.",
  "sec.defaultLabel": "Máy trạm",
  "sec.pair": "Ghép nối máy mới",
  "sec.rotate": "Cấp mã mới",
  "sec.revoke": "Thu hồi",
  "sec.revokeYes": "Xác nhận thu hồi",
  "sec.revoked": "Đã thu hồi máy trạm.",
  "sec.pairedTitle": "Liên kết ghép nối máy trạm",
  "sec.pairingLink": "Liên kết ghép nối",
  "sec.copy": "Sao chép",
  "sec.copied": "Đã sao chép liên kết.",
  "sec.pairedHelp": "Liên kết chỉ hiển thị một lần. Mở liên kết này một lần trên máy trạm của điểm cầu (hoặc quét mã QR); máy sẽ tự ghi nhớ.",
};

const en = {
  "app.title": "Online briefing",
  "lang.switch": "Language",
  "action.logout": "Log out",
  "action.save": "Save",
  "action.close": "Close",
  "action.back": "Back",
  "nav.secretariat": "Secretariat",
  "nav.chair": "Chair console",
  "nav.week": "Next 7 days",

  "state.scheduled": "Scheduled",
  "state.live": "Live",
  "state.ended": "Ended",
  "state.cancelled": "Cancelled",
  "presence.waiting": "Waiting",
  "presence.connected": "Connected",
  "presence.reconnecting": "Reconnecting",
  "presence.absent": "Absent",
  "presence.removed": "Removed",

  "error.unknown": "Something went wrong",
  "error.timeout": "The server does not answer",
  "error.validation": "Invalid data",
  "error.invalid": "Not valid",
  "error.unauthenticated": "Please log in again",
  "error.bad_credentials": "Wrong username or password",
  "error.forbidden": "Not allowed",
  "error.not_found": "Not found",
  "error.conflict": "A hall is double-booked",
  "error.invalid_state": "Not possible in the current state",
  "error.rate_limited": "Too fast, please wait",
  "error.internal": "Server error (logged)",

  "login.title": "Log in",
  "login.username": "Username",
  "login.password": "Password",
  "login.submit": "Log in",
  "login.failed": "Wrong username or password.",
  "login.throttled": "Too many failed logins; try again in {s} seconds.",
  "login.terminalHint": "Hall terminals: open the pairing link given by the secretariat.",
  "week.title": "Meetings in the next 7 days",
  "week.time": "Time",
  "week.meeting": "Meeting",
  "week.chair": "Chair",
  "week.halls": "Halls",
  "week.state": "State",

  "device.camera": "camera",
  "device.mic": "microphone",

  "live.reconnecting": "Reconnecting…",
  "live.chairBadge": "Chair",
  "live.speaking": "Speaking",
  "live.recording": "Recording",
  "live.raiseHand": "Request to speak",
  "live.lowerHand": "Withdraw request",
  "live.rollCall": "Roll call",
  "live.delegates": "Delegates",
  "live.present": "Present",
  "live.mute": "Mute",
  "live.unmute": "Unmute",
  "live.micOn": "Microphone on",
  "live.micOff": "Microphone muted",
  "live.micLocked": "Microphone locked by the chair",
  "live.micLockedShort": "Muted (locked)",
  "live.floorHeld": "Speaking: {hall}",
  "live.floorChair": "Chair has the floor: {hall}",
  "live.agendaItem": "Item {n}/{total}: {title}",
  "live.agendaNone": "No agenda item started yet",

  "terminal.next": "Next meeting",
  "terminal.noMeeting": "No upcoming meeting",
  "terminal.countdown": "Starts in {h} h {m} min {s} s",
  "terminal.countdownDays": "Starts in {d} days {h} h {m} min",
  "terminal.waitChair": "Waiting for the chair to start the meeting",
  "terminal.joining": "The meeting is live — joining…",
  "terminal.deviceCheck": "Camera and microphone check",
  "terminal.micLevel": "Microphone level",
  "terminal.noCamera": "No camera picture",
  "terminal.deviceOk": "{kind} ready: {name}",
  "terminal.deviceRefused": "Access to the {kind} was refused. Allow the {kind} in this terminal's browser.",
  "terminal.deviceMissing": "No {kind} found. Check that it is plugged in.",
  "terminal.deviceBusy": "The {kind} is in use by another program.",
  "terminal.deviceFailed": "Could not open the {kind} ({error}).",
  "terminal.insecure": "This page is not served over HTTPS, so the browser refuses camera and microphone.",
  "terminal.receiveOnly": "The hall still joins to watch and listen.",
  "terminal.thisHall": "This hall",
  "terminal.notConnected": "{hall} is not connected",
  "terminal.youHaveFloor": "This hall has the floor",
  "terminal.rollCallPrompt": "The chair is taking the roll call. Confirm that this hall is present:",
  "terminal.rollCallDone": "Roll call answered: {n} delegates",
  "terminal.unpaired": "This terminal is not paired or was revoked. Ask the secretariat for a new link.",
  "terminal.openLink": "Open the hall's pairing link once on this machine.",
  "terminal.ended": "The meeting has ended.",
  "terminal.replaced": "This hall was opened in another window or on another machine.",
  "terminal.removed": "The chair removed this hall from the meeting.",

  "chair.choose": "Choose a meeting to run",
  "chair.noMeetings": "No meeting in the next 7 days.",
  "chair.youChair": "You chair",
  "chair.controls": "Controls",
  "chair.waiting": "Waiting to start",
  "chair.start": "Start the meeting",
  "chair.end": "End the meeting",
  "chair.endConfirm": "End the meeting for every hall?",
  "chair.endYes": "End",
  "chair.giveFloor": "Give the floor",
  "chair.takeFloor": "Take the floor back",
  "chair.muteAll": "Mute all",
  "chair.unmuteAll": "Unmute all",
  "chair.voice": "Voice-activated",
  "chair.rollCallStart": "Roll call",
  "chair.rollCallEnd": "End roll call",
  "chair.rollCallRunning": "Roll call in progress",
  "chair.rollCallResult": "Roll call result",
  "chair.tally": "Answered {answered}/{halls} · Present {present} halls · Delegates {delegates}",
  "chair.nextItem": "Next agenda item",
  "chair.recordStart": "Start recording",
  "chair.recordStop": "Stop recording",
  "chair.listen": "Listen",
  "chair.halls": "Halls",
  "chair.col.hall": "Hall",
  "chair.col.state": "State",
  "chair.col.link": "Link",
  "chair.col.mic": "Microphone",
  "chair.col.hand": "Hand",
  "chair.col.rollCall": "Roll call",
  "chair.col.actions": "Actions",
  "chair.loss": "loss",
  "chair.micOn": "On",
  "chair.micOff": "Muted",
  "chair.handRaised": "Hand raised",
  "chair.answerPresent": "Present · {n} delegates",
  "chair.answerAbsent": "Absent",
  "chair.queue": "Requests to speak",
  "chair.queueEmpty": "No hall has asked to speak.",
  "chair.agenda": "Agenda",
  "chair.now": "Now",
  "chair.mainPicture": "Main picture",

  "sec.tabCalendar": "Meetings",
  "sec.tabTerminals": "Hall terminals",
  "sec.unit": "Unit",
  "sec.prevWeek": "‹ Previous week",
  "sec.thisWeek": "This week",
  "sec.nextWeek": "Next week ›",
  "sec.week": "Week {from} – {to}",
  "sec.newMeeting": "+ New meeting",
  "sec.newMeetingTitle": "New meeting",
  "sec.editMeeting": "Meeting",
  "sec.noMeetingDay": "No meeting",
  "sec.hallCount": "{n} halls",
  "sec.series": "Recurring",
  "sec.scope": "Apply to",
  "sec.scopeOne": "This meeting only",
  "sec.scopeSeries": "The whole series",
  "sec.f.title": "Title",
  "sec.f.description": "Description",
  "sec.f.date": "Date",
  "sec.f.start": "Start",
  "sec.f.end": "End",
  "sec.f.repeat": "Repeat",
  "sec.f.until": "Until",
  "sec.f.chairHall": "Chair hall",
  "sec.f.chairUser": "Chair",
  "sec.f.halls": "Invited halls",
  "sec.f.agenda": "Agenda",
  "sec.f.itemTitle": "Item",
  "sec.f.presenter": "Presenter",
  "sec.f.minutes": "Minutes",
  "sec.f.autoRecord": "Record automatically",
  "sec.repeat.none": "Does not repeat",
  "sec.repeat.weekly": "Weekly",
  "sec.repeat.custom": "RRULE",
  "sec.allHalls": "Select all",
  "sec.noHalls": "Clear",
  "sec.addItem": "+ Add item",
  "sec.up": "Up",
  "sec.down": "Down",
  "sec.remove": "Remove",
  "sec.ics": "Download (.ics)",
  "sec.cancelMeeting": "Cancel meeting",
  "sec.cancelReason": "Reason",
  "sec.cancelYes": "Confirm cancellation",
  "sec.cancelled": "The meeting was cancelled.",
  "sec.seriesCancelled": "The series was cancelled.",
  "sec.saved": "Meeting saved.",
  "sec.conflictsTitle": "Conflict: these halls already have a meeting at that time",
  "sec.conflict": "{hall}: “{title}”, {when}",
  "sec.conflictsMore": "and {n} more",
  "sec.err.title": "Enter a title.",
  "sec.err.time": "Enter the date, start and end.",
  "sec.err.endBeforeStart": "The end must be after the start.",
  "sec.err.chairHall": "Choose the chair hall.",
  "sec.err.chairUser": "Choose the chair.",
  "sec.err.days": "Choose at least one weekday.",
  "sec.err.rrule": "Enter the recurrence rule.",
  "sec.notSecretariat": "This page is for a unit's secretariat.",
  "sec.terminalLabel": "Terminal name",
  "sec.terminalState": "State",
  "sec.terminalActive": "Active",
  "sec.terminalRevoked": "Revoked",
  "sec.lastSeen": "Last seen",
  "sec.created": "Paired on",
  "sec.never": "Never",
  "sec.noTerminals": "No terminal yet.",
  "sec.defaultLabel": "Terminal",
  "sec.pair": "Pair a new terminal",
  "sec.rotate": "New token",
  "sec.revoke": "Revoke",
  "sec.revokeYes": "Confirm revoke",
  "sec.revoked": "Terminal revoked.",
  "sec.pairedTitle": "Terminal pairing link",
  "sec.pairingLink": "Pairing link",
  "sec.copy": "Copy",
  "sec.copied": "Link copied.",
  "sec.pairedHelp": "The link is shown only once. Open it once on the hall's terminal (or scan the QR code); the terminal remembers it.",
};

export const DICTIONARIES = { vi, en };
const listeners = [];

function stored() {
  try {
    return localStorage.getItem(STORE);
  } catch {
    return null;
  }
}

let current = stored() in DICTIONARIES ? stored() : "vi";

export function lang() {
  return current;
}

/** The Intl locale of the chosen language. */
export function locale() {
  return current === "en" ? "en-GB" : "vi-VN";
}

/** The text of `key` with {name} filled from `vars`; `fallback` when no dictionary has it. */
export function t(key, vars = {}, fallback = key) {
  const text = DICTIONARIES[current][key] ?? vi[key];
  if (text === undefined) return fallback;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`));
}

export function apply(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const [attr, data] of [["placeholder", "i18nPlaceholder"], ["title", "i18nTitle"], ["aria-label", "i18nAriaLabel"]]) {
    for (const el of root.querySelectorAll(`[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`)) {
      el.setAttribute(attr, t(el.dataset[data]));
    }
  }
}

export function setLang(value) {
  if (!(value in DICTIONARIES) || value === current) return;
  current = value;
  try {
    localStorage.setItem(STORE, value);
  } catch {
    // a kiosk without storage keeps the choice until it reloads
  }
  apply();
  for (const listener of listeners) listener();
}

export function onLangChange(listener) {
  listeners.push(listener);
}

/** The VI | EN switch for a page header. */
export function langSwitch() {
  const box = document.createElement("span");
  box.className = "lang-switch";
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", t("lang.switch"));
  for (const value of Object.keys(DICTIONARIES)) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = value.toUpperCase();
    button.lang = value;
    button.className = value === current ? "current" : "";
    button.setAttribute("aria-pressed", String(value === current));
    button.addEventListener("click", () => {
      setLang(value);
      for (const b of box.children) {
        b.className = b.lang === current ? "current" : "";
        b.setAttribute("aria-pressed", String(b.lang === current));
      }
    });
    box.append(button);
  }
  return box;
}
