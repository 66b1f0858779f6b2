/**
 * The write decision (`core/write_decision.ts`): one table of single writes with the outcome each must have,
 * then properties over random histories of writes, deletes and merges between replicas, with the cluster's
 * real record format.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { RECORD_FORMAT } from "../../src/cluster/records.ts";
import { decodeValue, encodeValue, isTombstone, latestRecord, visibleValues } from "../../src/cluster/records.ts";
import { compareBytes } from "../../src/core/_bytes.ts";
import { compareHlc, type Hlc, HLC_ZERO } from "../../src/core/hlc.ts";
import type { Stored } from "../../src/core/stored.ts";
import {
  contextOf,
  counterOf,
  descends,
  type DvvSet,
  emptySet,
  merge,
  values,
  type VersionVector,
} from "../../src/core/version.ts";
import {
  decideWrite,
  type Write,
  type WriteDecision,
  type WriteRules,
  type WriteSite,
} from "../../src/core/write_decision.ts";
import { isMeshkvError } from "../../src/errors.ts";

const NOW = 1_700_000_000_000;
const ME = "n1.aaaa";
const MEMBERS = ["n1", "n2", "n3"];
const SIBLINGS: WriteRules = { conflicts: "siblings", siblingsMax: 4, setBytesMax: 64 * 1024, format: RECORD_FORMAT };
const LWW: WriteRules = { ...SIBLINGS, conflicts: "lww" };
const site = (over: Partial<WriteSite> = {}): WriteSite => ({
  versionId: ME,
  members: MEMBERS,
  nowMs: NOW,
  lastStamp: HLC_ZERO,
  ...over,
});
const EMPTY: Stored = { set: emptySet(), expiresAt: null };

const record = (text: string) => encodeValue({ contentType: "text/plain", data: new TextEncoder().encode(text) });
const put = (
  text: string,
  context: VersionVector = [],
  over: Partial<Extract<Write, { kind: "put" }>> = {},
): Write => ({
  kind: "put",
  key: "k",
  record: record(text),
  context,
  ifNoneMatch: false,
  strict: false,
  ttlMs: null,
  ...over,
});
const del = (context: VersionVector | null, strict = false): Write => ({ kind: "delete", key: "k", context, strict });

/** The texts a reader sees, sorted. */
function seen(s: Stored, lww = false): string[] {
  return visibleValues(values(s.set), lww).map((v) => new TextDecoder().decode(v.data)).sort();
}

function ok(d: WriteDecision): Extract<WriteDecision, { ok: true }> {
  if (!d.ok) throw new Error(`expected a decision, got ${d.error.code}: ${d.error.message}`);
  return d;
}

/** Writes `texts` one after the other at `at`, each without context (concurrent with everything stored). */
function blind(texts: string[], at: Partial<WriteSite> = {}, rules = SIBLINGS, from: Stored = EMPTY): Stored {
  let s = from;
  let lastStamp = at.lastStamp ?? HLC_ZERO;
  for (const t of texts) {
    const d = ok(decideWrite(s, put(t), site({ ...at, lastStamp }), rules));
    s = d.after;
    lastStamp = d.lastStamp;
  }
  return s;
}

/** A stored set made by `versionId` whose one value carries the last-writer-wins stamp `stamp`. */
function stampedAt(stamp: Hlc, text: string, versionId = "n2.bbbb"): Stored {
  const r = RECORD_FORMAT.stamp(stamp, record(text));
  return { set: { entries: [{ node: versionId, counter: 1, values: [r], timeMs: NOW }] }, expiresAt: null };
}

// ---------------------------------------------------------------------------------------------------------
// One write at a time

interface Case {
  name: string;
  before: Stored;
  write: Write;
  rules?: WriteRules;
  at?: Partial<WriteSite>;
  /** Either the texts a reader sees afterwards, with `created`, or the error code. */
  expect: {
    seen: string[];
    created: boolean;
    siblings: number;
    expiresAt?: number | null;
    tombstones?: number;
    records?: number;
  } | { error: string; limit?: string };
}

