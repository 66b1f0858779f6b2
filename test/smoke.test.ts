import { test } from "uvu";
import * as assert from "uvu/assert";
import { isMeshkvError, MeshkvError } from "../src/errors.ts";

test("MeshkvError carries its code", () => {
  const e = new MeshkvError("NOT_FOUND", "Missing: x");
  assert.ok(isMeshkvError(e, "NOT_FOUND"));
  assert.is(e.name, "MeshkvError");
});
test.run();
