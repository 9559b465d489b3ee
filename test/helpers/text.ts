// Text checks for tests: what String.prototype.isWellFormed does (ES2024, beyond this project's TypeScript lib).

/** True when `s` has no lone surrogate: every UTF-16 high surrogate is followed by a low one, and vice versa. */
export function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}