const one = blind(["v1"]);
const two = blind(["v1", "v2"]);
const full = blind(["a", "b", "c", "d"]);
const deleted = ok(decideWrite(one, del(contextOf(one.set)), site(), SIBLINGS)).after;
const expiring: Stored = { set: one.set, expiresAt: NOW + 5000 };

const CASES: Case[] = [
  {
    name: "a put on a key never written creates it",
    before: EMPTY,
    write: put("v1"),
    expect: { seen: ["v1"], created: true, siblings: 1 },
  },
  {
    name: "a put carrying the context of everything stored supersedes it",
    before: two,
    write: put("v3", contextOf(two.set)),
    expect: { seen: ["v3"], created: false, siblings: 1 },
  },
  {
    name: "a put without context keeps what is stored as a sibling",
    before: one,
    write: put("v2"),
    expect: { seen: ["v1", "v2"], created: false, siblings: 2 },
  },
  {
    name: "a put with a partial context supersedes only what that context saw",
    before: two,
    write: put("v3", contextOf(one.set)),
    expect: { seen: ["v2", "v3"], created: false, siblings: 2 },
  },
  {
    name: "create-only on a live key fails with KEY_EXISTS",
    before: one,
    write: put("v2", [], { ifNoneMatch: true }),
    expect: { error: "KEY_EXISTS" },
  },
  {
    name: "create-only on a deleted key succeeds and says created",
    before: deleted,
    write: put("v2", contextOf(deleted.set), { ifNoneMatch: true }),
    expect: { seen: ["v2"], created: true, siblings: 1, tombstones: 0 },
  },
  {
    name: "create-only on a key never written succeeds",
    before: EMPTY,
    write: put("v1", [], { ifNoneMatch: true }),
    expect: { seen: ["v1"], created: true, siblings: 1 },
  },
  {
    name: "a strict put with the current context succeeds",
    before: two,
    write: put("v3", contextOf(two.set), { strict: true }),
    expect: { seen: ["v3"], created: false, siblings: 1 },
  },
  {
    name: "a strict put with a stale context fails with STALE_CONTEXT",
    before: two,
    write: put("v3", contextOf(one.set), { strict: true }),
    expect: { error: "STALE_CONTEXT" },
  },
  {
    name: "a strict put without context on a stored key fails with STALE_CONTEXT",
    before: one,
    write: put("v2", [], { strict: true }),
    expect: { error: "STALE_CONTEXT" },
  },
  {
    name: "a delete with the context of everything leaves one tombstone and no value",
    before: two,
    write: del(contextOf(two.set)),
    expect: { seen: [], created: false, siblings: 0, tombstones: 1 },
  },
  {
    name: "a delete without context deletes everything stored here",
    before: two,
    write: del(null),
    expect: { seen: [], created: false, siblings: 0, tombstones: 1 },
  },
  {
    name: "a delete with a partial context leaves the value it did not see",
    before: two,
    write: del(contextOf(one.set)),
    expect: { seen: ["v2"], created: false, siblings: 1, tombstones: 1 },
  },
  {
    name: "a strict delete with a stale context fails with STALE_CONTEXT",
    before: two,
    write: del(contextOf(one.set), true),
    expect: { error: "STALE_CONTEXT" },
  },
  {
    name: "a strict delete without context is checked against what is stored, so it succeeds",
    before: two,
    write: del(null, true),
    expect: { seen: [], created: false, siblings: 0 },
  },
  {
    name: "a delete keeps the stored expiry",
    before: expiring,
    write: del(null),
    expect: { seen: [], created: false, siblings: 0, expiresAt: NOW + 5000 },
  },
  {
    name: "a put with a ttl expires ttl after now",
    before: EMPTY,
    write: put("v1", [], { ttlMs: 1000 }),
    expect: { seen: ["v1"], created: true, siblings: 1, expiresAt: NOW + 1000 },
  },
  {
    name: "a put without a ttl clears the stored expiry",
    before: expiring,
    write: put("v2", contextOf(one.set)),
    expect: { seen: ["v2"], created: false, siblings: 1, expiresAt: null },
  },
  {
    name: "a write that would make one sibling too many fails with LIMIT_EXCEEDED siblingsMax",
    before: full,
    write: put("e"),
    expect: { error: "LIMIT_EXCEEDED", limit: "siblingsMax" },
  },
  {
    name: "a write that resolves the siblings of a full key succeeds",
    before: full,
    write: put("e", contextOf(full.set)),
    expect: { seen: ["e"], created: false, siblings: 1 },
  },
  {
    name: "a delete on a full key is not refused: it adds no live sibling",
    before: full,
    write: del([]),
    expect: { seen: ["a", "b", "c", "d"], created: false, siblings: 4, tombstones: 1 },
  },
  {
    name: "a write whose versions would take more than setBytesMax fails with LIMIT_EXCEEDED setBytesMax",
    before: one,
    write: put("x".repeat(200)),
    rules: { ...SIBLINGS, setBytesMax: 200 },
    expect: { error: "LIMIT_EXCEEDED", limit: "setBytesMax" },
  },
  {
    name: "last-writer-wins: a put without context supersedes what is stored",
    before: blind(["v1"], {}, LWW),
    write: put("v2"),
    rules: LWW,
    expect: { seen: ["v2"], created: false, siblings: 1, records: 1 },
  },
  {
    name: "last-writer-wins: a delete without context leaves only its tombstone",
    before: blind(["v1"], {}, LWW),
    write: del([]),
    rules: LWW,
    expect: { seen: [], created: false, siblings: 0, records: 1, tombstones: 1 },
  },
  {
    name: "last-writer-wins: a put supersedes a stored write stamped in the future",
    before: stampedAt({ wallMs: NOW + 60_000, logical: 3 }, "future"),
    write: put("now"),
    rules: LWW,
    expect: { seen: ["now"], created: false, siblings: 1 },
  },
  {
    name: "last-writer-wins: create-only on a live key fails with KEY_EXISTS",
    before: blind(["v1"], {}, LWW),
    write: put("v2", [], { ifNoneMatch: true }),
    rules: LWW,
    expect: { error: "KEY_EXISTS" },
  },
  {
    name:
      "last-writer-wins: create-only succeeds when the latest write is a delete, even beside an older concurrent value",
    before: {
      set: merge(
        stampedAt({ wallMs: NOW - 10, logical: 0 }, "old").set,
        ok(decideWrite(EMPTY, del(null), site({ versionId: "n3.cccc" }), LWW)).after.set,
      ),
      expiresAt: null,
    },
    write: put("new", [], { ifNoneMatch: true }),
    rules: LWW,
    expect: { seen: ["new"], created: true, siblings: 1 },
  },
];

