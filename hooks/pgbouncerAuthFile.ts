/**
 * PgBouncer in `auth_file` mode, for Aurora/RDS PostgreSQL: the only PgBouncer setup there that passes SCRAM through.
 * `auth_query` cannot work on Aurora: its query reads `pg_shadow`/`pg_authid`, and "AWS Aurora does not give
 * permission even to an rds_superuser to query the pg_shadow table" (https://github.com/pgbouncer/pgbouncer/issues/446).
 *
 * PgBouncer logs in to the server with a SCRAM secret from its `auth_file` only when "the SCRAM secrets are identical
 * in PgBouncer and the PostgreSQL server (same salt and iterations, not merely the same password)"
 * (https://www.pgbouncer.org/config.html#authentication-file-format). `postgresApply` computes the verifier it gives
 * to `ALTER ROLE ... PASSWORD`, so it writes that same string here: one line per slot role,
 * `"<role>" "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>"` (format: same page, "There should be at least 2
 * fields, surrounded by double quotes ... Double quotes in a field value can be escaped by writing two double
 * quotes"). Every other line of the file (the admin console's user, other applications) is kept as it is.
 *
 * Then every PgBouncer instance `RELOAD`s ("reload its configuration files ... This includes the main configuration
 * file as well as the files specified by the settings auth_file and auth_hba_file", https://www.pgbouncer.org/usage.html
 * admin console, RELOAD) through its admin console (the `pgbouncer` database, users in `admin_users`; simple query
 * protocol only, which `pg` uses for a query without parameters), and the slot role must log in through each
 * instance and run a query (which opens a server connection, so the pass-through is proven) before the hook succeeds.
 *
 * Where the file lives is an `AuthFileStore`: a Kubernetes Secret key (production: PgBouncer in EKS mounts the
 * Secret as its auth_file) or a file on this machine (a PgBouncer on the same host; the tests' real PgBouncer).
 */
import { spawnSync } from "node:child_process";
import { lookup } from "node:dns/promises";
import { chownSync, closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from "node:crypto";
import { Client, ClientConfig } from "pg";
import { parse as parseYaml } from "yaml";
import { HookInputError, Log, SourceError, firstErrorLine, redactFromNowOn, sleep } from "./hookRuntime";
import { isLoopbackHost, tlsHint } from "./transport";

/** The CA bundle variable the TLS hints name: PgBouncer's links use the PostgreSQL admin URL's TLS settings. */
const PGBOUNCER_CA_ENV = "ROTATION_PG_CA_FILE";

// ---------------------------------------------------------------------------------------------------------------
// The userlist

/** One field of a userlist line, quoted ("Double quotes in a field value can be escaped by writing two double quotes"). */
function quoteField(value: string): string {
    return `"${value.replace(/"/g, '""')}"`;
}

/** The user name of a userlist line, or undefined for a line that is no entry (blank, or not starting with a quote). */
export function userOfLine(line: string): string | undefined {
    const m = /^\s*"((?:[^"]|"")*)"/.exec(line);
    return m ? m[1].replace(/""/g, '"') : undefined;
}

/** The secret of `user`'s line, or undefined. PgBouncer ignores the rest of the line after the second field. */
export function userlistSecret(text: string, user: string): string | undefined {
    for (const line of text.split("\n")) {
        const m = /^\s*"((?:[^"]|"")*)"\s+"((?:[^"]|"")*)"/.exec(line);
        if (m && m[1].replace(/""/g, '"') === user) return m[2].replace(/""/g, '"');
    }
    return undefined;
}

/** The userlist with `user`'s line set to `secret` (replaced where it was, else appended); every other line kept. */
export function setUserlistEntry(text: string, user: string, secret: string): string {
    const entry = `${quoteField(user)} ${quoteField(secret)}`;
    const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    let found = false;
    const out = lines.flatMap((line) => {
        if (userOfLine(line) !== user) return [line];
        if (found) return []; // a duplicate line for the same user: PgBouncer would read one of them; keep only ours
        found = true;
        return [entry];
    });
    if (!found) out.push(entry);
    return `${out.join("\n")}\n`;
}

/**
 * True when `verifier` (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`) is one of `password`: the keys derived
 * from the password with the verifier's own salt and iterations are its keys (RFC 5802 section 3).
 */
export function verifierMatches(verifier: string, password: string): boolean {
    const m = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(verifier);
    if (!m) return false;
    const iterations = Number(m[1]);
    if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 1_000_000) return false;
    const salted = pbkdf2Sync(Buffer.from(password, "utf8"), Buffer.from(m[2], "base64"), iterations, 32, "sha256");
    const storedKey = createHash("sha256").update(createHmac("sha256", salted).update("Client Key").digest()).digest();
    const serverKey = createHmac("sha256", salted).update("Server Key").digest();
    const expect = Buffer.concat([storedKey, serverKey]);
    const given = Buffer.concat([Buffer.from(m[3], "base64"), Buffer.from(m[4], "base64")]);
    return given.length === expect.length && timingSafeEqual(given, expect);
}

