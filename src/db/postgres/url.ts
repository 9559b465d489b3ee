// A PostgreSQL URL in messages: the password hidden, the server named. Kept apart from pool.ts so the configuration
// (which checks DATABASE_URL) does not load the pg driver, about 0.1–0.2 s, on every CLI command.

const SECRET_PARAMS = /^(password|sslpassword|sslkey)$/i;

/** `url` for a message or a log: the password (and any password or key parameter) replaced by "***". */
export function redactUrl(url: string): string {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  // An "@" after the authority: a password written unencoded (with a "/", "#", "?" or "@" in it) that the parse cut
  // in two, or that does not parse at all. Hide everything between "//user:" and the last "@", and every query.
  if (u === undefined || `${u.pathname}${u.search}${u.hash}`.includes("@")) {
    return url.replace(/(\/\/[^/:@]*:).*@/, "$1***@").replace(/\?.*$/, "?***");
  }
  if (u.password !== "") u.password = "***";
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_PARAMS.test(key)) u.searchParams.set(key, "***");
  }
  return u.toString();
}

/** "host:port" of `url` (port 5432 when none is given), for a message naming where it could not connect. */
export function postgresAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "5432"}`;
  } catch {
    return "(an unparsable PostgreSQL URL)";
  }
}