for (const c of CASES) {
  test(`decideWrite: ${c.name}`, () => {
    const lww = (c.rules ?? SIBLINGS).conflicts === "lww";
    const d = decideWrite(c.before, c.write, site(c.at), c.rules ?? SIBLINGS);
    if ("error" in c.expect) {
      assert.ok(
        !d.ok && isMeshkvError(d.error, c.expect.error as "KEY_EXISTS"),
        d.ok ? "it succeeded" : `${d.error.code}: ${d.error.message}`,
      );
      if (c.expect.limit !== undefined) assert.is((d.error.details as { limit?: string }).limit, c.expect.limit);
      assert.is((d.error.details as { key?: string }).key, "k", "the error names the key");
      return;
    }
    const r = ok(d);
    assert.equal(seen(r.after, lww), c.expect.seen);
    assert.is(r.created, c.expect.created, "created");
    assert.is(r.siblings, c.expect.siblings, "siblings");
    if (c.expect.expiresAt !== undefined) assert.is(r.after.expiresAt, c.expect.expiresAt, "expiresAt");
    if (c.expect.tombstones !== undefined) {
      assert.is(values(r.after.set).filter(isTombstone).length, c.expect.tombstones, "tombstones");
    }
    if (c.expect.records !== undefined) {
      assert.is(values(r.after.set).length, c.expect.records, "records, values and tombstones");
    }
    assert.is(
      counterOf(contextOf(r.after.set), ME),
      counterOf(contextOf(c.before.set), ME) + 1,
      "the new version is this replica's next dot",
    );
  });
}