// ---------------------------------------------------------------------------------------------------------------
// Where the userlist lives

/** Where PgBouncer's auth_file comes from. `update` is a read-modify-write that does not lose a concurrent writer's line. */
export interface AuthFileStore {
    /** Names the file or Secret (no credential). */
    readonly describe: string;
    read(): Promise<string>;
    /** Applies `change` to the current text; true when the text changed. */
    update(change: (current: string) => string): Promise<boolean>;
}

/**
 * The auth_file as a file on this machine, under an exclusive lock file beside it (the two slots' appliers may run at
 * the same time). Each write is a new file renamed over the old one, with the old one's mode, owner and group: PgBouncer
 * rereads the auth_file on RELOAD only when its device, inode, mode, owner, group, mtime (in seconds) or size changed
 * (pgbouncer/pgbouncer src/loader.c `auth_loaded`), so an in-place rewrite of the same length within the same second
 * — every verifier has the same length — would be ignored. A rename gives a new inode, but the inode it frees may be
 * reused by the next write, so the new file's mtime is also set a second past the old one's. (A Kubernetes Secret
 * volume is updated by swapping a directory of new files, on the kubelet's sync, at most once per sync.)
 */
export class FileAuthFile implements AuthFileStore {
    readonly describe: string;
    constructor(private readonly path: string) {
        this.describe = `auth_file ${path}`;
    }
    async read(): Promise<string> {
        try {
            return readFileSync(this.path, "utf8");
        } catch (err) {
            throw new SourceError(`could not read PgBouncer's ${this.describe}: ${(err as NodeJS.ErrnoException).code ?? firstErrorLine(err)}`);
        }
    }
    async update(change: (current: string) => string): Promise<boolean> {
        const lock = `${this.path}.lock`;
        const deadline = Date.now() + 10_000;
        let fd: number | undefined;
        while (fd === undefined) {
            try {
                fd = openSync(lock, "wx"); // O_CREAT | O_EXCL: one writer at a time
            } catch (err) {
                if ((err as NodeJS.ErrnoException).code !== "EEXIST" || Date.now() > deadline) {
                    throw new SourceError(`could not lock PgBouncer's ${this.describe}: ${(err as NodeJS.ErrnoException).code ?? firstErrorLine(err)}`);
                }
                await sleep(50);
            }
        }
        try {
            const current = await this.read();
            const next = change(current);
            if (next === current) return false;
            const st = statSync(this.path);
            const tmp = `${this.path}.${process.pid}.tmp`;
            try {
                writeFileSync(tmp, next, { mode: st.mode & 0o777 });
                const mine = statSync(tmp);
                if (mine.uid !== st.uid || mine.gid !== st.gid) chownSync(tmp, st.uid, st.gid);
                // A later mtime second than the file it replaces: the freed inode may be reused by the next write,
                // and PgBouncer compares mtime in whole seconds.
                const seconds = Math.max(Math.floor(Date.now() / 1000), Math.floor(st.mtimeMs / 1000) + 1);
                utimesSync(tmp, seconds, seconds);
                renameSync(tmp, this.path);
            } catch (err) {
                rmSync(tmp, { force: true });
                throw new SourceError(`could not write PgBouncer's ${this.describe}: ${(err as NodeJS.ErrnoException).code ?? firstErrorLine(err)}`);
            }
            return true;
        } finally {
            closeSync(fd);
            unlinkSync(lock);
        }
    }
}

/** How to reach the Kubernetes API: its base URL, a bearer token (or a client certificate) and the CA that issued its certificate. */
export interface KubernetesApi {
    readonly server: string;
    readonly token?: string;
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
}

