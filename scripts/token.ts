// Prints a JWT the local dev server accepts: npm run --silent token -- --sub alice --org acme --role SUPERVISOR
// `--console` prints the console's sign-in link instead (`…/console#token=<JWT>`; the fragment never
// reaches the server), for the origin in `--origin` (default http://127.0.0.1:$PORT, PORT default 8787).
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { devSecrets } from "./dev-secrets.ts";

const { values } = parseArgs({
  options: {
    sub: { type: "string", default: "dev-user" },
    org: { type: "string", default: "acme" },
    role: { type: "string", multiple: true, default: ["SUPERVISOR"] },
    ttl: { type: "string", default: "3600" },
    console: { type: "boolean", default: false },
    origin: { type: "string", default: `http://127.0.0.1:${process.env.PORT ?? "8787"}` },
  },
});
const roles = values.role
  .flatMap((r) => r.split(","))
  .map((r) => r.trim().toUpperCase())
  .filter(Boolean);
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error("--ttl must be a positive whole number of seconds");
  process.exit(2);
}
const secret = devSecrets().JWT_SECRET;
if (!secret) {
  console.error(".dev.vars has no JWT_SECRET");
  process.exit(2);
}
const token = await new SignJWT({ roles, org: values.org })
  .setProtectedHeader({ alg: "HS256" })
  .setSubject(values.sub)
  .setIssuedAt()
  .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
  .sign(new TextEncoder().encode(secret));
const consoleUrl = `${values.origin.replace(/\/+$/, "")}/auvious.video/composition/api/console#token=${token}`;
process.stdout.write((values.console ? consoleUrl : token) + "\n");
