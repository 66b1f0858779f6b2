/**
 * A version: one immutable snapshot of which tables are live at which level (LevelDB's `Version`).
 *
 * Reads and iterators take a reference to the current version for as long as they use it; a flush or
 * compaction installs a new version instead of changing this one. Each table counts the versions that hold it,
 * so a table that compaction replaced is closed and its file deleted only when the last reader lets go.
 */
import { assert } from "../_assert.ts";
import type { TableReader } from "./table_reader.ts";
import type { TableMeta } from "./table_writer.ts";

export class Version {
  /** Level 0 newest first; deeper levels sorted by key, not overlapping. */
  readonly levels: readonly (readonly TableReader[])[];
  #refs = 0;
  #release: (t: TableReader) => void;

  constructor(levels: readonly (readonly TableReader[])[], release: (t: TableReader) => void) {
    this.levels = levels;
    this.#release = release;
    for (const level of levels) for (const t of level) t.refs++;
  }

  ref(): this {
    this.#refs++;
    return this;
  }

  unref(): void {
    assert(this.#refs > 0, "Version reference count stays positive");
    if (--this.#refs > 0) return;
    for (const level of this.levels) {
      for (const t of level) {
        assert(t.refs > 0, "Table reference count stays positive");
        if (--t.refs === 0) this.#release(t);
      }
    }
  }

  metas(): TableMeta[][] {
    return this.levels.map((l) => l.map((t) => t.meta));
  }

  tables(): TableReader[] {
    return this.levels.flat();
  }
}
