/**
 * PgBouncer in auth_file mode against a real PgBouncer (Debian's package) in front of a real PostgreSQL 15: the
 * applier writes each slot role's SCRAM verifier — the very string ALTER ROLE stored — into the userlist PgBouncer
 * reads, RELOADs it through the admin console and logs in through it (SCRAM pass-through) before succeeding; the other
 * slot's line and every other line are kept; a PgBouncer that does not reload stops the run with one line while the
 * previous credential keeps working. Also the hook as a process (its contract's PG_PGBOUNCER input), and the
 * Kubernetes Secret store of the userlist against a double of the Secrets API (optimistic concurrency with 409).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { readStackConfig } from "../automation/stacks";
import { postgresApplyContract, toEnv } from "../hooks/contracts";
import { kubernetesRbac } from "../rotation/accessPolicy";
import { postgresProofInputs } from "../rotation/postgresProofs";
import { planRotation } from "../rotation/plan";
import type { RotationRequest } from "../rotation/request";
import { parseSettings } from "../rotation/settings";
import { describeSteps } from "../rotation/steps";
import { SourceError } from "../hooks/hookRuntime";
import { FileAuthFile, KubernetesSecretAuthFile, authFileStore, kubeconfigApi, setUserlistEntry, userlistSecret, verifierMatches } from "../hooks/pgbouncerAuthFile";
import { applyPostgresSlot, bootstrapPostgres, canLogIn, scramVerifier, slotProofs } from "../hooks/postgresApply";
import { password } from "./support/fixtures";
import { runHookProcess } from "./support/hookProcess";
import { PgBouncer, startPgBouncer } from "./support/pgbouncer";
import { freePort } from "./support/ports";
import { Postgres, startPostgres } from "./support/postgres";

let pg: Postgres;
let bouncer: PgBouncer;
const ROLES = { a: "buywhere_app_a", b: "buywhere_app_b" };

beforeAll(async () => {
    pg = await startPostgres();
    bouncer = await startPgBouncer(pg.port);
    await bootstrapPostgres(pg.adminUrl, "buywhere_app", [ROLES.a, ROLES.b], "buywhere");
}, 120_000);
afterAll(async () => {
    await bouncer?.stop();
    await pg?.stop();
});

/** The PgBouncer mode as the hook's input gives it (rotation/postgresProofs.ts builds the same from the stack file). */
function mode(over: Partial<{ port: number; reloadTimeoutSeconds: number }> = {}) {
    return {
        host: "127.0.0.1",
        port: over.port ?? bouncer.port,
        adminUser: "pgb_admin",
        database: "buywhere",
        authFile: { path: bouncer.authFile },
        reloadTimeoutSeconds: over.reloadTimeoutSeconds ?? 10,
    };
}

function proofs(over: Parameters<typeof mode>[0] = {}) {
    return slotProofs(pg.adminUrl, { pgbouncer: mode(over) });
}

async function serverVerifier(role: string): Promise<string> {
    const c = new Client({ connectionString: pg.adminUrl });
    await c.connect();
    try {
        return (await c.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [role])).rows[0].rolpassword;
    } finally {
        await c.end();
    }
}

/** Logs in through PgBouncer and runs a query (a server connection: the SCRAM pass-through is exercised). */
async function throughBouncer(role: string, pw: string): Promise<boolean> {
    const c = new Client({ host: "127.0.0.1", port: bouncer.port, database: "buywhere", user: role, password: pw });
    try {
        await c.connect();
        return (await c.query("SELECT session_user AS u")).rows[0].u === role;
    } catch {
        return false;
    } finally {
        await c.end().catch(() => undefined);
    }
}

const authFileText = () => readFileSync(bouncer.authFile, "utf8");

