// A fake of the two Azure control-plane services classtune talks to, on one loopback port: the Microsoft
// Entra token endpoint (OAuth2 client credentials, POST /{tenant}/oauth2/v2.0/token) and Azure Resource
// Manager's Cognitive Services deployments (PUT/GET/DELETE
// /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{account}/deployments/{name}).
// Shapes per learn.microsoft.com ("Deploy a fine-tuned model", REST tab; Entra "client credentials flow") and
// ARM's error envelope {error: {code, message}}. Every request is recorded so tests assert its shape and auth.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Parsed JSON, or the form fields of a form body. */
  body: unknown;
}

export interface FakeAzureOptions {
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** Seconds each issued token lives (Entra: about an hour). */
  tokenLifetimeSeconds?: number;
}

export type ProvisioningState = "Accepted" | "Creating" | "Succeeded" | "Failed" | "Canceled" | "Deleting";

interface StoredDeployment {
  name: string;
  id: string;
  sku: unknown;
  model: unknown;
  state: ProvisioningState;
}

export interface FakeAzure {
  /** e.g. http://127.0.0.1:PORT: pass as both armBaseURL and authorityHost. */
  url: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  requests: RecordedRequest[];
  /** Tokens issued so far (each valid until it is revoked). */
  issuedTokens: string[];
  deployments: Map<string, StoredDeployment>;
  /** Moves a deployment's provisioningState (what Azure does on its own while it provisions). */
  setState(name: string, state: ProvisioningState): void;
  /** The next request to a matching path answers with this status and ARM error, before doing anything. */
  failNext(match: { method: string; path: RegExp }, status: number, code?: string, message?: string): void;
  /** The next matching request is handled, then its connection dropped: the work is done, the answer lost. */
  loseNextAnswer(match: { method: string; path: RegExp }): void;
  revokeTokens(): void;
  close(): Promise<void>;
}

const DEPLOYMENT_PATH =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.CognitiveServices\/accounts\/([^/]+)\/deployments\/([^/]+)$/;

export async function startFakeAzure(options: FakeAzureOptions = {}): Promise<FakeAzure> {
  const tenantId = options.tenantId ?? "tenant-1111";
  const clientId = options.clientId ?? "client-2222";
  const clientSecret = options.clientSecret ?? `secret-${randomBytes(8).toString("hex")}`;
  const requests: RecordedRequest[] = [];
  const issuedTokens: string[] = [];
  const deployments = new Map<string, StoredDeployment>();
  const failures: Array<{ method: string; path: RegExp; status: number; code: string; message: string }> = [];
  const losses: Array<{ method: string; path: RegExp }> = [];

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "x-ms-request-id": randomBytes(8).toString("hex"),
    });
    res.end(text);
  };
  const armError = (res: ServerResponse, status: number, code: string, message: string) =>
    send(res, status, { error: { code, message } });

  const view = (d: StoredDeployment) => ({
    id: d.id,
    type: "Microsoft.CognitiveServices/accounts/deployments",
    name: d.name,
    sku: d.sku,
    properties: { model: d.model, provisioningState: d.state },
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://fake-azure.invalid");
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const raw = Buffer.concat(chunks).toString("utf8");
    const type = req.headers["content-type"] ?? "";
    let body: unknown;
    if (type.includes("application/x-www-form-urlencoded"))
      body = Object.fromEntries(new URLSearchParams(raw));
    else if (raw !== "") {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const method = req.method ?? "GET";
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]),
    );
    requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body });

    const failure = failures.findIndex((f) => f.method === method && f.path.test(url.pathname));
    if (failure >= 0) {
      const [f] = failures.splice(failure, 1);
      if (f) return armError(res, f.status, f.code, f.message);
    }
    const lossIndex = losses.findIndex((l) => l.method === method && l.path.test(url.pathname));
    const lose = lossIndex >= 0 ? losses.splice(lossIndex, 1).length > 0 : false;
    const answer = (status: number, payload: unknown) => {
      if (lose) req.socket.destroy();
      else send(res, status, payload);
    };

    // Entra: the client-credentials grant.
    if (method === "POST" && url.pathname === `/${tenantId}/oauth2/v2.0/token`) {
      const form = (body ?? {}) as Record<string, string>;
      if (form.grant_type !== "client_credentials") {
        return send(res, 400, {
          error: "unsupported_grant_type",
          error_description: "AADSTS70003: The app requested an unsupported grant type.\r\nTrace ID: 1",
        });
      }
      if (form.client_id !== clientId || form.client_secret !== clientSecret) {
        return send(res, 401, {
          error: "invalid_client",
          error_description:
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 2\r\nTimestamp: 2027-01-01 00:00:00Z",
        });
      }
      if (form.scope !== "https://management.azure.com/.default") {
        return send(res, 400, {
          error: "invalid_scope",
          error_description: "AADSTS70011: The provided scope is invalid.",
        });
      }
      const token = `eyJ.fake.${randomBytes(12).toString("hex")}`;
      issuedTokens.push(token);
      const lifetime = options.tokenLifetimeSeconds ?? 3599;
      return answer(200, {
        token_type: "Bearer",
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token: token,
      });
    }

    const m = DEPLOYMENT_PATH.exec(url.pathname);
    if (!m) return armError(res, 404, "InvalidResourceType", `No route for ${method} ${url.pathname}.`);
    const auth = req.headers.authorization ?? "";
    const token = /^Bearer (.+)$/.exec(auth)?.[1];
    if (!token || !issuedTokens.includes(token)) {
      return armError(
        res,
        401,
        token ? "InvalidAuthenticationToken" : "AuthenticationFailed",
        token
          ? "The access token is invalid."
          : "Authentication failed. The 'Authorization' header is missing.",
      );
    }
    if (!url.searchParams.get("api-version")) {
      return armError(
        res,
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
      );
    }
    const name = decodeURIComponent(m[4] ?? "");
    const existing = deployments.get(name);
    if (method === "GET") {
      if (!existing) return armError(res, 404, "DeploymentNotFound", `Deployment '${name}' not found.`);
      return answer(200, view(existing));
    }
    if (method === "DELETE") {
      deployments.delete(name);
      if (existing) return answer(200, {});
      res.writeHead(204);
      res.end();
      return;
    }
    if (method === "PUT") {
      const b = (body ?? {}) as { sku?: unknown; properties?: { model?: unknown } };
      if (!b.sku || !b.properties?.model) {
        return armError(
          res,
          400,
          "InvalidRequestContent",
          "The request content must have 'sku' and 'properties.model'.",
        );
      }
      const d: StoredDeployment = {
        name,
        id: url.pathname,
        sku: b.sku,
        model: b.properties.model,
        state: existing?.state === "Succeeded" ? "Succeeded" : "Creating",
      };
      deployments.set(name, d);
      return answer(existing ? 200 : 201, view(d));
    }
    return armError(res, 405, "MethodNotAllowed", `${method} is not supported here.`);
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tenantId,
    clientId,
    clientSecret,
    requests,
    issuedTokens,
    deployments,
    setState(name, state) {
      const d = deployments.get(name);
      if (!d) throw new Error(`no deployment ${name}`);
      d.state = state;
    },
    failNext(match, status, code = "InternalServerError", message = "An internal error occurred.") {
      failures.push({ ...match, status, code, message });
    },
    loseNextAnswer(match) {
      losses.push(match);
    },
    revokeTokens() {
      issuedTokens.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
