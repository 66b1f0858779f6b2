/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * The live parts of the dashboard, as hono/jsx components rendered on the server: the ring picture, the member
 * table, the traffic charts, hints, anti-entropy, partition moves and the settings check. The page renders
 * them once; the page's script then fetches them again from `/ui/data` (as HTML inside JSON) and swaps them
 * in, so one renderer draws both the first paint and every update and the browser needs no template code.
 *
 * The pragma above makes each runtime compile the JSX with hono's runtime even when the working directory's
 * tsconfig says nothing about JSX (`npx meshkv` runs tsx with the user's directory as its project).
 */
import type { Child, FC } from "hono/jsx";
import type { DashboardView } from "./view.ts";
import { type TrafficSample, UI_SAMPLE_INTERVAL_MS } from "./samples.ts";

/** The ids of the parts the script replaces on every poll, with their renderers. */
export const LIVE_PARTS: Record<string, FC<{ v: DashboardView }>> = {
  "part-summary": ({ v }) => <Summary v={v} />,
  "part-ring": ({ v }) => <Ring v={v} />,
  "part-members": ({ v }) => <Members v={v} />,
  "part-traffic": ({ v }) => <Traffic v={v} />,
  "part-hints": ({ v }) => <Hints v={v} />,
  "part-ae": ({ v }) => <AntiEntropy v={v} />,
  "part-moves": ({ v }) => <Moves v={v} />,
  "part-config": ({ v }) => <Config v={v} />,
};

/** A member's colour: hues spread by the golden angle over the sorted member ids, so neighbours differ. */
export function colourOf(v: DashboardView, id: string): string {
  const i = v.palette.indexOf(id);
  return i < 0 ? "#bbb" : `hsl(${Math.round((i * 137.508) % 360)} 62% 52%)`;
}

export function ago(ms: number | null): string {
  if (ms === null) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

const Summary: FC<{ v: DashboardView }> = ({ v }) => (
  <dl class="summary">
    <div>
      <dt>node</dt>
      <dd id="node-id">{v.nodeId}</dd>
    </div>
    <div>
      <dt>status</dt>
      <dd class={v.ready ? "ok" : "bad"}>{v.ready ? "ready" : "not ready"}</dd>
    </div>
    <div>
      <dt>runtime</dt>
      <dd>{v.runtime}</dd>
    </div>
    <div>
      <dt>version</dt>
      <dd>{v.version}</dd>
    </div>
    <div>
      <dt>uptime</dt>
      <dd>{ago(v.uptimeMs)}</dd>
    </div>
    <div>
      <dt>members</dt>
      <dd>{v.members.filter((m) => m.status === "alive").length} alive of {v.members.length}</dd>
    </div>
    <div>
      <dt>ring</dt>
      <dd>{v.partitions.length} partitions, N={v.replicas ?? "–"}, epoch {v.ringEpoch ?? "–"}</dd>
    </div>
  </dl>
);

const RING_SIZE_PX = 300;

function arc(p: number, count: number, ro: number, ri: number): string {
  const c = RING_SIZE_PX / 2;
  const a0 = (p / count) * 2 * Math.PI - Math.PI / 2;
  const a1 = ((p + 1) / count) * 2 * Math.PI - Math.PI / 2;
  const pt = (r: number, a: number) => `${(c + r * Math.cos(a)).toFixed(2)} ${(c + r * Math.sin(a)).toFixed(2)}`;
  const large = a1 - a0 > Math.PI ? 1 : 0;
  return `M${pt(ro, a0)}A${ro} ${ro} 0 ${large} 1 ${pt(ro, a1)}L${pt(ri, a1)}A${ri} ${ri} 0 ${large} 0 ${pt(ri, a0)}Z`;
}

const Ring: FC<{ v: DashboardView }> = ({ v }) => {
  if (v.partitions.length === 0) return <p class="muted">This node has not joined a ring yet.</p>;
  const n = v.partitions.length;
  return (
    <div class="ring-wrap">
      <svg
        id="ring-svg"
        class="ring"
        viewBox={`0 0 ${RING_SIZE_PX} ${RING_SIZE_PX}`}
        width={RING_SIZE_PX}
        height={RING_SIZE_PX}
        role="img"
        aria-label={`Hash ring of ${n} partitions coloured by owner`}
      >
        {v.partitions.map((p, i) => (
          <path
            d={arc(i, n, 140, 96)}
            fill={colourOf(v, p.owner)}
            data-p={String(i)}
            data-replicas={p.replicas.join(" ")}
          >
            <title>{`partition ${i}: owner ${p.owner}; replicas ${p.replicas.join(", ")}`}</title>
          </path>
        ))}
        <text x="150" y="128" text-anchor="middle" class="ring-label">{`${n} partitions`}</text>
        <text x="150" y="180" text-anchor="middle" class="ring-label muted" id="ring-key-label"></text>
      </svg>
      <ul class="legend">
        {v.palette.map((id) => {
          const owned = v.partitions.filter((p) => p.owner === id).length;
          return (
            <li data-node={id}>
              <span class="swatch" style={`background:${colourOf(v, id)}`}></span>
              {id} <span class="muted">{owned} owned ({((owned / n) * 100).toFixed(1)}%)</span>
            </li>
          );
        })}
      </ul>
    </div>
  );
};

const Members: FC<{ v: DashboardView }> = ({ v }) => (
  <table class="members">
    <thead>
      <tr>
        <th>node</th>
        <th>datacenter</th>
        <th>rack</th>
        <th>status</th>
        <th>incarnation</th>
        <th>heartbeat age</th>
        <th>address</th>
      </tr>
    </thead>
    <tbody>
      {v.members.map((m) => (
        <tr data-node={m.id} class={m.self ? "self" : ""}>
          <td>
            <span class="swatch" style={`background:${colourOf(v, m.id)}`}></span>
            {m.id}
            {m.self ? " (this node)" : ""}
          </td>
          <td>{m.datacenter}</td>
          <td>{m.rack ?? "–"}</td>
          <td class={`st-${m.status}`}>{m.status}</td>
          <td>{m.incarnation}</td>
          <td>{ago(m.heartbeatAgoMs)}</td>
          <td>
            <a href={`${v.scheme}//${m.address}/ui`}>{m.address}</a>
          </td>
        </tr>
      ))}
    </tbody>
  </table>
);

const CHART_W = 260;
const CHART_H = 56;

/** A small line chart of one or more series over the sample intervals (null: no point). */
const Chart: FC<
  { title: string; unit: string; series: { label: string; colour: string; values: (number | null)[] }[] }
> = ({ title, unit, series }) => {
  const all = series.flatMap((s) => s.values.filter((x): x is number => x !== null));
  const max = Math.max(...all, 0) || 1;
  const count = series[0]?.values.length ?? 0;
  const x = (i: number) => ((i / Math.max(count - 1, 1)) * CHART_W).toFixed(1);
  const y = (val: number) => (CHART_H - 2 - (val / max) * (CHART_H - 6)).toFixed(1);
  const last = series.map((s) => s.values.findLast((val) => val !== null) ?? null);
  return (
    <figure class="chart">
      <figcaption>
        {title}: {series.map((s, i) => (
          <span style={`color:${s.colour}`}>
            {s.label} {last[i] === null || last[i] === undefined ? "–" : fmt(last[i]!)}
            {unit}
          </span>
        ))}
        <span class="muted">max {fmt(max)}{unit}</span>
      </figcaption>
      <svg viewBox={`0 0 ${CHART_W} ${CHART_H}`} width={CHART_W} height={CHART_H} class="spark">
        <line x1="0" y1={CHART_H - 1} x2={CHART_W} y2={CHART_H - 1} class="axis" />
        {series.map((s) => (
          <polyline
            fill="none"
            stroke={s.colour}
            stroke-width="1.5"
            points={s.values.map((val, i) => (val === null ? "" : `${x(i)},${y(val)}`)).filter(Boolean).join(" ")}
          />
        ))}
        {/* A point with no neighbour draws no line: a dot shows it. */}
        {series.flatMap((s) =>
          s.values.map((
            val,
            i,
          ) => (val !== null && (s.values[i - 1] ?? null) === null && (s.values[i + 1] ?? null) === null
            ? <circle cx={x(i)} cy={y(val)} r="2" fill={s.colour} />
            : null)
          )
        )}
      </svg>
    </figure>
  );
};

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

const NodeTraffic: FC<{ id: string; label: string; traffic: TrafficSample[] }> = ({ id, label, traffic: t }) => (
  <div class="node-traffic" data-node={id}>
    <h3>{label}</h3>
    <div class="charts">
      <Chart
        title="requests"
        unit="/s"
        series={[{
          label: "rate",
          colour: "#2563eb",
          values: t.map((s) =>
            s.ratePerSec
          ),
        }]}
      />
      <Chart
        title="latency"
        unit=" ms"
        series={[
          { label: "p50", colour: "#16a34a", values: t.map((s) => s.p50Ms) },
          {
            label: "p99",
            colour: "#9333ea",
            values: t.map((s) => s.p99Ms),
          },
        ]}
      />
      <Chart
        title="errors per interval"
        unit=""
        series={[
          { label: "5xx", colour: "#dc2626", values: t.map((s) => s.serverErrors) },
          {
            label: "4xx",
            colour: "#d97706",
            values: t.map((s) => s.clientErrors),
          },
        ]}
      />
    </div>
  </div>
);

const Traffic: FC<{ v: DashboardView }> = ({ v }) => {
  const minutes = (v.traffic.length * UI_SAMPLE_INTERVAL_MS) / 60_000;
  return (
    <div>
      <NodeTraffic id={v.nodeId} label={`${v.nodeId} (this node)`} traffic={v.traffic} />
      {v.peers.map((p) => (p.traffic
        ? <NodeTraffic id={p.id} label={p.id} traffic={p.traffic} />
        : (
          <div class="node-traffic" data-node={p.id}>
            <h3>{p.id}</h3>
            <p class="muted">No traffic from this member: {p.error}</p>
          </div>
        ))
      )}
      <p class="muted">
        Client API requests over the last {minutes} minutes, in {UI_SAMPLE_INTERVAL_MS / 1000}{" "}
        s intervals (dashboard requests left out). Each node samples its own; this page asks the other alive members for
        theirs at <code>/ui/traffic</code> with your credential.
      </p>
    </div>
  );
};

const Hints: FC<{ v: DashboardView }> = ({ v }) => {
  if (!v.hints) return <p class="muted">Not reported by this node.</p>;
  return (
    <div>
      <p>{v.hints.pending} hints pending ({bytes(v.hints.bytes)}), {v.hints.delivered} delivered.</p>
      {v.hints.perTarget.length === 0 ? <p class="muted">No backlog for any target.</p> : (
        <table>
          <thead>
            <tr>
              <th>target</th>
              <th>pending</th>
              <th>bytes</th>
              <th>oldest</th>
            </tr>
          </thead>
          <tbody>
            {v.hints.perTarget.map((h) => (
              <tr>
                <td>{h.target}</td>
                <td>{h.pending}</td>
                <td>{bytes(h.bytes)}</td>
                <td>{h.oldestMs === null ? "–" : ago(v.nowMs - h.oldestMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
};

/** Anti-entropy as a strip of cells, one per partition this node replicates, darker the longer since its last full sync. */
const AntiEntropy: FC<{ v: DashboardView }> = ({ v }) => {
  const ae = v.antiEntropy;
  if (!ae) return <p class="muted">Not reported by this node.</p>;
  const cols = 64;
  const cell = 300 / cols;
  const rows = Math.ceil(ae.partitions.length / cols);
  const ages = ae.partitions.map((p) => (p.syncedAtMs === null ? null : v.nowMs - p.syncedAtMs));
  const never = ages.filter((a) => a === null).length;
  const oldest = Math.max(0, ...ages.filter((a): a is number => a !== null));
  return (
    <div>
      <p>
        {ae.partitions.length - never} of {ae.partitions.length} partitions synced with every peer; the oldest sync is
        {" "}
        {ago(oldest)} old. {ae.exchanges} exchanges, {ae.keysRepaired} keys repaired, {ae.failures} failures.
      </p>
      <svg class="ae" viewBox={`0 0 300 ${Math.max(rows, 1) * cell}`} width="300" height={Math.max(rows, 1) * cell}>
        {ae.partitions.map((p, i) => {
          const age = ages[i]!;
          const shade = age === null
            ? "#e5e7eb"
            : `hsl(150 55% ${Math.round(Math.min(80, 35 + (age / 60_000) * 45))}%)`;
          return (
            <rect
              x={(i % cols) * cell}
              y={Math.floor(i / cols) * cell}
              width={cell - 0.5}
              height={cell - 0.5}
              fill={shade}
            >
              <title>
                {`partition ${p.partition}: ${
                  age === null ? "never synced with every peer" : `synced ${ago(age)} ago`
                }`}
              </title>
            </rect>
          );
        })}
      </svg>
    </div>
  );
};

const Moves: FC<{ v: DashboardView }> = ({ v }) => {
  const m = v.moves;
  const list = (
    ps: number[],
  ): Child => (ps.length === 0
    ? "none"
    : ps.length > 24
    ? `${ps.slice(0, 24).join(", ")} … (${ps.length})`
    : ps.join(", "));
  return (
    <ul class="plain">
      <li>
        {m
          ? (
            <>
              Acquiring: {list(m.acquiring)}; handing off: {list(m.handingOff)}. {m.keysPulled} keys pulled,{" "}
              {m.keysHandedOff} handed off.
            </>
          )
          : "Partition moves: not reported by this node."}
      </li>
      <li>
        {v.tombstones
          ? (
            <>
              Tombstones waiting: <code>{JSON.stringify(v.tombstones)}</code>
            </>
          )
          : <span class="muted">Tombstones waiting: not reported by this node's status.</span>}
      </li>
    </ul>
  );
};

const Config: FC<{ v: DashboardView }> = ({ v }) =>
  v.configMismatches.length === 0
    ? <p class="ok">Every member checked so far places keys with the same settings.</p>
    : (
      <div>
        <p class="bad">{v.configMismatches.length} member(s) place keys with other settings than this node:</p>
        <table>
          <thead>
            <tr>
              <th>node</th>
              <th>its settings</th>
            </tr>
          </thead>
          <tbody>
            {v.configMismatches.map((m) => (
              <tr>
                <td>{m.node}</td>
                <td>
                  <code>{m.theirs}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="muted">
          This node: <code>{v.signature ?? "–"}</code>
        </p>
      </div>
    );