test("decideWrite: a refused last-writer-wins write still returns the stamp it used, so the next one is later", () => {
  const before = blind(["a", "b", "c", "d"]);
  const d = decideWrite(before, put("e"), site({ nowMs: NOW }), { ...LWW, setBytesMax: 10 });
  assert.ok(!d.ok && d.error.code === "LIMIT_EXCEEDED");
  assert.ok(compareHlc(d.lastStamp, HLC_ZERO) > 0, "the stamp advanced");
  const refusedEarly = decideWrite(
    before,
    put("e", [], { ifNoneMatch: true }),
    site({ lastStamp: { wallMs: 5, logical: 1 } }),
    LWW,
  );
  assert.equal(
    refusedEarly.lastStamp,
    { wallMs: 5, logical: 1 },
    "a write refused before stamping leaves the stamp as it was",
  );
});

test("decideWrite: a last-writer-wins stamp is later than the replica's last stamp when the wall clock went back", () => {
  const d = ok(decideWrite(EMPTY, put("v"), site({ nowMs: NOW - 1000, lastStamp: { wallMs: NOW, logical: 7 } }), LWW));
  assert.equal(d.lastStamp, { wallMs: NOW, logical: 8 });
  assert.equal(RECORD_FORMAT.stampOf(values(d.after.set)[0]!), d.lastStamp, "the record carries that stamp");
});

test("decideWrite: old empty version entries of nodes that left are pruned; members' entries never are", () => {
  const gone = Array.from(
    { length: 12 },
    (_, i) => ({
      node: `gone${String(i).padStart(2, "0")}.ffff`,
      counter: 1,
      values: [] as Uint8Array[],
      timeMs: NOW - 2 * 86_400_000,
    }),
  );
  // The member's entry is the oldest, so it would be the first to go if members were not kept.
  const member = { node: "n3.cccc", counter: 1, values: [] as Uint8Array[], timeMs: NOW - 3 * 86_400_000 };
  const set: DvvSet<Uint8Array> = { entries: [...gone, member].sort((a, b) => (a.node < b.node ? -1 : 1)) };
  const r = ok(decideWrite({ set, expiresAt: null }, put("v"), site(), SIBLINGS));
  const nodes = r.after.set.entries.map((e) => e.node);
  assert.ok(nodes.includes("n3.cccc"), "the member's entry stays");
  assert.ok(nodes.includes(ME), "the new version's entry is there");
  assert.is(nodes.length, 10, "pruned down to entriesMin");
});

test("decideWrite: the stored state passed in is left unchanged", () => {
  const before = blind(["v1", "v2"]);
  const copy = structuredClone(before);
  decideWrite(before, put("v3", contextOf(before.set)), site(), SIBLINGS);
  decideWrite(before, del(null), site(), LWW);
  assert.equal(before, copy);
});

// ---------------------------------------------------------------------------------------------------------
// Properties over random histories: three replicas write (with a context read from any of them, or none),
// delete and merge each other's copies, as replication, read repair and anti-entropy do.

