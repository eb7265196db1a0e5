// Small DOM helpers shared by every view. Data goes into the page as DOM nodes and textContent, never as HTML.

export const $ = (selector, root = document) => root.querySelector(selector);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "value") el.value = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function fmtBytes(n) {
  if (typeof n !== "number") return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function fmtValue(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.map(fmtValue).join(", ");
  if (typeof v === "object") {
    if ("amount" in v && "currency" in v) return `${v.currency} ${v.amount}`;
    if (v.raw) return String(v.raw);
    return JSON.stringify(v);
  }
  return String(v);
}

let toastTimer = null;
export function toast(message) {
  const el = $("#toast");
  el.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.textContent = ""; }, 6000);
}

export function notice(kind, ...content) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "err" ? "alert" : null }, ...content);
}

export function badge(kind, text, attrs = {}) {
  return h("span", { class: `badge badge-${kind}`, ...attrs }, text);
}

export function errorNotice(err, lead) {
  const parts = [h("p", {}, lead ? `${lead} ` : "", err.message)];
  if (err.details && err.details.ironclad) {
    parts.push(h("p", { class: "code" }, `Ironclad's answer: ${err.details.ironclad}`));
  }
  if (err.code) parts.push(h("p", { class: "code" }, `Code: ${err.code}`));
  return notice("err", ...parts);
}

export async function copyText(text, message) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
    } else {
      const area = h("textarea", { "aria-hidden": "true", style: "position:fixed;left:-9999px" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(message);
  } catch (exc) {
    toast("Could not copy automatically; select the text and copy it.");
  }
}
