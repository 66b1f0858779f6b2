/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * The dashboard (DESIGN.md section 3, `GET /ui`): one server-rendered page per node and the small JSON routes
 * its script polls. Every route needs the `read` scope when tokens are on, like the rest of the read API, and
 * is open when the node runs without tokens (the CLI then listens on loopback only).
 *
 * A browser cannot send a bearer header when the user types a URL, so the page also accepts the token from a
 * cookie that `POST /ui/login` sets after checking it: `HttpOnly` (scripts cannot read it), `SameSite=Strict`
 * (other sites cannot make the browser send it) and `Path=/ui` (it opens the dashboard's read-only routes and
 * nothing else: the data API still wants the header).
 *
 * | route | answers |
 * |---|---|
 * | `GET /ui` | the page; 401 with a token form when tokens are on and none came |
 * | `GET /ui/data?epoch=` | `{ nodeId, epoch, parts: { id: html }, traffic }`: the live parts, rendered by the same components (the ring only when its epoch is not `epoch`) |
 * | `GET /ui/traffic` | `{ nodeId, intervalMs, traffic }`: this node's samples, which the other members' dashboards chart |
 * | `GET /ui/placement?key=` | `{ partition, storePartition, replicas }` from the backend's `placement` |
 * | `GET /ui/keys?prefix=&cursor=` | one page of keys (`UI_KEYS_PAGE`), `{ keys, cursor }` |
 * | `GET /ui/key?key=` | the key's live siblings with the context that supersedes them |
 * | `GET /ui/plan?change=&node=` | `{ plan, html }`: the membership plan of `POST /v1/admin/plan` and its panel |
 * | `POST /ui/login` | checks a form's token, sets the cookie, 303 to `/ui` |
 *
 * The membership plan (`change` join, leave or remove, `node`, and for a join `capacity`, `datacenter`, `rack`)
 * goes through the admin route's own checker and backend call (`planOf`), so both refuse the same input with the
 * same codes and answer the same JSON. It needs only `read` scope here, where the admin route wants `admin`: a
 * plan is a preview that changes nothing, and shows nothing a reader cannot already see (members, ring, the key
 * and byte counts of partitions). The page takes it as `/ui?plan=CHANGE&node=ID` and renders the panel itself,
 * so its form (`method="get"`) works without the script; the script fetches `/ui/plan` instead of reloading.
 */
import { getCookie } from "hono/cookie";
import type { FC } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { MeshkvError } from "../../errors.ts";
import { VERSION } from "../../version.ts";
import type { App, AppContext, Deps } from "../_deps.ts";
import { backendOf } from "../_deps.ts";
import { planOf } from "../admin_routes.ts";
import { invalid, statusOf } from "../errors.ts";
import { checkKey, decodeCursor, encodeCursor, readBody } from "../_input.ts";
import { readJson } from "../kv_routes.ts";
import { LIMITS } from "../limits.ts";
import { SCRIPT, STYLE, UI_KEYS_PAGE } from "./assets.ts";
import { LIVE_PARTS } from "./parts.tsx";
import { type PlanPanel, planPanel, planQuery, PlanResult, PlanSection } from "./plan_panel.tsx";
import { type PeerFetch, peerTraffic } from "./peers.ts";
import { UI_SAMPLE_INTERVAL_MS } from "./samples.ts";
import { buildView, type DashboardView, gather } from "./view.ts";

/** The cookie that carries a dashboard token (see the module doc for its attributes). */
export const UI_COOKIE = "meshkv_ui_token";

export interface UiNodeInfo {
  nodeId: string;
  runtime: string;
  runtimeVersion: string;
  /** How to reach the other members for their traffic (default: `fetch`); null: chart this node only. */
  peerFetch?: PeerFetch | null;
}

/**
 * Names the request `ui` (the traffic charts leave these out) and checks `read` scope from header or cookie.
 * Returns the credential as an Authorization value (to ask the other members with), if one came.
 */
function beginUi(c: AppContext, deps: Deps): string | undefined {
  c.set("op", "ui");
  const cookie = getCookie(c, UI_COOKIE);
  const authorization = c.req.header("authorization") ?? (cookie ? `Bearer ${cookie}` : undefined);
  deps.auth?.check(authorization, "read");
  return authorization;
}

