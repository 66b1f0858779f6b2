import { createMemoryRuntime, type MemoryRuntime } from "../../src/runtime/memory.ts";
import { realRuntime } from "../_helpers.ts";
import { transportSuite } from "./_transport_suite.ts";

const rt = await realRuntime();

transportSuite("memory", () => createMemoryRuntime({ clock: rt.clock }), (m) => {
  const mem = m as MemoryRuntime;
  return ((url: string, init?: RequestInit) => mem.net.fetch(url, init)) as typeof fetch;
}).run();

transportSuite(rt.name, () => rt, () => fetch).run();