describe("PgBouncer auth_file mode (real PgBouncer)", () => {
    const pw = { a: password(), b: password() };

    it("writes the server's exact verifier into the userlist, reloads, and the role logs in through PgBouncer", async () => {
        const logs: string[] = [];
        const r = await applyPostgresSlot(pg.adminUrl, ROLES.a, pw.a, (m) => logs.push(m), process.env, proofs());
        expect(r.changed).toBe(true);
        const listed = userlistSecret(authFileText(), ROLES.a);
        expect(listed).toBe(await serverVerifier(ROLES.a)); // identical: same salt and iterations
        expect(verifierMatches(listed!, pw.a)).toBe(true);
        expect(await throughBouncer(ROLES.a, pw.a)).toBe(true);
        expect(logs.some((l) => /PgBouncer at 127\.0\.0\.1:\d+ reloaded; buywhere_app_a logs in through it/.test(l))).toBe(true);
        expect(authFileText()).toMatch(/^"pgb_admin" "[0-9a-f]{24}"\n/); // the admin console's line is kept
        expect(logs.join("\n")).not.toContain(pw.a);
    });

    it("the other slot's line is kept: both slots log in through PgBouncer; a rerun changes nothing", async () => {
        await applyPostgresSlot(pg.adminUrl, ROLES.b, pw.b, undefined, process.env, proofs());
        expect(await throughBouncer(ROLES.a, pw.a)).toBe(true);
        expect(await throughBouncer(ROLES.b, pw.b)).toBe(true);
        const before = authFileText();
        const again = await applyPostgresSlot(pg.adminUrl, ROLES.a, pw.a, undefined, process.env, proofs());
        expect(again.changed).toBe(false);
        expect(authFileText()).toBe(before);
        expect(userlistSecret(before, ROLES.b)).toBe(await serverVerifier(ROLES.b));
    });

    it("both slots applied at the same time keep both lines (the file store's lock)", async () => {
        const next = { a: password(), b: password() };
        await Promise.all([
            applyPostgresSlot(pg.adminUrl, ROLES.a, next.a, undefined, process.env, proofs()),
            applyPostgresSlot(pg.adminUrl, ROLES.b, next.b, undefined, process.env, proofs()),
        ]);
        expect(await throughBouncer(ROLES.a, next.a)).toBe(true);
        expect(await throughBouncer(ROLES.b, next.b)).toBe(true);
        pw.a = next.a;
        pw.b = next.b;
    });

    it("rotating slot b leaves slot a (the published one) logging in through PgBouncer the whole time", async () => {
        const next = password();
        await applyPostgresSlot(pg.adminUrl, ROLES.b, next, undefined, process.env, proofs());
        // End the server side of PgBouncer's pooled connections, so the logins below open new ones (pass-through).
        const c = new Client({ connectionString: pg.adminUrl });
        await c.connect();
        await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1)", [[ROLES.a, ROLES.b]]);
        await c.end();
        expect(await throughBouncer(ROLES.a, pw.a)).toBe(true);
        expect(await throughBouncer(ROLES.b, next)).toBe(true);
        expect(await throughBouncer(ROLES.b, pw.b)).toBe(false);
        pw.b = next;
    });

    it("an unreachable admin console stops the run with one line; the previous credential still logs in", async () => {
        const closed = await freePort();
        const next = password();
        const err = await applyPostgresSlot(pg.adminUrl, ROLES.b, next, undefined, process.env, { ...proofs(), pgbouncer: { ...proofs().pgbouncer!, port: closed } }).catch((e) => e);
        expect(err).toBeInstanceOf(SourceError);
        expect(err.message).toMatch(new RegExp(`^PgBouncer at 127\\.0\\.0\\.1:${closed} did not reload: its admin console is unreachable: .*ECONNREFUSED`));
        expect(err.message).not.toContain("\n");
        expect(await throughBouncer(ROLES.a, pw.a)).toBe(true);
        expect(await canLogIn(pg.adminUrl, ROLES.a, pw.a)).toBe(true);
    });

    it("an admin console that refuses the admin's password stops the run with one line; the previous credential still logs in", async () => {
        const loaded = authFileText();
        // The admin's line changes in the file, but PgBouncer has not loaded it: its console refuses the new password.
        writeFileSync(bouncer.authFile, setUserlistEntry(loaded, "pgb_admin", "not-the-loaded-password"));
        try {
            const err = await applyPostgresSlot(pg.adminUrl, ROLES.b, password(), undefined, process.env, proofs()).catch((e) => e);
            expect(err).toBeInstanceOf(SourceError);
            expect(err.message).toMatch(
                /^PgBouncer at 127\.0\.0\.1:\d+ did not reload: its admin console refused user pgb_admin \(the password in auth_file .* is not the one PgBouncer loaded, or the user is not in admin_users\): SASL authentication failed \(08P01\)$/,
            );
            expect(await throughBouncer(ROLES.a, pw.a)).toBe(true);
            expect(await canLogIn(pg.adminUrl, ROLES.a, pw.a)).toBe(true);
        } finally {
            const now = authFileText();
            writeFileSync(bouncer.authFile, setUserlistEntry(now, "pgb_admin", userlistSecret(loaded, "pgb_admin")!));
        }
    });

    it("a userlist without the admin console's line (or with it hashed) is refused before the role changes", async () => {
        const loaded = authFileText();
        const before = await serverVerifier(ROLES.b);
        try {
            for (const [text, why] of [
                [loaded.replace(/^"pgb_admin".*\n/m, ""), /^PgBouncer's auth_file .* has no line for the admin console user pgb_admin$/],
                [setUserlistEntry(loaded, "pgb_admin", scramVerifier(password())), /^the admin console user pgb_admin's line in PgBouncer's auth_file .* must hold its password in plain text/],
            ] as const) {
                writeFileSync(bouncer.authFile, text);
                const err = await applyPostgresSlot(pg.adminUrl, ROLES.b, password(), undefined, process.env, proofs()).catch((e) => e);
                expect(err).toBeInstanceOf(SourceError);
                expect(err.message).toMatch(why);
                expect(await serverVerifier(ROLES.b)).toBe(before);
            }
        } finally {
            writeFileSync(bouncer.authFile, loaded);
        }
    });

    it("the hook as a process: PG_PGBOUNCER from its contract; exit 0, then a PgBouncer that does not reload exits 1 with one line", async () => {
        const next = password();
        const env = {
            [postgresApplyContract.adminEnv]: pg.adminUrl,
            ...toEnv(postgresApplyContract, { role: ROLES.b, password: next, pgbouncer: mode(), canary: undefined }),
        };
        const ok = await runHookProcess("postgresApply", env);
        expect(ok.stderr).toContain("reloaded; buywhere_app_b logs in through it");
        expect(ok.code).toBe(0);
        expect(await throughBouncer(ROLES.b, next)).toBe(true);
        pw.b = next;

        const closed = await freePort();
        const bad = await runHookProcess("postgresApply", {
            [postgresApplyContract.adminEnv]: pg.adminUrl,
            ...toEnv(postgresApplyContract, { role: ROLES.b, password: password(), pgbouncer: mode({ port: closed }) }),
        });
        expect(bad.code).toBe(1);
        const lines = bad.stderr.trim().split("\n");
        expect(lines[lines.length - 1]).toMatch(new RegExp(`^\\[postgres-apply\\] error: PgBouncer at 127\\.0\\.0\\.1:${closed} did not reload: its admin console is unreachable`));
        expect(bad.stderr).not.toContain(userlistSecret(authFileText(), "pgb_admin")!);
        expect(await throughBouncer(ROLES.a, pw.a)).toBe(true);
    }, 60_000);
});

