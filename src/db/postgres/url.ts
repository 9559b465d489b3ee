// A PostgreSQL URL in messages: the password hidden, the server named. Kept apart from pool.ts so the configuration
// (which checks DATABASE_URL) does not load the pg driver, about 0.1–0.2 s, on every CLI command.

const SECRET_PARAMS = /^(password|sslpassword|sslkey)$/i;

/** `url` for a message or a log: the password (and any password or key parameter) replaced by "***". */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL we can take apart: hide anything between "//user:" and "@", and every query string.
    return url.replace(/(\/\/[^/:@]*:)[^@/]*@/, "$1***@").replace(/\?.*$/, "?***");
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
