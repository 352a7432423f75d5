/**
 * Network reach, checked before a live run changes anything (`preflight <command> --reach`): every endpoint the run
 * will touch — the PostgreSQL primary, replica and PgBouncer, Redis, Typesense, R2's S3 endpoint, each health URL, and
 * the hosts of the admin URLs the hooks dial — must accept a TCP connection and, where the link is TLS, complete a
 * TLS handshake with a verified certificate. GitHub-hosted runners cannot reach Aurora or ElastiCache (VPC only:
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/VPCs.html, "All current generation nodes are launched in
 * Amazon Virtual Private Cloud only"), so without this a run would fail at its first applier; with it, it fails before
 * anything starts, naming the endpoint (README, "Where it runs").
 *
 * How each is checked:
 * - PostgreSQL (primary, replica, PgBouncer, the admin URL's host): TCP, then the protocol's SSLRequest (Int32 8,
 *   Int32 80877103); the server answers one byte, `S` (TLS follows) or `N`
 *   (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL). On `S` the TLS handshake is
 *   completed and the certificate verified (CA from ROTATION_PG_CA_FILE, else Node's); `N` is accepted only for a
 *   loopback host (the hooks' rule, hooks/transport.ts), since the stack's URLs and the admin link require TLS.
 *   PgBouncer answers the same request (https://www.pgbouncer.org/config.html#tls-settings: client_tls_sslmode).
 * - Redis: TCP, and a TLS handshake when `rotation:redis.tls` (CA from ROTATION_REDIS_CA_FILE, else Node's).
 * - Typesense, R2, health URLs: TCP to the URL's host and port, and a TLS handshake for https:// (Node's CAs, which
 *   include NODE_EXTRA_CA_CERTS).
 *
 * No credential is sent, and none is printed: an admin URL contributes only its host and port.
 */
import { readFileSync } from "node:fs";
import { Socket, connect as tcpConnect, isIP } from "node:net";
import { TLSSocket, connect as tlsConnect } from "node:tls";
import { Group } from "../rotation/catalog";
import { isLoopbackHost } from "../rotation/rules";
import { Settings } from "../rotation/settings";

/** How an endpoint is checked. */
export type ReachKind = "tcp" | "tls" | "postgres";

export interface ReachTarget {
    /** What it is, for the message (`PostgreSQL primary`, `Redis`, `health URL`). */
    readonly name: string;
    readonly host: string;
    readonly port: number;
    readonly kind: ReachKind;
    /** The variable naming a CA bundle file for this link (read at check time), if the source has one. */
    readonly caEnv?: string;
}

export interface ReachResult {
    readonly target: ReachTarget;
    readonly ok: boolean;
    /** Why not (an error code or a short phrase), when not ok. */
    readonly reason?: string;
    readonly ms: number;
}

/** `host:port`, with IPv6 in brackets. */
export const endpoint = (t: Pick<ReachTarget, "host" | "port">) => `${isIP(t.host) === 6 ? `[${t.host}]` : t.host}:${t.port}`;

function urlTarget(name: string, url: string, caEnv?: string): ReachTarget {
    const u = new URL(url);
    const https = u.protocol === "https:" || u.protocol === "rediss:";
    const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : u.protocol === "http:" ? 80 : NaN;
    return { name, host: u.hostname.replace(/^\[|\]$/g, ""), port, kind: https ? "tls" : "tcp", ...(caEnv ? { caEnv } : {}) };
}

/** The admin URL's host and port (its credentials are not looked at), or nothing when unset or not a URL. */
function adminTarget(name: string, value: string | undefined, kind: (u: URL) => ReachKind, defaultPort: number, caEnv: string): ReachTarget[] {
    if (value === undefined || value.trim() === "") return [];
    let u: URL;
    try {
        u = new URL(value);
    } catch {
        return [];
    }
    if (!u.hostname) return [];
    return [{ name, host: u.hostname.replace(/^\[|\]$/g, ""), port: u.port ? Number(u.port) : defaultPort, kind: kind(u), caEnv }];
}

/** The commands whose live run restarts consumers and so polls the health URLs. */
const RESTARTING = new Set(["rotate", "rotate-all", "restart", "rollback"]);

/**
 * Every endpoint a live run of `command` touches, given the groups whose slots it makes valid at their source
 * (`groupsRegenerated`, automation/credentials.ts), each once, in a stable order.
 */
