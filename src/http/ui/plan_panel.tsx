/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * The dashboard's membership plan (issue: "the dashboard shows the same plan" as `meshkv cluster plan`): the
 * form, the query it sends, and the panel that draws one plan. Not a live part: it is drawn when the user asks,
 * by `GET /ui?plan=CHANGE&node=ID` (the page, without the script) or `GET /ui/plan` (the script). Both go
 * through the admin route's `planOf`, so they refuse what `POST /v1/admin/plan` refuses, with the same codes.
 */
import type { FC } from "hono/jsx";
import { MeshkvError } from "../../errors.ts";
import type { AppContext, Deps } from "../_deps.ts";
import { planOf } from "../admin_routes.ts";
import { bytes } from "./parts.tsx";
import type { DashboardView } from "./view.ts";

/** The fields of the admin route's plan body, read from the query (the change from `changeParam`). */
export function planQuery(c: AppContext, changeParam: "change" | "plan"): Record<string, unknown> {
  const request: Record<string, unknown> = { change: c.req.query(changeParam), node: c.req.query("node") };
  for (const field of ["capacity", "datacenter", "rack"]) {
    const value = c.req.query(field);
    // A query carries text: a capacity in digits is the number the checker wants, anything else it refuses.
    if (value !== undefined) {
      request[field] = field === "capacity" && /^[0-9]{1,9}$/.test(value) ? Number(value) : value;
    }
  }
  return request;
}

/** What the page's plan panel shows: the form's inputs and the plan, or the error that refused it. */
export interface PlanPanel {
  change: string;
  node: string;
  result: { plan: Record<string, unknown> } | { error: { code: string; message: string } };
}

/** The plan `/ui?plan=` asks for; a refusal is shown in the panel (the page answers with its status). */
export async function planPanel(c: AppContext, deps: Deps): Promise<PlanPanel> {
  const request = planQuery(c, "plan");
  const inputs = { change: c.req.query("plan") ?? "", node: c.req.query("node") ?? "" };
  try {
    return { ...inputs, result: { plan: await planOf(deps, request) } };
  } catch (e) {
    if (!(e instanceof MeshkvError)) throw e;
    return { ...inputs, result: { error: { code: e.code, message: e.message } } };
  }
}

export const PlanSection: FC<{ v: DashboardView; plan: PlanPanel | null }> = ({ v, plan }) => (
  <section class="wide">
    <h2>Membership plan</h2>
    <form id="plan-form" method="get" action="/ui">
      <select id="plan-change" name="plan">
        {["leave", "remove", "join"].map((change) => (
          <option value={change} selected={plan?.change === change}>{change}</option>
        ))}
      </select>
      <input
        id="plan-node"
        name="node"
        list="plan-nodes"
        placeholder="node id"
        autocomplete="off"
        value={plan?.node ?? ""}
      />
      <datalist id="plan-nodes">
        {v.members.map((m) => <option value={m.id} />)}
      </datalist>
      <button type="submit">Preview</button>
    </form>
    <div id="plan">
      {plan ? <PlanResult {...plan.result} /> : (
        <p class="muted">
          Which partitions a join, leave or removal would move, from where to where, with keys and bytes (the preview of
          {" "}
          <code>meshkv cluster plan</code>). Nothing changes.
        </p>
      )}
    </div>
  </section>
);

interface PlanMove {
  partition: number;
  to: string[];
  from: string[];
  drop?: string[];
  keys: number | null;
  bytes: number | null;
}

/**
 * One membership plan (the JSON of `POST /v1/admin/plan`) with what `meshkv cluster plan` prints: the change and
 * the node's status, the backend's note, one row per moving partition (from where to where, who drops a copy,
 * keys and bytes, `?` where a replica could not be counted) and the totals. Or the error that refused the plan.
 */
export const PlanResult: FC<{ plan: Record<string, unknown> } | { error: { code: string; message: string } }> = (
  props,
) => {
  if ("error" in props) {
    return <p class="bad" data-code={props.error.code}>{`${props.error.code}: ${props.error.message}`}</p>;
  }
  const r = props.plan;
  const moves = Array.isArray(r.moves) ? (r.moves as PlanMove[]) : [];
  const count = (n: number | null) => (n === null ? "?" : String(n));
  const nodes = (ns: string[] | undefined) => (ns && ns.length > 0 ? ns.join(", ") : "–");
  const joiner = r.joiner as { capacity: number; datacenter: string; rack?: string } | undefined;
  const uncounted = Number(r.partitionsUncounted ?? 0);
  return (
    <div class="plan" data-change={String(r.change)} data-node={String(r.node)}>
      <p>
        Plan to {String(r.change)} <strong>{String(r.node)}</strong>{" "}
        ({r.status === "new" ? "not a member yet" : String(r.status)}){joiner
          ? `, as a joiner of capacity ${joiner.capacity} in datacenter ${joiner.datacenter}${
            joiner.rack === undefined ? "" : `, rack ${joiner.rack}`
          }`
          : ""}; nothing was changed.
      </p>
      {r.note ? <p class="muted">{`Note: ${String(r.note)}`}</p> : null}
      {moves.length === 0 ? null : (
        <div class="plan-moves">
          <table>
            <thead>
              <tr>
                <th>partition</th>
                <th>from → to</th>
                <th>dropped by</th>
                <th>keys</th>
                <th>bytes</th>
              </tr>
            </thead>
            <tbody>
              {moves.map((m) => (
                <tr data-p={String(m.partition)}>
                  <td>{m.partition}</td>
                  <td>{`${nodes(m.from)} → ${nodes(m.to)}`}</td>
                  <td>{nodes(m.drop)}</td>
                  <td>{count(m.keys)}</td>
                  <td title={m.bytes === null ? "" : `${m.bytes} B`}>{m.bytes === null ? "?" : bytes(m.bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="plan-total">
        {`${moves.length} partitions move, ${String(r.keys)} keys, ${bytes(Number(r.bytes ?? 0))}${
          uncounted > 0 ? ` (${uncounted} partitions could not be counted)` : ""
        }`}
      </p>
    </div>
  );
};