const REPLICAS = ["n1.aaaa", "n2.bbbb", "n3.cccc"] as const;
type Step =
  | { kind: "put"; at: number; ctxFrom: number | null; clockMs: number }
  | { kind: "delete"; at: number; ctxFrom: number | null; clockMs: number }
  | { kind: "sync"; to: number; from: number };
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("put" as const),
      at: fc.nat(2),
      ctxFrom: fc.option(fc.nat(2), { nil: null }),
      clockMs: fc.integer({ min: -50, max: 50 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("delete" as const),
      at: fc.nat(2),
      ctxFrom: fc.option(fc.nat(2), { nil: null }),
      clockMs: fc.integer({ min: -50, max: 50 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("sync" as const), to: fc.nat(2), from: fc.nat(2) }) },
);
const BIG: WriteRules = { ...SIBLINGS, siblingsMax: 1000, setBytesMax: 1 << 20 };

/** Runs `steps` on three replicas (writes refused by a limit leave the replica as it was). */
function history(
  steps: readonly Step[],
  rules: WriteRules,
  textOf = (n: number) => `w${n}`,
): { stores: Stored[]; stamps: Hlc[] } {
  const stores: Stored[] = REPLICAS.map(() => EMPTY);
  const stamps: Hlc[] = REPLICAS.map(() => HLC_ZERO);
  let n = 0;
  for (const s of steps) {
    if (s.kind === "sync") {
      stores[s.to] = { set: merge(stores[s.to]!.set, stores[s.from]!.set), expiresAt: null };
      continue;
    }
    const ctx = s.ctxFrom === null ? (s.kind === "put" ? [] : null) : contextOf(stores[s.ctxFrom]!.set);
    const write = s.kind === "put" ? put(textOf(n++), ctx ?? []) : del(ctx);
    const d = decideWrite(
      stores[s.at]!,
      write,
      site({ versionId: REPLICAS[s.at]!, nowMs: NOW + s.clockMs, lastStamp: stamps[s.at]! }),
      rules,
    );
    stamps[s.at] = d.lastStamp;
    if (d.ok) stores[s.at] = d.after;
  }
  return { stores, stamps };
}

const arbHistory = fc.array(arbStep, { maxLength: 25 });
const arbReplica = fc.nat(2);

test("decideWrite: a value that is already a sibling is replaced by the write, not copied; a different older value of the same node is never dropped for it", () => {
  const twice = blind(["v", "v"]);
  assert.equal(seen(twice), ["v"]);
  assert.is(values(twice.set).length, 1, "one record stored");
  assert.is(counterOf(contextOf(twice.set), ME), 2, "the second write's dot");
  const n2 = (texts: string[]) => blind(texts, { versionId: "n2.bbbb" });
  const n3v = blind(["v"], { versionId: "n3.cccc" });
  // v by n2 and w by n3, merged; a blind v by n1 replaces n2's v.
  const vw = { set: merge(n2(["v"]).set, blind(["w"], { versionId: "n3.cccc" }).set), expiresAt: null };
  let d = ok(decideWrite(vw, put("v"), site(), SIBLINGS));
  assert.equal(seen(d.after), ["v", "w"]);
  assert.is(values(d.after.set).length, 2);
  assert.is(d.siblings, 2);
  // n2 holds [x, v] (v older): v's dot is covered, x stays.
  d = ok(decideWrite({ set: merge(n2(["v", "x"]).set, n3v.set), expiresAt: null }, put("v"), site(), SIBLINGS));
  assert.equal(seen(d.after), ["v", "x"]);
  assert.is(values(d.after.set).length, 2, "n2's and n3's copies of v replaced, x kept");
  // n2 holds [v, x] (x older): covering n2's v would cover x too, so it stays; the reader sees v once.
  d = ok(decideWrite(n2(["x", "v"]), put("v"), site(), SIBLINGS));
  assert.equal(seen(d.after), ["v", "x"]);
  assert.is(values(d.after.set).length, 3);
  assert.is(d.siblings, 2, "the client is told the values a reader sees");
  // Repeated blind writes of one value never reach siblingsMax (4 here).
  assert.equal(seen(blind(["v", "v", "v", "v", "v", "v"])), ["v"]);
});