describe("the userlist", () => {
    it("replaces a user's line in place, appends a new one, keeps others and escapes quotes", () => {
        const text = `"admin" "plain"\n; a comment\n"buywhere_app_a" "old"\n`;
        const v = scramVerifier(password());
        expect(setUserlistEntry(text, "buywhere_app_a", v)).toBe(`"admin" "plain"\n; a comment\n"buywhere_app_a" "${v}"\n`);
        expect(setUserlistEntry(text, "buywhere_app_b", v)).toBe(`${text}"buywhere_app_b" "${v}"\n`);
        expect(userlistSecret(`"a""b" "x""y" extra\n`, 'a"b')).toBe('x"y');
        expect(setUserlistEntry("", "u", "s")).toBe(`"u" "s"\n`);
    });

    it("a verifier matches its password only", () => {
        const pw = password();
        const v = scramVerifier(pw);
        expect(verifierMatches(v, pw)).toBe(true);
        expect(verifierMatches(v, password())).toBe(false);
        expect(verifierMatches("md5abc", pw)).toBe(false);
    });
});

/**
 * A double of the Kubernetes Secrets API (GET/PUT /api/v1/namespaces/{ns}/secrets/{name}) enforcing what the store
 * relies on: a bearer token, `data` values in base64, and optimistic concurrency — a PUT whose
 * metadata.resourceVersion is not the current one is refused with 409 Conflict
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions); each write moves resourceVersion.
 */