/**
 * The API as the kubeconfig describes it for `context` (else its current-context): the same file and context the
 * Kubernetes provider uses (`KUBECONFIG`, else ~/.kube/config; `rotation:kubernetes.context`), so the hook acts as
 * the stack's rotation identity and the RBAC of `secrets-rotation policy` applies to it. Credentials: a `token`,
 * `tokenFile`, client certificate, or an `exec` plugin (EKS: `aws eks get-token`), run as client-go does — its
 * stdout is an ExecCredential whose `status.token` is the bearer token
 * (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins).
 * `insecure-skip-tls-verify` is refused. Undefined when there is no kubeconfig.
 */
export function kubeconfigApi(env: NodeJS.ProcessEnv = process.env, context?: string): KubernetesApi | undefined {
    const path = (env.KUBECONFIG ?? "").split(":").find((p) => p !== "") ?? (env.HOME ? `${env.HOME}/.kube/config` : undefined);
    if (path === undefined || !existsSync(path)) return undefined;
    let doc: any;
    try {
        doc = parseYaml(readFileSync(path, "utf8"));
    } catch {
        throw new HookInputError(`the kubeconfig ${path} is not valid YAML`);
    }
    const byName = (list: unknown, name: string) => (Array.isArray(list) ? list.find((e: any) => e?.name === name) : undefined);
    const contextName = context ?? doc?.["current-context"];
    const ctx = byName(doc?.contexts, contextName)?.context;
    if (!ctx) throw new HookInputError(`the kubeconfig ${path} has no context ${JSON.stringify(contextName ?? "")}`);
    const cluster = byName(doc?.clusters, ctx.cluster)?.cluster;
    const user = byName(doc?.users, ctx.user)?.user ?? {};
    if (!cluster?.server) throw new HookInputError(`the kubeconfig ${path} has no server for context ${contextName}`);
    if (cluster["insecure-skip-tls-verify"]) throw new HookInputError(`the kubeconfig's cluster for context ${contextName} skips TLS verification; refused`);
    const fileOrData = (data?: string, file?: string) => (data ? Buffer.from(data, "base64").toString("utf8") : file ? readFileSync(file, "utf8") : undefined);
    let token: string | undefined = user.token ?? (user.tokenFile ? readFileSync(user.tokenFile, "utf8").trim() : undefined);
    if (token === undefined && user.exec?.command) {
        const extra = Object.fromEntries((user.exec.env ?? []).map((e: { name: string; value: string }) => [e.name, e.value]));
        const run = spawnSync(user.exec.command, user.exec.args ?? [], { env: credentialPluginEnv(env, extra), encoding: "utf8", timeout: 60_000 });
        if (run.status !== 0) throw new SourceError(`the kubeconfig's credential plugin ${user.exec.command} failed (exit ${run.status ?? run.signal})`);
        try {
            token = JSON.parse(run.stdout).status?.token;
        } catch {
            token = undefined;
        }
        if (!token) throw new SourceError(`the kubeconfig's credential plugin ${user.exec.command} gave no ExecCredential token`);
    }
    return {
        server: cluster.server,
        token,
        ca: fileOrData(cluster["certificate-authority-data"], cluster["certificate-authority"]),
        cert: fileOrData(user["client-certificate-data"], user["client-certificate"]),
        key: fileOrData(user["client-key-data"], user["client-key"]),
    };
}

/**
 * The only process a hook starts: the kubeconfig's credential plugin (EKS: `aws eks get-token`), as kubectl and the
 * Kubernetes provider run it (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins).
 * It gets what it needs to find its own credentials — PATH, HOME, locale, KUBECONFIG, AWS_* (profile, region, web
 * identity) and the kubeconfig's `env` — and nothing else: never an admin credential this hook holds
 * (ROTATION_*, CLOUDFLARE_API_TOKEN), whatever the environment carries.
 */
export function credentialPluginEnv(env: NodeJS.ProcessEnv, extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
    const keep = (name: string) => ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "KUBECONFIG"].includes(name) || name.startsWith("AWS_");
    return { ...Object.fromEntries(Object.entries(env).filter(([name]) => keep(name))), ...extra };
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * The API as a pod sees it with its service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, the token and CA mounted at
 * /var/run/secrets/kubernetes.io/serviceaccount (https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/#without-using-a-proxy).
 * The data-plane steps run inside the cluster's network anyway (PgBouncer's Service is not reachable from outside).
 */
