/**
 * FNV-1a over a string's UTF-16 code units from a caller's basis (a random per-process seed, so
 * the probe sequence of a key in an open-addressing table cannot be known in advance). A signed
 * 32-bit result; the tables that use it (the memory limiter's slot index, L1's key table) shape
 * it as they need.
 */
export function fnv1a(key: string, seed: number): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h;
}