class SecretsApiDouble {
    server!: Server;
    version = 1;
    data: Record<string, string> = { "userlist.txt": Buffer.from(`"pgb_admin" "x"\n`).toString("base64") };
    /** Writes someone else makes just before the next PUT lands (to provoke a 409). */
    interleave = 0;
    puts = 0;
    constructor(private readonly token: string) {}
    async start(): Promise<string> {
        this.server = createServer((req, res) => this.handle(req, res));
        await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }
    stop(): Promise<void> {
        return new Promise((r) => this.server.close(() => r()));
    }
    private object() {
        return { apiVersion: "v1", kind: "Secret", metadata: { name: "pgbouncer-userlist", namespace: "production", resourceVersion: String(this.version) }, type: "Opaque", data: this.data };
    }
    private handle(req: IncomingMessage, res: ServerResponse): void {
        const send = (status: number, body: unknown) => {
            res.writeHead(status, { "Content-Type": "application/json" });
            res.end(JSON.stringify(body));
        };
        if (req.headers.authorization !== `Bearer ${this.token}`) return send(401, { kind: "Status", reason: "Unauthorized" });
        if (req.url !== "/api/v1/namespaces/production/secrets/pgbouncer-userlist") return send(404, { kind: "Status", reason: "NotFound" });
        if (req.method === "GET") return send(200, this.object());
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            this.puts++;
            if (this.interleave > 0) {
                this.interleave--;
                this.version++; // another writer got in first
            }
            const obj = JSON.parse(body);
            if (obj.metadata?.resourceVersion !== String(this.version)) return send(409, { kind: "Status", reason: "Conflict" });
            this.data = obj.data;
            this.version++;
            send(200, this.object());
        });
    }
}