/** The `key` query parameter, checked like every key the API takes. */
function keyQuery(c: AppContext): string {
  const key = c.req.query("key");
  if (key === undefined) throw invalid("Missing query parameter: key", { field: "key" });
  return checkKey(key);
}

async function view(
  c: AppContext,
  deps: Deps,
  info: UiNodeInfo,
  authorization: string | undefined,
): Promise<DashboardView> {
  const g = await gather(backendOf(deps));
  const scheme = new URL(c.req.url).protocol === "https:" ? "https:" : "http:";
  const node = { nodeId: info.nodeId, runtime: `${info.runtime} ${info.runtimeVersion}`, version: VERSION, scheme };
  const v = buildView(g, node, deps.samples.series(deps.clock.monotonic()), deps.clock.now());
  const fetchPeer = info.peerFetch === undefined
    ? (url: string, init: RequestInit) => fetch(url, init)
    : info.peerFetch;
  v.peers = await peerTraffic(v.members, info.nodeId, scheme, authorization, fetchPeer, deps.clock);
  return v;
}

const Section: FC<{ id: string; title: string; width?: "wide" | "span2"; v: DashboardView }> = (
  { id, title, width, v },
) => {
  const Part = LIVE_PARTS[id]!;
  return (
    <section class={width ?? ""}>
      <h2>{title}</h2>
      <div id={id}>
        <Part v={v} />
      </div>
    </section>
  );
};

const RingPart = LIVE_PARTS["part-ring"]!;

const Page: FC<{ v: DashboardView; plan: PlanPanel | null }> = ({ v, plan }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`meshkv: ${v.nodeId}`}</title>
      <link rel="icon" href="data:," />
      <style dangerouslySetInnerHTML={{ __html: STYLE }} />
    </head>
    <body data-polls="0">
      <header>
        <h1>meshkv</h1>
        <span id="live" class="live">not updated yet (the page polls /ui/data)</span>
      </header>
      <Section id="part-summary" title="This node" width="wide" v={v} />
      <div class="grid">
        <section>
          <h2>Ring</h2>
          <form id="placement-form">
            <input id="key" name="key" placeholder="type a key to see its replicas" autocomplete="off" />
            <button type="submit">Locate</button>
          </form>
          <p id="placement" class="muted"></p>
          <div id="part-ring">
            <RingPart v={v} />
          </div>
        </section>
        <Section id="part-members" title="Members" width="span2" v={v} />
        <Section id="part-traffic" title="Traffic per node" width="wide" v={v} />
        <Section id="part-hints" title="Hinted handoff backlog" v={v} />
        <Section id="part-ae" title="Anti-entropy" v={v} />
        <Section id="part-moves" title="Partition moves and tombstones" v={v} />
        <Section id="part-config" title="Settings check" v={v} />
        <PlanSection v={v} plan={plan} />
        <section class="wide">
          <h2>Keys</h2>
          <form id="browse-form">
            <input id="prefix" name="prefix" placeholder="key prefix (empty: all keys)" autocomplete="off" />
            <button type="submit">List</button>
          </form>
          <p id="key-status" class="muted"></p>
          <div class="keys">
            <div>
              <ol id="key-list"></ol>
              <button id="key-more" type="button" hidden>more</button>
            </div>
            <div id="key-value"></div>
          </div>
        </section>
      </div>
      <script dangerouslySetInnerHTML={{ __html: SCRIPT }} />
    </body>
  </html>
);

const Login: FC<{ message: string }> = ({ message }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <title>meshkv: sign in</title>
      <style dangerouslySetInnerHTML={{ __html: STYLE }} />
    </head>
    <body>
      <h1>meshkv dashboard</h1>
      <p class="bad">{message}</p>
      <form method="post" action="/ui/login">
        <input type="password" name="token" placeholder="a token with read scope" autocomplete="off" />
        <button type="submit">Open</button>
      </form>
    </body>
  </html>
);

const html = (node: unknown) => `<!doctype html>${String(node)}`;

