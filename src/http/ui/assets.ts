/**
 * The dashboard's stylesheet and script, inlined into the page: nothing is loaded from elsewhere (no CDN, no
 * build step), so the dashboard works on an air-gapped node and a strict network policy. The script is plain
 * ES2020 that every current browser runs as is; it builds DOM nodes with `textContent`, never `innerHTML`, for
 * anything that came from a key or a value, so stored data cannot inject markup. The only HTML it inserts is
 * the server-rendered parts from `/ui/data` and the plan panel from `/ui/plan`, which hono/jsx escaped.
 */

/** How often the page asks `/ui/data` for fresh parts. */
export const UI_POLL_MS = 2_000;
/** Keys per page of the key browser. */
export const UI_KEYS_PAGE = 50;

// Typed `string`, not inferred: an inferred type is the whole literal, and the package's .d.ts would carry the
// stylesheet and script a second time (11 kB of the packed tarball).
export const STYLE: string = `
:root{font:14px/1.4 system-ui,sans-serif;color:#111;background:#f6f7f9}
body{margin:0;padding:12px 18px}
header{display:flex;align-items:baseline;gap:16px}
h1{font-size:20px;margin:0}
h2{font-size:15px;margin:0 0 8px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px;margin-top:10px}
section{background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:10px 12px}
section.wide{grid-column:1/-1}
section.span2{grid-column:span 2}
@media (max-width:900px){section.span2{grid-column:auto}}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}
th{font-weight:600;color:#555}
.muted{color:#777}.ok{color:#15803d}.bad{color:#b91c1c}
.st-alive{color:#15803d}.st-suspect{color:#b45309}.st-down,.st-left{color:#b91c1c}
.summary{display:flex;flex-wrap:wrap;gap:6px 18px;margin:0}.summary dt{color:#777;font-size:12px}.summary dd{margin:0;font-weight:600}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.ring-wrap{display:flex;gap:14px;align-items:center;flex-wrap:wrap}
.ring path{stroke:#fff;stroke-width:.3}
.ring path.dim{opacity:.55}
#ring-pointer{stroke:#111;stroke-width:2;stroke-dasharray:3 2}
.ring path.hit{stroke:#111;stroke-width:2.5;opacity:1}
.ring-label{font-size:13px}
.legend{list-style:none;padding:0;margin:0}.legend li{padding:2px 4px;border-radius:4px}
.replica{background:#fde68a}
.legend li.replica::after,tr.replica td:first-child::after{content:" ★";font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:4px 18px}.chart{margin:0}.chart figcaption{font-size:12px}
.node-traffic h3{font-size:13px;margin:6px 0 2px}
.spark .axis{stroke:#ddd}
.live{font-size:12px}.live.ok::before{content:"● ";color:#16a34a}.live.bad::before{content:"● ";color:#dc2626}
form{display:flex;gap:6px;margin-bottom:8px}
input{font:inherit;padding:3px 6px;border:1px solid #ccc;border-radius:4px;flex:1}
select{font:inherit;padding:3px 6px;border:1px solid #ccc;border-radius:4px}
.plan-moves{max-height:320px;overflow:auto}
button{font:inherit;padding:3px 10px;border:1px solid #bbb;border-radius:4px;background:#f3f4f6;cursor:pointer}
.keys{display:flex;gap:12px}.keys ol{margin:0;padding-left:22px;max-height:320px;overflow:auto;min-width:200px}
.keys ol button{border:0;background:none;padding:0;color:#1d4ed8;text-align:left}
.value pre{white-space:pre-wrap;word-break:break-all;background:#f3f4f6;padding:4px;margin:2px 0;max-height:160px;overflow:auto}
code{font-size:12px;word-break:break-all}
ul.plain{padding-left:18px;margin:0}
`;

/**
 * The page's script (an IIFE, no modules): polls `/ui/data`, locates keys on the ring, browses keys, and asks
 * `/ui/plan` for a membership plan in place of the plan form's page load (the URL keeps `?plan=&node=`).
 */