describe("the userlist as a Kubernetes Secret key (double of the Secrets API)", () => {
    it("reads and writes the key, rereads after a 409 Conflict, and names a refusal by its reason", async () => {
        const api = new SecretsApiDouble("t0ken-for-the-double");
        const server = await api.start();
        try {
            const store = new KubernetesSecretAuthFile({ server, token: "t0ken-for-the-double" }, "production", "pgbouncer-userlist", "userlist.txt");
            expect(store.describe).toBe("Secret production/pgbouncer-userlist key userlist.txt");
            expect(await store.read()).toBe(`"pgb_admin" "x"\n`);
            api.interleave = 1;
            expect(await store.update((t) => setUserlistEntry(t, "buywhere_app_a", "SCRAM-SHA-256$4096:c2FsdA==$a:b"))).toBe(true);
            expect(api.puts).toBe(2); // the first PUT got 409 and the store read again
            expect(Buffer.from(api.data["userlist.txt"], "base64").toString()).toBe(`"pgb_admin" "x"\n"buywhere_app_a" "SCRAM-SHA-256$4096:c2FsdA==$a:b"\n`);
            expect(await store.update((t) => t)).toBe(false);

            const denied = new KubernetesSecretAuthFile({ server, token: "wrong" }, "production", "pgbouncer-userlist", "userlist.txt");
            await expect(denied.read()).rejects.toThrow("could not read PgBouncer's Secret production/pgbouncer-userlist key userlist.txt: the Kubernetes API answered 401 (Unauthorized)");
        } finally {
            await api.stop();
        }
        expect(() => new KubernetesSecretAuthFile({ server: "http://k8s.example.com", token: "t" }, "n", "s", "k")).toThrow("must be reached over https");
    });

    it("reaches the API as the kubeconfig's context says, with an exec credential plugin (as EKS's aws eks get-token)", async () => {
        const api = new SecretsApiDouble("t0ken-from-the-plugin");
        const server = await api.start();
        const dir = mkdtempSync(join(tmpdir(), "rotation-kubeconfig-"));
        try {
            const plugin = join(dir, "plugin.cjs");
            writeFileSync(plugin, `process.stdout.write(JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1beta1", kind: "ExecCredential", status: { token: process.env.PLUGIN_TOKEN } }))`);
            const kubeconfig = join(dir, "config");
            writeFileSync(
                kubeconfig,
                stringify({
                    apiVersion: "v1",
                    kind: "Config",
                    "current-context": "other",
                    clusters: [{ name: "c", cluster: { server } }],
                    users: [{ name: "u", user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: process.execPath, args: [plugin], env: [{ name: "PLUGIN_TOKEN", value: "t0ken-from-the-plugin" }] } } }],
                    contexts: [
                        { name: "buywhere-production", context: { cluster: "c", user: "u" } },
                        { name: "other", context: { cluster: "missing", user: "u" } },
                    ],
                }),
            );
            const env = { KUBECONFIG: kubeconfig, PATH: process.env.PATH };
            expect(kubeconfigApi(env, "buywhere-production")).toEqual({ server, token: "t0ken-from-the-plugin", ca: undefined, cert: undefined, key: undefined });
            const store = authFileStore({ secret: { namespace: "production", name: "pgbouncer-userlist", key: "userlist.txt" } }, env, "buywhere-production");
            expect(await store.read()).toBe(`"pgb_admin" "x"\n`);
            expect(() => kubeconfigApi(env, "nope")).toThrow(`the kubeconfig ${kubeconfig} has no context "nope"`);
            expect(() => kubeconfigApi(env)).toThrow(`the kubeconfig ${kubeconfig} has no server for context other`);
            expect(kubeconfigApi({ KUBECONFIG: join(dir, "absent") })).toBeUndefined();
        } finally {
            await api.stop();
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the file store is the one the real PgBouncer reads", () => {
        expect(new FileAuthFile("/etc/pgbouncer/userlist.txt").describe).toBe("auth_file /etc/pgbouncer/userlist.txt");
    });
});

