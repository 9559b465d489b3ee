// A lookup from byte strings to token ids (or ranks) without a JavaScript string per token: every token's
// bytes end to end in one array, and an open-addressing table of token indexes. Used for whole-piece lookups
// of the open models' vocabularies and for the OpenAI encodings' rank tables; stored in a cache file as it is.

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), FNV_PRIME);
  return h ^ (h >>> 15);
}

export class ByteTable {
  private readonly mask: number;

  constructor(
    readonly bytes: Uint8Array,
    /** Entry i's bytes are bytes[offsets[i], offsets[i + 1]). */
    readonly offsets: Int32Array,
    readonly ids: Int32Array,
    /** Entry index + 1 per slot (0 = empty); a power of two long. */
    readonly slots: Int32Array,
  ) {
    this.mask = slots.length - 1;
  }

  static build(entries: [Uint8Array, number][]): ByteTable {
    let length = 0;
    for (const [b] of entries) length += b.length;
    const bytes = new Uint8Array(length);
    const offsets = new Int32Array(entries.length + 1);
    const ids = new Int32Array(entries.length);
    let at = 0;
    entries.forEach(([b, id], i) => {
      bytes.set(b, at);
      offsets[i] = at;
      at += b.length;
      offsets[i + 1] = at;
      ids[i] = id;
    });
    return ByteTable.index(bytes, offsets, ids);
  }

  /** The table over entries already laid out end to end (entry i: bytes[offsets[i], offsets[i + 1]), id ids[i]). */
  static index(bytes: Uint8Array, offsets: Int32Array, ids: Int32Array): ByteTable {
    let size = 1;
    while (size < ids.length * 2) size <<= 1;
    const table = new ByteTable(bytes, offsets, ids, new Int32Array(size));
    for (let i = 0; i < ids.length; i++) {
      let slot = hashBytes(bytes, offsets[i] as number, offsets[i + 1] as number) & table.mask;
      while (table.slots[slot] !== 0) slot = (slot + 1) & table.mask;
      table.slots[slot] = i + 1;
    }
    return table;
  }

  /** The id of the bytes key[start, end), or undefined. */
  getRange(key: Uint8Array, start: number, end: number): number | undefined {
    const length = end - start;
    let slot = hashBytes(key, start, end) & this.mask;
    for (let entry = this.slots[slot] as number; entry !== 0; entry = this.slots[slot] as number) {
      const from = this.offsets[entry - 1] as number;
      if ((this.offsets[entry] as number) - from === length) {
        let i = 0;
        while (i < length && this.bytes[from + i] === key[start + i]) i++;
        if (i === length) return this.ids[entry - 1];
      }
      slot = (slot + 1) & this.mask;
    }
    return undefined;
  }

  get(key: Uint8Array): number | undefined {
    return this.getRange(key, 0, key.length);
  }
}