export const SCRIPT: string = `(() => {
  const POLL_MS = ${UI_POLL_MS};
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const getJson = async (url) => {
    const r = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    const body = await r.json().catch(() => null);
    if (!r.ok) throw new Error((body && body.error && body.error.message) || ("HTTP " + r.status));
    return body;
  };
  let polls = 0;
  let placement = null;
  let epoch = null;

  function highlight() {
    const svg = $("ring-svg");
    document.querySelectorAll(".replica").forEach((e) => e.classList.remove("replica"));
    if (!svg) return;
    svg.querySelectorAll("path").forEach((p) => { p.classList.toggle("hit", placement !== null && p.dataset.p === String(placement.partition)); p.classList.toggle("dim", placement !== null && p.dataset.p !== String(placement.partition)); });
    // A pointer from the centre to the key's partition: one arc of hundreds is hard to find by its outline alone.
    const old = $("ring-pointer");
    if (old) old.remove();
    const hit = placement === null ? null : svg.querySelector('path[data-p="' + placement.partition + '"]');
    if (hit) {
      const count = svg.querySelectorAll("path[data-p]").length;
      const a = ((placement.partition + 0.5) / count) * 2 * Math.PI - Math.PI / 2;
      const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      line.id = "ring-pointer";
      line.setAttribute("x1", String(150 + 70 * Math.cos(a))); line.setAttribute("y1", String(150 + 70 * Math.sin(a)));
      line.setAttribute("x2", String(150 + 146 * Math.cos(a))); line.setAttribute("y2", String(150 + 146 * Math.sin(a)));
      svg.append(line);
    }
    const label = $("ring-key-label");
    if (label) label.textContent = placement ? "partition " + placement.partition : "";
    if (!placement) return;
    for (const id of placement.replicas) document.querySelectorAll('li[data-node="' + CSS.escape(id) + '"], tr[data-node="' + CSS.escape(id) + '"]').forEach((e) => e.classList.add("replica"));
  }

  async function poll() {
    const live = $("live");
    try {
      // The ring picture is the largest part and changes only with the ring: ask for it only when the epoch moved.
      const d = await getJson("/ui/data" + (epoch === null ? "" : "?epoch=" + encodeURIComponent(epoch)));
      epoch = d.epoch;
      for (const [id, html] of Object.entries(d.parts)) { const e = $(id); if (e) e.innerHTML = html; }
      polls++;
      document.body.dataset.polls = String(polls);
      live.textContent = "live, updated " + new Date().toLocaleTimeString();
      live.className = "live ok";
      highlight();
    } catch (e) {
      live.textContent = "update failed: " + e.message;
      live.className = "live bad";
    }
  }

  async function locate(key) {
    const out = $("placement");
    out.textContent = "";
    if (!key) { placement = null; highlight(); return; }
    try {
      placement = await getJson("/ui/placement?key=" + encodeURIComponent(key));
      out.append(el("span", "Key "), el("code", key), el("span", " is in partition " + placement.partition + "; replicas: "));
      placement.replicas.forEach((r, i) => out.append(el("strong", r + (i === 0 ? " (coordinator)" : "") + (i < placement.replicas.length - 1 ? ", " : ""))));
      out.dataset.replicas = placement.replicas.join(" ");
    } catch (e) {
      placement = null;
      out.append(el("span", e.message, "bad"));
    }
    highlight();
  }

  let cursor = null;
  async function browse(prefix, more) {
    const list = $("key-list");
    const status = $("key-status");
    if (!more) { list.textContent = ""; cursor = null; }
    try {
      const page = await getJson("/ui/keys?prefix=" + encodeURIComponent(prefix) + (more && cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      for (const k of page.keys) {
        const li = el("li"); const b = el("button", k); b.type = "button"; b.dataset.key = k;
        b.addEventListener("click", () => show(k)); li.append(b); list.append(li);
      }
      cursor = page.cursor;
      $("key-more").hidden = cursor === null;
      status.textContent = list.children.length + " key(s)" + (cursor === null ? "" : ", more available");
    } catch (e) { status.textContent = e.message; }
  }

  async function show(key) {
    const box = $("key-value");
    box.textContent = "";
    box.append(el("h3", key));
    try {
      const r = await getJson("/ui/key?key=" + encodeURIComponent(key));
      if (r.values.length === 0) box.append(el("p", "No live value (absent or deleted).", "muted"));
      else box.append(el("p", r.values.length === 1 ? "1 value" : r.values.length + " siblings (concurrent writes: a write carrying the context below resolves them)"));
      r.values.forEach((v, i) => {
        const d = el("div", undefined, "value sibling");
        d.append(el("div", "#" + (i + 1) + " " + v.contentType + (v.encoding === "base64" ? " (base64)" : ""), "muted"), el("pre", v.value));
        box.append(d);
      });
      const c = el("p"); c.append(el("span", "context: ", "muted"), el("code", r.context === null ? "(none)" : r.context)); box.append(c);
      if (r.expiresAt !== null) box.append(el("p", "expires " + new Date(r.expiresAt).toISOString(), "muted"));
    } catch (e) { box.append(el("p", e.message, "bad")); }
  }

  async function plan(change, node) {
    const box = $("plan");
    box.textContent = "";
    box.append(el("p", "Planning " + change + " " + node + "…", "muted"));
    try {
      const r = await getJson("/ui/plan?change=" + encodeURIComponent(change) + "&node=" + encodeURIComponent(node));
      box.innerHTML = r.html;
      const u = new URL(location.href);
      u.searchParams.set("plan", change); u.searchParams.set("node", node);
      history.replaceState(null, "", u);
    } catch (e) { box.textContent = ""; box.append(el("p", e.message, "bad")); }
  }

  $("plan-form").addEventListener("submit", (e) => { e.preventDefault(); plan($("plan-change").value, $("plan-node").value); });
  $("placement-form").addEventListener("submit", (e) => { e.preventDefault(); locate($("key").value); });
  $("browse-form").addEventListener("submit", (e) => { e.preventDefault(); browse($("prefix").value, false); });
  $("key-more").addEventListener("click", () => browse($("prefix").value, true));
  // The URL can carry the inputs (?key=, ?prefix=, ?open=), so a view can be linked to (and tested).
  const q = new URLSearchParams(location.search);
  if (q.has("key")) { $("key").value = q.get("key"); locate(q.get("key")); }
  if (q.has("prefix")) { $("prefix").value = q.get("prefix"); browse(q.get("prefix"), false); }
  if (q.has("open")) show(q.get("open"));
  poll();
  setInterval(poll, POLL_MS);
})();`;