export function inClusterApi(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): KubernetesApi {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT ?? "443";
    if (!host) {
        throw new HookInputError("the PgBouncer auth_file is a Kubernetes Secret, but there is no kubeconfig (KUBECONFIG, ~/.kube/config) and this hook does not run in a pod (KUBERNETES_SERVICE_HOST is not set)");
    }
    try {
        return {
            server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
            token: readFileSync(`${dir}/token`, "utf8").trim(),
            ca: readFileSync(`${dir}/ca.crt`, "utf8"),
        };
    } catch (err) {
        throw new HookInputError(`could not read the pod's service account (${dir}): ${(err as NodeJS.ErrnoException).code ?? "error"}`);
    }
}

interface ApiAnswer {
    readonly status: number;
    readonly body: string;
}

/**
 * The auth_file as one key of a Kubernetes Secret that PgBouncer's pods mount. Read-modify-write with optimistic
 * concurrency: the PUT carries the `resourceVersion` it read, and the API server answers 409 Conflict when someone
 * wrote in between ("Concurrency Control and Consistency",
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions and the API conventions'
 * "Concurrency Control and Consistency"); then it reads again. RBAC: `get` and `update` on this one Secret
 * (`resourceNames`). Values are base64 in `data` (https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/secret-v1/).
 */
export class KubernetesSecretAuthFile implements AuthFileStore {
    readonly describe: string;
    constructor(
        private readonly api: KubernetesApi,
        private readonly namespace: string,
        private readonly name: string,
        private readonly key: string,
    ) {
        this.describe = `Secret ${namespace}/${name} key ${key}`;
        const url = new URL(api.server);
        if (url.protocol !== "https:" && !isLoopbackHost(url.hostname)) {
            throw new HookInputError(`the Kubernetes API at ${url.host} must be reached over https`);
        }
    }

    private path(): string {
        return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets/${encodeURIComponent(this.name)}`;
    }

    private call(method: "GET" | "PUT", body?: string): Promise<ApiAnswer> {
        const url = new URL(this.path(), this.api.server);
        const send = url.protocol === "https:" ? httpsRequest : httpRequest;
        return new Promise((resolve, reject) => {
            const req = send(
                url,
                {
                    method,
                    headers: {
                        ...(this.api.token ? { Authorization: `Bearer ${this.api.token}` } : {}),
                        Accept: "application/json",
                        ...(body !== undefined ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } : {}),
                    },
                    ...(url.protocol === "https:" ? { ca: this.api.ca, cert: this.api.cert, key: this.api.key, rejectUnauthorized: true } : {}),
                    timeout: 15_000,
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    res.on("data", (c: Buffer) => chunks.push(c));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
                    res.on("error", reject);
                },
            );
            req.on("timeout", () => req.destroy(new Error("timed out")));
            req.on("error", reject);
            req.end(body);
        }).then(
            (a) => a as ApiAnswer,
            (err: unknown) => {
                throw new SourceError(`could not reach the Kubernetes API for PgBouncer's ${this.describe}: ${firstErrorLine(err)}`);
            },
        );
    }

    private async get(): Promise<{ secret: Record<string, unknown> & { data?: Record<string, string>; metadata?: { resourceVersion?: string } }; text: string }> {
        const a = await this.call("GET");
        if (a.status !== 200) throw new SourceError(`could not read PgBouncer's ${this.describe}: the Kubernetes API answered ${a.status}${apiReason(a.body)}`);
        const secret = JSON.parse(a.body);
        const b64 = secret.data?.[this.key];
        if (b64 === undefined) throw new SourceError(`PgBouncer's ${this.describe} does not exist in the Secret; create the key (the admin console's user line) first`);
        return { secret, text: Buffer.from(b64, "base64").toString("utf8") };
    }

    async read(): Promise<string> {
        return (await this.get()).text;
    }

    async update(change: (current: string) => string): Promise<boolean> {
        for (let attempt = 0; attempt < 5; attempt++) {
            const { secret, text } = await this.get();
            const next = change(text);
            if (next === text) return false;
            const body = JSON.stringify({ ...secret, data: { ...secret.data, [this.key]: Buffer.from(next, "utf8").toString("base64") } });
            const a = await this.call("PUT", body);
            if (a.status === 200) return true;
            if (a.status !== 409) throw new SourceError(`could not write PgBouncer's ${this.describe}: the Kubernetes API answered ${a.status}${apiReason(a.body)}`);
        }
        throw new SourceError(`could not write PgBouncer's ${this.describe}: it kept changing under us (409 Conflict five times)`);
    }
}

