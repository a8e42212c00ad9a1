// alprd console: live reads (server-sent events), camera panel, history search. No build step.
"use strict";

const MAX_LIVE = 100;
const PAGE = 50;
const matchesByTrack = new Map();    // "camera|track id" -> [plate.match] (live)
let searchOffset = 0;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? "" : String(c)));
  return e;
}

function localTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

function pct(x) { return typeof x === "number" ? (x * 100).toFixed(0) + " %" : "-"; }

function num(x, digits) {
  if (typeof x !== "number") return "-";
  return digits === undefined ? x.toLocaleString() : x.toFixed(digits);
}

function cropImage(ev, cls) {
  if (!ev.has_crop) return el("div", {class: "noimg"}, ev.kind === "plate.preview" ? "no crop yet" : "no crop");
  const img = el("img", {class: cls || "crop", alt: "plate crop " + ev.plate,
                         src: "/api/events/" + encodeURIComponent(ev.event_id) + "/crop"});
  img.addEventListener("error", () => { img.replaceWith(el("div", {class: "noimg"}, "crop unavailable")); });
  return img;
}

function listBadges(matches) {
  const span = el("span", {class: "lists"});
  for (const m of matches || []) {
    span.append(el("span", {class: "badge list-" + m.list_kind, title: "entry " + m.entry_plate +
                            (m.entry_label ? " (" + m.entry_label + ")" : "") + ", distance " + m.distance},
                   m.list_name + " (" + m.list_kind + ")"), " ");
  }
  return span;
}

function markMatched(node, matches) {
  if (!matches || !matches.length) return;
  node.classList.add("matched");
  for (const m of matches) node.classList.add("list-" + m.list_kind);
  const slot = node.querySelector(".lists");
  if (slot) slot.replaceWith(listBadges(matches));
}

// --- live ------------------------------------------------------------------------------------
function trackKey(ev) { return ev.camera_id + "|" + ev.track_id + "|" + ev.first_seen; }

function liveCard(ev) {
  const kind = ev.kind === "plate.final" ? "final" : "preview";
  const card = el("div", {class: "read " + kind, "data-event-id": ev.event_id, "data-track": trackKey(ev),
                          "data-cam-track": ev.camera_id + "|" + ev.track_id},
    cropImage(ev),
    el("div", {}, el("span", {class: "plate"}, ev.plate), " ", el("span", {class: "badge " + kind}, kind), " ",
       el("span", {class: "lists"})),
    el("div", {class: "meta"}, el("span", {class: "camera"}, ev.camera_id), " · ",
       el("span", {class: "time"}, localTime(ev.last_seen)), " · confidence ",
       el("span", {class: "confidence"}, pct(ev.confidence)), " · " + ev.reads + " reads",
       ev.travel && ev.travel !== "unknown" ? " · " + ev.travel : ""));
  card.liveEvent = ev;
  markMatched(card, trackMatches(ev));
  return card;
}

// A match belongs to the card of its track (camera, track id) seen while the track lasted: a vehicle
// matched on its preview is matched once, so the final's own id is not the match's source.
function trackMatches(ev) {
  const t0 = Date.parse(ev.first_seen), t1 = Date.parse(ev.last_seen);
  return (matchesByTrack.get(ev.camera_id + "|" + ev.track_id) || [])
    .filter((m) => Date.parse(m.seen_at) >= t0 && Date.parse(m.seen_at) <= t1);
}

function onLiveEvent(ev) {
  const live = document.getElementById("live");
  if (ev.kind === "plate.match") {
    const key = ev.camera_id + "|" + ev.track_id;
    const list = matchesByTrack.get(key) || [];
    if (!list.some((m) => m.event_id === ev.event_id)) list.push(ev);
    matchesByTrack.set(key, list);
    for (const node of live.querySelectorAll('[data-cam-track="' + CSS.escape(key) + '"]')) {
      markMatched(node, trackMatches(node.liveEvent));
    }
    return;
  }
  if (ev.kind !== "plate.preview" && ev.kind !== "plate.final") return;  // visits: not shown here
  const card = liveCard(ev);
  const earlier = live.querySelector('[data-track="' + CSS.escape(trackKey(ev)) + '"]');
  if (earlier) earlier.remove();   // a final replaces its own preview
  live.prepend(card);
  while (live.children.length > MAX_LIVE) live.lastElementChild.remove();
}

