// CSV for the terminal's exports: RFC 4180 quoting, CRLF rows, and a guard against formula injection — a
// spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return) as a formula, and these cells
// hold students' text. Such a cell gets a leading apostrophe (OWASP's advice): it then reads as text.
export type CsvValue = string | number | boolean | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: CsvValue): string {
  if (value === null || value === undefined) return "";
  let text = String(value);
  if (typeof value === "string" && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A header line and one line per row, each ended by CRLF. */
export function toCsv(header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
  return [header, ...rows].map((r) => `${r.map(csvCell).join(",")}\r\n`).join("");
}
