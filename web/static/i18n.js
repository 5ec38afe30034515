// The pages' words: Vietnamese by default, English on request (kept in localStorage).
// The translations are web/static/i18n/vi.json and en.json (one key, the same {placeholders}).
// t("key", {name}) fills {name}; elements with data-i18n="key" (and data-i18n-placeholder,
// data-i18n-title, data-i18n-aria-label) are translated by apply().

export const TZ = "Asia/Ho_Chi_Minh";
const STORE = "giaoban.lang";

const LANGUAGES = ["vi", "en"];

// The words are data, one file per language (web/static/i18n/<lang>.json). They are loaded
// here, before any module that imports this one runs (top-level await): no page shows a key
// or renders before its words are in. A file that does not load leaves its language empty
// (Vietnamese is the fallback of every word) rather than stopping the page.
async function load(language) {
  try {
    const reply = await fetch(new URL(`./i18n/${language}.json`, import.meta.url));
    if (reply.ok) return await reply.json();
    console.warn(`i18n: ${language}.json answered ${reply.status}`);
  } catch (error) {
    console.warn(`i18n: ${language}.json did not load`, error);
  }
  return {};
}

export const DICTIONARIES = Object.fromEntries(
  await Promise.all(LANGUAGES.map(async (language) => [language, await load(language)])),
);
const vi = DICTIONARIES.vi;
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
  // A word missing from the dictionaries keeps what the page's markup says (Vietnamese).
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n, {}, el.textContent);
  for (const [attr, data] of [["placeholder", "i18nPlaceholder"], ["title", "i18nTitle"], ["aria-label", "i18nAriaLabel"]]) {
    for (const el of root.querySelectorAll(`[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`)) {
      el.setAttribute(attr, t(el.dataset[data], {}, el.getAttribute(attr) ?? el.dataset[data]));
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