describe("the stack file's PgBouncer mode", () => {
    const PGBOUNCER = { authFile: { secret: { namespace: "production", name: "pgbouncer-userlist", key: "userlist.txt" } }, adminUser: "pgbouncer_admin" };
    const withDatabase = (keys: Record<string, unknown>) => {
        const raw = readStackConfig("production");
        return parseSettings({ ...raw, "rotation:database": { ...(raw["rotation:database"] as object), ...keys } }, {}, "production");
    };

    it("reaches each slot's applier run as PG_PGBOUNCER (with the kubeconfig context), PG_REPLICA and PG_CANARY", () => {
        const settings = withDatabase({ pgbouncer: PGBOUNCER, proveReplica: true, canary: true });
        const proofs = postgresProofInputs(settings);
        expect(proofs).toEqual({
            replica: { host: settings.database.replicaHost, port: 5432 },
            pgbouncer: { host: "pgbouncer.production.svc.cluster.local", port: 6432, adminUser: "pgbouncer_admin", database: "buywhere", authFile: PGBOUNCER.authFile, reloadTimeoutSeconds: 120, context: "buywhere-production" },
            canary: true,
        });
        const env = toEnv(postgresApplyContract, { role: "buywhere_app_a", password: password(), ...proofs });
        expect(JSON.parse(env.PG_PGBOUNCER)).toEqual(proofs.pgbouncer);
        expect(env.PG_REPLICA).toBe(`${settings.database.replicaHost}:5432`);
        expect(postgresProofInputs(withDatabase({}))).toEqual({ replica: undefined, pgbouncer: undefined, canary: undefined });
    });

    it("the plan's applier runs carry them, and the plan's steps say so", () => {
        const planned = planRotation({ settings: withDatabase({ pgbouncer: PGBOUNCER, proveReplica: true, canary: true }), stored: {}, now: new Date("2026-11-25T12:00:00Z"), request: { firstDeployment: true } as RotationRequest, stack: "production" });
        if (planned.refusal) throw new Error(`refused: ${planned.refusal.kind}`);
        const runs = planned.plan.appliers.filter((r) => r.hook === "postgresApply");
        expect(runs.map((r) => r.name)).toEqual(["database-apply-a", "database-apply-b"]);
        for (const r of runs) expect((r.inputs as Record<string, unknown>).pgbouncer).toMatchObject({ adminUser: "pgbouncer_admin", authFile: PGBOUNCER.authFile });
        const steps = describeSteps(planned.plan).filter((s) => s.kind === "apply" && s.target === "database");
        expect(steps[0].detail).toBe(
            "PostgreSQL: set the password of buywhere_app_a (SCRAM verifier computed client-side) and log in with it, also through the replica, through PgBouncer after writing the same verifier into its auth_file and RELOAD, with a read/write canary; the other role is untouched",
        );
    });

    it("refuses an authFile with both or neither of secret and path", () => {
        expect(() => withDatabase({ pgbouncer: { ...PGBOUNCER, authFile: {} } })).toThrow(/must give exactly one of `secret` \(namespace, name, key\) or `path`/);
        expect(() => withDatabase({ pgbouncer: { ...PGBOUNCER, authFile: { ...PGBOUNCER.authFile, path: "/etc/pgbouncer/userlist.txt" } } })).toThrow(/exactly one/);
    });

    it("grants the stack's group get and update on that one Secret, in its namespace (valid RBAC)", () => {
        const docs = kubernetesRbac(withDatabase({ pgbouncer: PGBOUNCER }), "production") as { kind: string; metadata: { name: string } }[];
        const role = docs.find((d) => d.kind === "Role" && d.metadata.name === "secrets-rotation-pgbouncer-userlist")!;
        const binding = docs.find((d) => d.kind === "RoleBinding" && d.metadata.name === "secrets-rotation-pgbouncer-userlist")!;
        expect(role).toEqual({
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "Role",
            metadata: { name: "secrets-rotation-pgbouncer-userlist", namespace: "production" },
            rules: [{ apiGroups: [""], resources: ["secrets"], resourceNames: ["pgbouncer-userlist"], verbs: ["get", "update"] }],
        });
        expect(() => new Role(role as never).validate()).not.toThrow();
        expect(() => new RoleBinding(binding as never).validate()).not.toThrow();
        expect((binding as unknown as { subjects: unknown[] }).subjects).toEqual([{ kind: "Group", name: "buywhere:secrets-rotation:production", apiGroup: "rbac.authorization.k8s.io" }]);
        expect(kubernetesRbac(withDatabase({}), "production").length).toBe(kubernetesRbac(withDatabase({ pgbouncer: PGBOUNCER }), "production").length - 2);
    });
});