/** The `reason` of a Kubernetes Status answer (never its message, which may quote the object). */
function apiReason(body: string): string {
    try {
        const reason = JSON.parse(body).reason;
        return typeof reason === "string" && /^[A-Za-z]{1,40}$/.test(reason) ? ` (${reason})` : "";
    } catch {
        return "";
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reload and prove

/** Where the auth_file is, as the stack file's `rotation:database.pgbouncer.authFile` says. */
export type AuthFileLocation = { readonly path: string } | { readonly secret: { readonly namespace: string; readonly name: string; readonly key: string } };

/**
 * The store for a location. A Secret is reached as the Kubernetes provider reaches the cluster — the kubeconfig and
 * `context` (`kubeconfigApi`) — or, with no kubeconfig, as the pod the hook runs in (`inClusterApi`).
 */
export function authFileStore(location: AuthFileLocation, env: NodeJS.ProcessEnv = process.env, context?: string): AuthFileStore {
    if ("path" in location) return new FileAuthFile(location.path);
    const api = kubeconfigApi(env, context) ?? inClusterApi(env);
    return new KubernetesSecretAuthFile(api, location.secret.namespace, location.secret.name, location.secret.key);
}

export interface PgBouncerTarget {
    /** PgBouncer's host (the stack file's `pgbouncerHost`) and port. */
    readonly host: string;
    readonly port: number;
    /** TLS settings: the PostgreSQL admin URL's (`pgConnection`), checked against `host`. */
    readonly ssl: ClientConfig["ssl"];
    /** The database the application reaches through PgBouncer. */
    readonly database: string;
    /**
     * The admin console's user (in PgBouncer's `admin_users`). Its password is its line in the same auth_file, in
     * plain text: whoever may write the auth_file may already add an admin user, so reading it there needs no other
     * credential.
     */
    readonly adminUser: string;
    readonly store: AuthFileStore;
    /** How long a change may take to reach every instance (a mounted Secret is refreshed on the kubelet's sync). */
    readonly timeoutMs: number;
    /** Pause between tries. */
    readonly pollMs?: number;
}

/** SQLSTATEs of a refused login: 28P01/28000 from PostgreSQL; PgBouncer answers a failed SCRAM exchange with 08P01 ("SASL authentication failed"). */
const AUTH_FAILED = ["28P01", "28000", "08P01"];

function errLine(err: unknown, caEnv: string): string {
    const code = (err as { code?: string }).code;
    const sqlstate = code && /^[0-9A-Z]{5}$/.test(code) ? ` (${code})` : "";
    return `${firstErrorLine(err)}${sqlstate}${tlsHint(err, caEnv)}`;
}

/** One PgBouncer process to reload and log in through. */
interface Instance {
    readonly config: ClientConfig;
    readonly label: string;
}

/**
 * Every instance behind PgBouncer's host: all the addresses it resolves to. A headless Service (`clusterIP: None`)
 * resolves to one A record per ready pod ("the DNS returns multiple A records",
 * https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/#services), so each pod is reloaded and
 * proven; a plain Service gives one address (then only one pod is reached: use a headless Service). TLS still verifies
 * the host name (`servername`): node's `tls.connect` checks the certificate against `servername` when given
 * (https://nodejs.org/api/tls.html#tlsconnectoptions-callback, `checkServerIdentity`), and pg passes its `ssl` object
 * to it (pg 8 lib/connection.js `upgradeToSSL`: `Object.assign({ socket }, this.ssl)`).
 */
async function instances(target: PgBouncerTarget): Promise<Instance[]> {
    const base: ClientConfig = { host: target.host, port: target.port, ssl: target.ssl, connectionTimeoutMillis: 10_000 };
    if (isLoopbackHost(target.host)) return [{ config: base, label: `${target.host}:${target.port}` }];
    let addresses: { address: string }[];
    try {
        addresses = await lookup(target.host, { all: true });
    } catch (err) {
        throw new SourceError(`PgBouncer host ${target.host} does not resolve: ${(err as NodeJS.ErrnoException).code ?? firstErrorLine(err)}`);
    }
    return addresses.map(({ address }) => ({
        config: { ...base, host: address, ssl: target.ssl && typeof target.ssl === "object" ? { ...target.ssl, servername: target.host } : target.ssl },
        label: `${target.host} (${address}:${target.port})`,
    }));
}

/** RELOAD through one instance's admin console. Any failure is the run's end: a PgBouncer that did not reload cannot be proven. */
async function reload(instance: Instance, target: PgBouncerTarget, adminPassword: string): Promise<void> {
    const c = new Client({ ...instance.config, database: "pgbouncer", user: target.adminUser, password: adminPassword });
    try {
        await c.connect();
    } catch (err) {
        const code = (err as { code?: string }).code ?? "";
        const why = AUTH_FAILED.includes(code)
            ? `its admin console refused user ${target.adminUser} (the password in ${target.store.describe} is not the one PgBouncer loaded, or the user is not in admin_users)`
            : `its admin console is unreachable`;
        throw new SourceError(`PgBouncer at ${instance.label} did not reload: ${why}: ${errLine(err, PGBOUNCER_CA_ENV)}`);
    }
    try {
        await c.query("RELOAD");
    } catch (err) {
        throw new SourceError(`PgBouncer at ${instance.label} did not reload: RELOAD failed: ${errLine(err, PGBOUNCER_CA_ENV)}`);
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** The admin console user's password: its line in the auth_file, which must be plain text (not md5 or SCRAM). */
export function adminPasswordOf(text: string, target: Pick<PgBouncerTarget, "adminUser" | "store">): string {
    const secret = userlistSecret(text, target.adminUser);
    if (secret === undefined) throw new SourceError(`PgBouncer's ${target.store.describe} has no line for the admin console user ${target.adminUser}`);
    if (/^md5[0-9a-f]{32}$/.test(secret) || secret.startsWith("SCRAM-SHA-256$")) {
        throw new SourceError(`the admin console user ${target.adminUser}'s line in PgBouncer's ${target.store.describe} must hold its password in plain text (the applier logs in with it to RELOAD)`);
    }
    return secret;
}

/** True when `role` logs in through the instance and a query runs (a server connection, so SCRAM pass-through works). */
async function logsInThrough(instance: Instance, database: string, role: string, password: string): Promise<boolean> {
    const label = instance.label;
    const c = new Client({ ...instance.config, database, user: role, password });
    try {
        await c.connect();
        await c.query("SELECT 1");
        return true;
    } catch (err) {
        const code = (err as { code?: string }).code ?? "";
        if (AUTH_FAILED.includes(code)) return false;
        throw new SourceError(`could not log in as ${role} through PgBouncer at ${label}: ${errLine(err, PGBOUNCER_CA_ENV)}`);
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** True when `role` already logs in with `password` through every instance (nothing to write or reload). */
export async function logsInThroughPgBouncer(target: PgBouncerTarget, role: string, password: string): Promise<boolean> {
    for (const instance of await instances(target)) {
        if (!(await logsInThrough(instance, target.database, role, password))) return false;
    }
    return true;
}

/**
 * RELOADs every instance and proves `role` logs in through each with `password`, retrying (reload, then login) until
 * `timeoutMs`: a Secret mounted as a volume reaches the pods "eventually", on the kubelet's periodic sync
 * (https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-files-from-a-pod; a `subPath` mount is
 * never updated, same page). A reload that fails stops at once.
 */
export async function reloadAndProve(target: PgBouncerTarget, role: string, password: string, log: Log): Promise<void> {
    const adminPassword = adminPasswordOf(await target.store.read(), target);
    redactFromNowOn(adminPassword);
    const pending = await instances(target);
    const deadline = Date.now() + target.timeoutMs;
    for (;;) {
        for (const instance of [...pending]) {
            await reload(instance, target, adminPassword);
            if (await logsInThrough(instance, target.database, role, password)) {
                pending.splice(pending.indexOf(instance), 1);
                log(`PgBouncer at ${instance.label} reloaded; ${role} logs in through it`);
            }
        }
        if (pending.length === 0) return;
        if (Date.now() > deadline) {
            throw new SourceError(
                `${role} does not log in through PgBouncer at ${pending.map((i) => i.label).join(", ")} within ${Math.round(target.timeoutMs / 1000)} s of the auth_file write (is the Secret mounted without subPath, and auth_type scram-sha-256 with no user in the database definition?)`,
            );
        }
        await sleep(target.pollMs ?? 2_000);
    }
}