test("property: a blind put leaves every other value a reader saw and its own value once", () => {
  fc.assert(
    fc.property(arbHistory, arbReplica, fc.nat(3), (steps, at, pick) => {
      const text = (n: number) => `t${n % 3}`; // few texts, so the same value is written again and again
      const before = history(steps, BIG, text).stores[at]!;
      const mine = `t${pick}`;
      const r = ok(decideWrite(before, put(mine), site({ versionId: REPLICAS[at]! }), BIG));
      assert.equal(seen(r.after), [...new Set([...seen(before), mine])].sort());
      assert.is(r.siblings, seen(r.after).length);
      assert.ok(descends(contextOf(r.after.set), contextOf(before.set)), "the history is kept");
    }),
    { numRuns: 300 },
  );
});

test("property: a put carrying the context of everything stored leaves exactly its own value", () => {
  for (const rules of [BIG, { ...BIG, conflicts: "lww" as const }]) {
    fc.assert(
      fc.property(arbHistory, arbReplica, (steps, at) => {
        const before = history(steps, rules).stores[at]!;
        const r = ok(
          decideWrite(before, put("mine", contextOf(before.set)), site({ versionId: REPLICAS[at]! }), rules),
        );
        assert.equal(seen(r.after, rules.conflicts === "lww"), ["mine"]);
        assert.is(values(r.after.set).length, 1, "no tombstone or older value is kept either");
        assert.is(r.siblings, 1);
        assert.ok(descends(contextOf(r.after.set), contextOf(before.set)), "the new context covers the old one");
      }),
      { numRuns: 200 },
    );
  }
});

test("property: writes without context on distinct replicas all survive a merge as siblings, up to siblingsMax", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 6 }), (writes, siblingsMax) => {
      const rules = { ...SIBLINGS, siblingsMax };
      let merged: Stored = EMPTY;
      let refused = 0;
      for (let i = 0; i < writes; i++) {
        // Each replica writes on the merge of what came before (a blind write sees nothing, so each is concurrent).
        const d = decideWrite(merged, put(`w${i}`), site({ versionId: `n${i}.0000`, members: [] }), rules);
        if (d.ok) merged = d.after;
        else {
          assert.ok(isMeshkvError(d.error, "LIMIT_EXCEEDED"));
          refused++;
        }
      }
      assert.is(seen(merged).length, Math.min(writes, siblingsMax));
      assert.is(refused, Math.max(0, writes - siblingsMax));
    }),
    { numRuns: 200 },
  );
});

test("property: a delete with the context of everything stored leaves one tombstone, no value, the history kept", () => {
  fc.assert(
    fc.property(arbHistory, arbReplica, (steps, at) => {
      const before = history(steps, BIG).stores[at]!;
      const r = ok(decideWrite(before, del(contextOf(before.set)), site({ versionId: REPLICAS[at]! }), BIG));
      assert.equal(seen(r.after), []);
      assert.equal(values(r.after.set).map(isTombstone), [true]);
      assert.ok(descends(contextOf(r.after.set), contextOf(before.set)));
      assert.is(r.created, false);
    }),
    { numRuns: 200 },
  );
});

test("property: with last-writer-wins the latest write on a replica is what it shows, whatever its clock did", () => {
  const LWW_BIG = { ...BIG, conflicts: "lww" as const };
  fc.assert(
    fc.property(
      arbHistory,
      arbReplica,
      fc.integer({ min: -100_000, max: 100 }),
      fc.boolean(),
      (steps, at, skewMs, deleting) => {
        const { stores, stamps } = history(steps, LWW_BIG);
        const before = stores[at]!;
        const write = deleting ? del([]) : put("latest");
        const r = ok(
          decideWrite(
            before,
            write,
            site({ versionId: REPLICAS[at]!, nowMs: NOW + skewMs, lastStamp: stamps[at]! }),
            LWW_BIG,
          ),
        );
        assert.equal(seen(r.after, true), deleting ? [] : ["latest"]);
        assert.ok(r.siblings <= 1);
        assert.is(values(r.after.set).length, 1, "the write supersedes everything stored here");
        assert.ok(compareHlc(r.lastStamp, stamps[at]!) > 0, "stamps only move forward");
        for (const v of values(before.set)) {
          assert.ok(
            compareHlc(r.lastStamp, RECORD_FORMAT.stampOf(v)) > 0,
            "later than every stored stamp",
          );
        }
        const latest = latestRecord(values(r.after.set));
        if (!deleting) assert.equal(RECORD_FORMAT.stampOf(latest[0]!), r.lastStamp);
      },
    ),
    { numRuns: 200 },
  );
});