export function reachTargets(settings: Settings, command: string, groups: readonly Group[], env: NodeJS.ProcessEnv): ReachTarget[] {
    const out: ReachTarget[] = [];
    if (groups.includes("database")) {
        const db = settings.database;
        out.push(
            { name: "PostgreSQL primary", host: db.host, port: db.port, kind: "postgres", caEnv: "ROTATION_PG_CA_FILE" },
            { name: "PostgreSQL replica", host: db.replicaHost, port: db.port, kind: "postgres", caEnv: "ROTATION_PG_CA_FILE" },
            { name: "PgBouncer", host: db.pgbouncerHost, port: db.pgbouncerPort, kind: "postgres", caEnv: "ROTATION_PG_CA_FILE" },
            ...adminTarget("PostgreSQL admin (ROTATION_PG_ADMIN_URL)", env.ROTATION_PG_ADMIN_URL, () => "postgres", 5432, "ROTATION_PG_CA_FILE"),
        );
    }
    if (groups.includes("redis")) {
        const r = settings.redis;
        out.push(
            { name: "Redis", host: r.host, port: r.port, kind: r.tls ? "tls" : "tcp", caEnv: "ROTATION_REDIS_CA_FILE" },
            ...adminTarget("Redis admin (ROTATION_REDIS_ADMIN_URL)", env.ROTATION_REDIS_ADMIN_URL, (u) => (u.protocol === "rediss:" ? "tls" : "tcp"), 6379, "ROTATION_REDIS_CA_FILE"),
        );
    }
    if (groups.includes("typesense")) out.push(urlTarget("Typesense", settings.typesense.url));
    if (groups.includes("r2")) out.push(urlTarget("R2 S3 endpoint", settings.r2.endpoint ?? `https://${settings.r2.accountId}.r2.cloudflarestorage.com`));
    if (RESTARTING.has(command)) settings.health.urls.forEach((u) => out.push(urlTarget("health URL", u)));
    const seen = new Set<string>();
    return out.filter((t) => {
        const key = `${t.kind} ${endpoint(t)}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
    });
}

const errorCode = (err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    return typeof e.code === "string" ? e.code : (e.message ?? String(err)).split("\n")[0];
};

function caFor(t: ReachTarget, env: NodeJS.ProcessEnv): string | undefined {
    const file = t.caEnv ? env[t.caEnv] : undefined;
    return file && file.trim() !== "" ? readFileSync(file, "utf8") : undefined;
}

/** A TLS handshake over `socket` (or a new connection), with the certificate and host name verified. */
function handshake(t: ReachTarget, env: NodeJS.ProcessEnv, deadline: number, socket?: Socket): Promise<void> {
    return new Promise((resolve, reject) => {
        const ca = caFor(t, env);
        const tls: TLSSocket = tlsConnect({
            ...(socket ? { socket } : { host: t.host, port: t.port }),
            servername: isIP(t.host) ? undefined : t.host,
            rejectUnauthorized: true,
            ...(ca ? { ca } : {}),
        });
        tls.setTimeout(Math.max(1, deadline - Date.now()), () => tls.destroy(new Error("TLS handshake timed out")));
        tls.once("secureConnect", () => {
            tls.destroy();
            resolve();
        });
        tls.once("error", (err) => {
            tls.destroy();
            reject(err);
        });
    });
}

function tcp(t: ReachTarget, deadline: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
        const socket = tcpConnect({ host: t.host, port: t.port });
        socket.setTimeout(Math.max(1, deadline - Date.now()), () => socket.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
        socket.once("connect", () => {
            socket.setTimeout(0);
            resolve(socket);
        });
        socket.once("error", reject);
    });
}

/** PostgreSQL's SSLRequest: the server's one-byte answer, `S` or `N`. */
function sslRequest(socket: Socket, deadline: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const request = Buffer.alloc(8);
        request.writeInt32BE(8, 0);
        request.writeInt32BE(80877103, 4);
        socket.removeAllListeners("timeout"); // the connect phase's
        socket.setTimeout(Math.max(1, deadline - Date.now()), () => socket.destroy(new Error("no answer to the SSLRequest")));
        socket.once("data", (b: Buffer) => {
            socket.setTimeout(0);
            socket.pause();
            resolve(String.fromCharCode(b[0]));
        });
        socket.once("error", reject);
        socket.once("close", () => reject(new Error("closed without answering the SSLRequest")));
        socket.write(request);
    });
}

/** Checks one endpoint within `timeoutMs`. Never throws. */
export async function checkTarget(t: ReachTarget, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ReachResult> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    const done = (ok: boolean, reason?: string): ReachResult => ({ target: t, ok, ...(reason ? { reason } : {}), ms: Date.now() - started });
    if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) return done(false, "no port");
    try {
        if (t.kind === "tls") {
            await handshake(t, env, deadline);
            return done(true);
        }
        const socket = await tcp(t, deadline);
        if (t.kind === "tcp") {
            socket.destroy();
            return done(true);
        }
        let answer: string;
        try {
            answer = await sslRequest(socket, deadline);
        } catch (err) {
            socket.destroy();
            return done(false, errorCode(err));
        }
        if (answer === "S") {
            await handshake(t, env, deadline, socket);
            return done(true);
        }
        socket.destroy();
        if (answer === "N") return isLoopbackHost(t.host) ? done(true) : done(false, "the server does not offer TLS");
        return done(false, "not a PostgreSQL server (unexpected answer to the SSLRequest)");
    } catch (err) {
        return done(false, errorCode(err));
    }
}

/** Checks every endpoint at once, each within `timeoutMs`; the results in the targets' order. */
export function checkReach(targets: readonly ReachTarget[], env: NodeJS.ProcessEnv, timeoutMs = 5_000): Promise<ReachResult[]> {
    return Promise.all(targets.map((t) => checkTarget(t, env, timeoutMs)));
}

/** One line naming every endpoint that was not reached, or undefined when all were. */
export function unreachableLine(results: readonly ReachResult[]): string | undefined {
    const bad = results.filter((r) => !r.ok);
    if (bad.length === 0) return undefined;
    return `cannot reach ${bad.map((r) => `${r.target.name} ${endpoint(r.target)} (${r.reason})`).join(", ")}`;
}
