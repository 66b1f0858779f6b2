/**
 * CORRUPTION errors for the storage engine. Every one names the file and the byte offset where the bad bytes
 * are, so an operator (or the cluster's repair) knows exactly what was lost; the engine reports them and keeps
 * serving everything else (design: "never served as data and never crashes the node").
 */
import { MeshkvError } from "../errors.ts";

export function corruption(
  message: string,
  file: string,
  offset: number,
  extra: Record<string, unknown> = {},
): MeshkvError {
  return new MeshkvError("CORRUPTION", `${message}: ${file} at offset ${offset}`, {
    details: { ...extra, file, offset },
  });
}