test("property: with last-writer-wins, replicas that merged everything show the write with the newest stamp (ties by bytes)", () => {
  const LWW_BIG = { ...BIG, conflicts: "lww" as const };
  fc.assert(
    fc.property(arbHistory, (steps) => {
      const { stores } = history(steps, LWW_BIG);
      const all = stores.reduce((a, b) => ({ set: merge(a.set, b.set), expiresAt: null }));
      // Equal stamps (two replicas, one wall clock) are ordered by the record bytes, the same on every replica.
      const later = (r: Uint8Array, best: Uint8Array) =>
        (compareHlc(RECORD_FORMAT.stampOf(r), RECORD_FORMAT.stampOf(best)) || compareBytes(r, best)) > 0;
      const newest = values(all.set).reduce<Uint8Array | null>(
        (best, r) => (best === null || later(r, best) ? r : best),
        null,
      );
      const shown = latestRecord(values(all.set));
      if (newest === null || isTombstone(newest)) assert.equal(shown, []);
      else assert.equal(decodeValue(shown[0]!), decodeValue(newest));
    }),
    { numRuns: 200 },
  );
});

test("property: create-only succeeds exactly when a reader would see no value", () => {
  for (const rules of [BIG, { ...BIG, conflicts: "lww" as const }]) {
    fc.assert(
      fc.property(arbHistory, arbReplica, (steps, at) => {
        const before = history(steps, rules).stores[at]!;
        const d = decideWrite(
          before,
          put("new", contextOf(before.set), { ifNoneMatch: true }),
          site({ versionId: REPLICAS[at]! }),
          rules,
        );
        const visible = seen(before, rules.conflicts === "lww").length;
        if (visible > 0) assert.ok(!d.ok && d.error.code === "KEY_EXISTS");
        else assert.ok(d.ok && d.created);
      }),
      { numRuns: 200 },
    );
  }
});

test("property: a strict write succeeds exactly when its context covers everything stored", () => {
  fc.assert(
    fc.property(arbHistory, arbReplica, arbReplica, (steps, at, readFrom) => {
      const { stores } = history(steps, BIG);
      const context = contextOf(stores[readFrom]!.set);
      const d = decideWrite(
        stores[at]!,
        put("cas", context, { strict: true }),
        site({ versionId: REPLICAS[at]! }),
        BIG,
      );
      if (descends(context, contextOf(stores[at]!.set))) assert.ok(d.ok);
      else assert.ok(!d.ok && d.error.code === "STALE_CONTEXT");
    }),
    { numRuns: 300 },
  );
});

test("property: the decision is a function of its arguments (same input, same output)", () => {
  fc.assert(
    fc.property(arbHistory, arbReplica, fc.boolean(), (steps, at, lww) => {
      const rules = lww ? { ...BIG, conflicts: "lww" as const } : BIG;
      const before = history(steps, rules).stores[at]!;
      const a = decideWrite(before, put("x"), site({ versionId: REPLICAS[at]! }), rules);
      const b = decideWrite(before, put("x"), site({ versionId: REPLICAS[at]! }), rules);
      assert.equal(a, b);
    }),
    { numRuns: 100 },
  );
});

test.run();