function connectLive() {
  const state = document.getElementById("live-state");
  const source = new EventSource("/api/live?replay=50");
  source.onopen = () => { state.textContent = "live: connected"; state.className = "badge up"; };
  source.onerror = () => { state.textContent = "live: reconnecting"; state.className = "badge down"; };
  source.onmessage = (m) => {
    try { onLiveEvent(JSON.parse(m.data)); } catch (e) { console.warn("bad live event", e); }
  };
  source.addEventListener("gap", (m) => { console.warn("live: " + m.data + " event(s) lost (this page fell behind)"); });
}

// --- cameras ---------------------------------------------------------------------------------
async function refreshCameras() {
  const body = document.querySelector("#cameras tbody");
  const daemon = document.getElementById("daemon-state");
  try {
    const r = await fetch("/api/cameras");
    const s = await r.json();
    daemon.textContent = s.running ? "daemon: running" + (s.healthy === false ? " (unhealthy)" : "")
                                   : "daemon: not running";
    daemon.className = "badge " + (s.running && s.healthy !== false ? "up" : "down");
    body.replaceChildren(...s.cameras.map((c) => el("tr", {"data-camera": c.camera_id},
      el("td", {}, c.camera_id), el("td", {}, el("span", {class: "badge " + (c.link === "up" ? "up" : "down")}, c.link)),
      el("td", {class: "num"}, num(c.fps, 1)), el("td", {class: "num"}, num(c.processed)),
      el("td", {class: "num"}, num(c.dropped)), el("td", {class: "num"}, num(c.skipped)),
      el("td", {class: "num"}, num(c.waiting)), el("td", {class: "num"}, num(c.reconnects)))));
  } catch (e) {
    daemon.textContent = "daemon: unknown"; daemon.className = "badge down";
  }
}

// --- history ---------------------------------------------------------------------------------
async function search(offset) {
  const form = document.getElementById("search-form");
  const status = document.getElementById("search-status");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (String(v).trim()) params.set(k, String(v).trim());
  params.set("limit", PAGE);
  params.set("offset", offset);
  status.textContent = "searching…"; status.className = "hint";
  const r = await fetch("/api/events?" + params.toString());
  const body = await r.json().catch(() => ({}));
  const rows = document.querySelector("#results tbody");
  if (!r.ok) {
    status.textContent = body.detail || ("error " + r.status); status.className = "hint error";
    rows.replaceChildren();
    return;
  }
  searchOffset = offset;
  status.textContent = body.events.length ? "events " + (offset + 1) + "–" + (offset + body.events.length)
                                          : "no event matches";
  rows.replaceChildren(...body.events.map((ev) => {
    const tr = el("tr", {"data-event-id": ev.event_id},
      el("td", {}, cropImage(ev)), el("td", {}, el("span", {class: "plate"}, ev.plate)), el("td", {}, ev.camera_id),
      el("td", {}, localTime(ev.last_seen)), el("td", {class: "num"}, pct(ev.confidence)),
      el("td", {class: "num"}, ev.reads), el("td", {}, ev.travel || ""), el("td", {}, el("span", {class: "lists"})));
    markMatched(tr, ev.matches);
    return tr;
  }));
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = body.next_offset === null;
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("search-form").addEventListener("submit", (e) => { e.preventDefault(); search(0); });
  document.getElementById("prev").addEventListener("click", () => search(Math.max(0, searchOffset - PAGE)));
  document.getElementById("next").addEventListener("click", () => search(searchOffset + PAGE));
  connectLive();
  refreshCameras();
  setInterval(refreshCameras, 5000);
});