export function registerUiRoutes(app: App, deps: Deps, info: UiNodeInfo): void {
  app.get("/ui", async (c) => {
    let authorization: string | undefined;
    try {
      authorization = beginUi(c, deps);
    } catch (e) {
      if (!(e instanceof MeshkvError) || e.code !== "UNAUTHORIZED") throw e;
      return c.html(
        html(<Login message={`${e.message}. This node needs a token with read scope to show its dashboard.`} />),
        401,
        { "www-authenticate": 'Bearer realm="meshkv"' },
      );
    }
    const plan = c.req.query("plan") === undefined ? null : await planPanel(c, deps);
    const status = plan && "error" in plan.result ? statusOf(plan.result.error.code) : 200;
    return c.html(
      html(<Page v={await view(c, deps, info, authorization)} plan={plan} />),
      status as ContentfulStatusCode,
      { "cache-control": "no-store" },
    );
  });

  app.get("/ui/data", async (c) => {
    const v = await view(c, deps, info, beginUi(c, deps));
    // `epoch`: the ring the page already shows; its picture is left out when the ring is still that one.
    const known = c.req.query("epoch");
    const same = known !== undefined && v.ringEpoch !== null && known === String(v.ringEpoch);
    const parts = Object.fromEntries(
      Object.entries(LIVE_PARTS).filter(([id]) => !(same && id === "part-ring")).map((
        [id, Part],
      ) => [id, String(<Part v={v} />)]),
    );
    return c.json({ nodeId: info.nodeId, epoch: v.ringEpoch, parts, traffic: v.traffic }, 200, {
      "cache-control": "no-store",
    });
  });

  app.get("/ui/traffic", (c) => {
    beginUi(c, deps);
    return c.json(
      { nodeId: info.nodeId, intervalMs: UI_SAMPLE_INTERVAL_MS, traffic: deps.samples.series(deps.clock.monotonic()) },
      200,
      { "cache-control": "no-store" },
    );
  });

  app.get("/ui/placement", async (c) => {
    beginUi(c, deps);
    const key = keyQuery(c);
    const backend = backendOf(deps);
    if (!backend.placement) {
      throw new MeshkvError("UNSUPPORTED", "Placement is not supported: this backend has no ring");
    }
    return c.json(await backend.placement(key));
  });

  app.get("/ui/keys", async (c) => {
    beginUi(c, deps);
    const prefix = c.req.query("prefix") ?? "";
    const page = await backendOf(deps).list({
      prefix: prefix === "" ? "" : checkKey(prefix, "prefix"),
      start: null,
      end: null,
      after: decodeCursor(c.req.query("cursor")),
      limit: UI_KEYS_PAGE,
      keysOnly: true,
      consistency: null,
    });
    return c.json({ keys: page.items.map((i) => i.key), cursor: page.next === null ? null : encodeCursor(page.next) });
  });

  app.get("/ui/key", async (c) => {
    beginUi(c, deps);
    const key = keyQuery(c);
    return c.json(readJson(key, await backendOf(deps).get(key, { consistency: null })));
  });

  app.get("/ui/plan", async (c) => {
    beginUi(c, deps);
    const plan = await planOf(deps, planQuery(c, "change"));
    return c.json({ plan, html: String(<PlanResult plan={plan} />) }, 200, { "cache-control": "no-store" });
  });

  app.post("/ui/login", async (c) => {
    c.set("op", "ui");
    const body = await readBody(c.req.raw, LIMITS.adminBodyBytesMax, "adminBodyBytesMax", "Login form", deps.body);
    if (!deps.auth) return c.redirect("/ui", 303);
    const token = new URLSearchParams(new TextDecoder().decode(body)).get("token") ?? "";
    try {
      deps.auth.check(`Bearer ${token}`, "read");
    } catch (e) {
      if (!(e instanceof MeshkvError)) throw e;
      return c.html(html(<Login message={e.message} />), 401);
    }
    const secure = new URL(c.req.url).protocol === "https:" ? "; Secure" : "";
    c.header("set-cookie", `${UI_COOKIE}=${encodeURIComponent(token)}; Path=/ui; HttpOnly; SameSite=Strict${secure}`);
    return c.redirect("/ui", 303);
  });
}
