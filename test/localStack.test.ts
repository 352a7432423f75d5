/**
 * The `local` stack (Pulumi.local.yaml) against the sandbox an SRE starts with `npm run sandbox`: the same start code
 * (test/support/localSandbox.ts) brings up moto, PostgreSQL, Redis, the Typesense and Cloudflare doubles and the
 * health endpoint on the stack file's loopback addresses and bootstraps them with the CLI; the ENGINE EMULATOR
 * (test/support/engineEmulator.ts, not Pulumi) then runs the real program as `secrets-rotation ... --stack local`
 * would: a first deployment, a full rotation, a failed rotation and its rollback. The run's environment holds no
 * AWS_ENDPOINT_URL: every AWS call reaches moto through the stack's own provider endpoints (`rotation:aws.endpoint`),
 * every R2 token is issued by the Cloudflare double through the provider's `baseUrl` (`rotation:r2.apiBaseUrl`).
 * Also: the stack file validates, and anything non-loopback in it is refused.
 */
import { DescribeServicesCommand, ECSClient, ListTagsForResourceCommand } from "@aws-sdk/client-ecs";
import { GetSecretValueCommand, ListSecretsCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { TRIGGER_TAG } from "../hooks/ecsRedeploy";
import { GROUPS } from "../rotation/catalog";
import { contextServer, kubeconfigPaths } from "../rotation/kubeconfig";
import { REQUEST_ENV, RotationRequest, encodeRequest } from "../rotation/request";
import { LOCAL_STACK, parseSettings } from "../rotation/settings";
import { REAL_BIN, runCli, sandbox as cliSandbox } from "./support/cli";
import { EngineEmulator, UpdateResult } from "./support/engineEmulator";
import { LocalSandbox, exportLines, startLocalSandbox } from "./support/localSandbox";
import { postgresAccepts, redisAccepts } from "./support/logins";
import { installPulumiDouble } from "./support/pulumiCliDouble";
import { ROOT } from "./support/pulumiProgram";

const stackFile = () => (parse(readFileSync(join(ROOT, "Pulumi.local.yaml"), "utf8")) as { config: Record<string, unknown> }).config;

describe("the local stack file", () => {
    it("validates like the others, and every address in it is loopback", () => {
        const s = parseSettings(stackFile(), {}, LOCAL_STACK);
        expect(s.aws.endpoint).toBe("http://127.0.0.1:14566");
        expect(s.r2.apiBaseUrl).toBe("http://127.0.0.1:18787/client/v4");
        expect(s.kubernetes).toBeUndefined(); // Kubernetes off by default
        expect(s.redis.tls).toBe(false);
    });

    const withKey = (key: string, patch: Record<string, unknown>) => ({ ...stackFile(), [key]: { ...(stackFile()[key] as object), ...patch } });
    it.each([
        ["rotation:database", { host: "db.internal.example" }, "`rotation:database.host` \"db.internal.example\" is not a loopback address"],
        ["rotation:database", { replicaHost: "10.0.0.5" }, "`rotation:database.replicaHost` \"10.0.0.5\" is not a loopback address"],
        ["rotation:redis", { host: "cache.example" }, "`rotation:redis.host` \"cache.example\" is not a loopback address"],
        ["rotation:typesense", { url: "https://search.example" }, "`rotation:typesense.url` \"https://search.example\" is not a loopback address"],
        ["rotation:health", { urls: ["http://127.0.0.1:18080/health", "http://api.example/health"] }, "`rotation:health.urls[1]` \"http://api.example/health\" is not a loopback address"],
        ["rotation:aws", { endpoint: "https://secretsmanager.ap-southeast-1.amazonaws.com" }, "`rotation:aws.endpoint` \"https://secretsmanager.ap-southeast-1.amazonaws.com\" is not a loopback address"],
        ["rotation:aws", { endpoint: undefined }, "`rotation:aws.endpoint` is required for the `local` stack"],
        ["rotation:r2", { apiBaseUrl: undefined }, "`rotation:r2.apiBaseUrl` is required for the `local` stack"],
        ["rotation:r2", { apiBaseUrl: "https://api.cloudflare.com/client/v4" }, "`rotation:r2.apiBaseUrl` \"https://api.cloudflare.com/client/v4\" is not a loopback address"],
    ])("refuses %s with %j", (key, patch, message) => {
        expect(() => parseSettings(withKey(key, patch), {}, LOCAL_STACK)).toThrow(message);
    });

    it("refuses an AWS_ENDPOINT_URL* that is not loopback, and the local-only keys on any other stack", () => {
        expect(() => parseSettings(stackFile(), { AWS_ENDPOINT_URL_ECS: "https://ecs.example" }, LOCAL_STACK)).toThrow(
            '`AWS_ENDPOINT_URL_ECS` (environment variable) "https://ecs.example" is not a loopback address',
        );
        expect(parseSettings(stackFile(), { AWS_ENDPOINT_URL: "http://localhost:14566" }, LOCAL_STACK).aws.endpoint).toBe("http://127.0.0.1:14566");
        const staging = (parse(readFileSync(join(ROOT, "Pulumi.staging.yaml"), "utf8")) as { config: Record<string, any> }).config;
        expect(() => parseSettings({ ...staging, "rotation:aws": { ...staging["rotation:aws"], endpoint: "http://127.0.0.1:14566" } }, {}, "staging")).toThrow(
            "`rotation:aws.endpoint` is allowed only for the `local` stack",
        );
        expect(() => parseSettings({ ...staging, "rotation:r2": { ...staging["rotation:r2"], apiBaseUrl: "http://127.0.0.1:18787/client/v4" } }, {}, "staging")).toThrow(
            "`rotation:r2.apiBaseUrl` is allowed only for the `local` stack",
        );
    });
});

describe("the local stack's Kubernetes cluster (optional, off by default) must be on this machine", () => {
    const file = (currentContext: string | undefined, contexts: Record<string, string>, clusters: Record<string, string>) =>
        JSON.stringify({
            ...(currentContext ? { "current-context": currentContext } : {}),
            contexts: Object.entries(contexts).map(([name, cluster]) => ({ name, context: { cluster } })),
            clusters: Object.entries(clusters).map(([name, server]) => ({ name, cluster: { server } })),
        });
    it.each([
        ["the named context", [file("prod", { kind: "kind", prod: "eks" }, { kind: "https://127.0.0.1:6443", eks: "https://abc.eks.amazonaws.com" })], "kind", { server: "https://127.0.0.1:6443" }],
        ["the current context", [file("prod", { kind: "kind", prod: "eks" }, { kind: "https://127.0.0.1:6443", eks: "https://abc.eks.amazonaws.com" })], undefined, { server: "https://abc.eks.amazonaws.com" }],
        // kubectl's merge: the first file to set a key wins (contexts, clusters, current-context).
        ["the first file's entry", [file("kind", { kind: "kind" }, { kind: "https://[::1]:6443" }), file("prod", { kind: "eks" }, { kind: "https://abc.eks.amazonaws.com" })], undefined, { server: "https://[::1]:6443" }],
        ["a missing context", [file(undefined, {}, {})], "kind", { problem: 'the kubeconfig has no context "kind" with a cluster' }],
        ["no context at all", [], undefined, { problem: "no context is named (`rotation:kubernetes.context`, K8S_CONTEXT) and the kubeconfig has no current-context" }],
    ])("contextServer: %s", (_, files, context, expected) => {
        expect(contextServer(files, context)).toEqual(expected);
    });
    it("KUBECONFIG's list, else ~/.kube/config", () => {
        expect(kubeconfigPaths("/a:/b::/c", "/home/sre")).toEqual(["/a", "/b", "/c"]);
        expect(kubeconfigPaths(undefined, "/home/sre")).toEqual(["/home/sre/.kube/config"]);
    });
});

describe("the sandbox's export lines", () => {
    it("prints loopback credentials, quoted for the shell, and refuses a URL of any other host", () => {
        expect(exportLines({ A: "postgresql://admin:it's@127.0.0.1:15432/buywhere", B: "key" })).toBe(
            "export A='postgresql://admin:it'\\''s@127.0.0.1:15432/buywhere'\nexport B='key'",
        );
        expect(() => exportLines({ ROTATION_PG_ADMIN_URL: "postgresql://admin:pw@db.example:5432/buywhere" })).toThrow(
            'refusing to print ROTATION_PG_ADMIN_URL: it names "db.example", not a loopback server of the sandbox',
        );
    });
});

describe("the CLI and the local stack (stand-in engine)", () => {
    it("a live run needs no --yes (production's safeguard), while production without it is still refused", async () => {
        const s = cliSandbox();
        // The stack exists in the (stand-in) backend, as after `pulumi stack init local`.
        const local = await s.run(["rotate-all", "--stack", LOCAL_STACK], { ROTATION_STANDIN_STACKS: `staging,production,${LOCAL_STACK}` });
        expect(local.stderr).not.toContain("--yes");
        expect(local.code).toBe(0);
        expect(s.calls().map((c) => `${c.op} ${c.stack}`)).toContain(`up ${LOCAL_STACK}`);
        const production = await s.run(["rotate-all", "--stack", "production"]);
        expect(production.code).toBe(2);
        expect(production.stderr).toContain("needs --yes");
    });

    it("policy skips the local stack: exit 2, one line, nothing written", async () => {
        const r = await cliSandbox().run(["policy", "--stack", LOCAL_STACK, "--write"]);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe("error: the `local` stack has no policy: it runs on this machine against moto and test doubles, with no IAM role or cluster to grant anything to; nothing written\n");
        expect(existsSync(join(ROOT, "policy", LOCAL_STACK))).toBe(false);
    });
});

describe("the local stack under the engine emulator (not Pulumi), against the sandbox's real servers", () => {
    let sandbox: LocalSandbox;
    let emu: EngineEmulator;
    let env: NodeJS.ProcessEnv;
    let sm: SecretsManagerClient;
    let ecs: ECSClient;
    const dirs: string[] = [];
    const prefix = "buywhere/local/";

    beforeAll(async () => {
        const audit = mkdtempSync(join(tmpdir(), "local-audit-"));
        dirs.push(audit);
        sandbox = await startLocalSandbox({ env: { ROTATION_AUDIT_FILE: join(audit, "audit.jsonl") } });
        // What an SRE's shell holds after exporting the sandbox's variables: no AWS endpoint of any kind.
        env = { ...process.env, ...sandbox.env, ROTATION_AUDIT_FILE: join(audit, "audit.jsonl") };
        for (const name of Object.keys(env)) if (/^AWS_ENDPOINT_URL|^ROTATION_ALLOW_AWS_ENDPOINT$|^MOTO_ENDPOINT$/.test(name) || name === REQUEST_ENV) delete env[name];
        const backendDir = mkdtempSync(join(tmpdir(), "local-backend-"));
        dirs.push(backendDir);
        emu = new EngineEmulator({ backendDir, projectDir: ROOT, env });
        const aws = { region: "ap-southeast-1", endpoint: sandbox.moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } };
        sm = new SecretsManagerClient(aws);
        ecs = new ECSClient(aws);
    }, 180_000);

    afterAll(async () => {
        sm?.destroy();
        ecs?.destroy();
        await sandbox?.stop();
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    /** `secrets-rotation <command> --stack local` as the CLI hands it to the engine: the request in the environment. */
    const up = (request: RotationRequest, now: Date) => emu.up(LOCAL_STACK, { env: { ...env, [REQUEST_ENV]: encodeRequest(request) }, now });
    const ROTATE_ALL: RotationRequest = { rotate: { groups: [...GROUPS], scheduled: true } };
    const current = async (name: string) => (await sm.send(new GetSecretValueCommand({ SecretId: `${prefix}${name}` }))).SecretString!;
    const published = async () => Object.fromEntries(await Promise.all(["DATABASE_URL", "REDIS_URL", "TYPESENSE_API_KEY", "R2_ACCESS_KEY_ID", "JWT_SECRET_KEY"].map(async (n) => [n, await current(n)] as const)));
    /** A real login to the sandbox's PostgreSQL with the URL's role and password (the URL asks for TLS, which the sandbox's server lacks). */
    const canLogIn = async (url: string) => {
        const u = new URL(url);
        expect(u.hostname).toBe("127.0.0.1");
        return postgresAccepts(Number(u.port), decodeURIComponent(u.username), decodeURIComponent(u.password));
    };
    const canAuth = async (url: string) => {
        const u = new URL(url);
        expect(u.protocol).toBe("redis:"); // tls: false, the local stack only
        expect(u.hostname).toBe("127.0.0.1");
        return redisAccepts(Number(u.port), decodeURIComponent(u.username), decodeURIComponent(u.password));
    };
    const ecsTrigger = async (service: string) => {
        const arn = (await ecs.send(new DescribeServicesCommand({ cluster: "buywhere-api", services: [service] }))).services![0].serviceArn!;
        return (await ecs.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags?.find((t) => t.key === TRIGGER_TAG)?.value;
    };
    const liveTokens = () => sandbox.cloudflare.tokens().map((t) => t.id).sort();

    const NOV = new Date("2026-11-25T12:00:00Z");
    const DEC = new Date("2026-12-02T12:00:00Z");
    const JAN = new Date("2027-01-04T12:00:00Z");
    let deployed: UpdateResult;
    let first: Record<string, string>;
    let rotated: UpdateResult;
    let second: Record<string, string>;

    it("rotate-all on the fresh stack deploys it: secrets in moto, credentials valid at the sandbox's servers, tokens from the Cloudflare double, ECS services redeployed", async () => {
        deployed = await up(ROTATE_ALL, NOV);
        expect(deployed.errors).toEqual([]);
        expect(deployed.result).toBe("succeeded");
        const names = (await sm.send(new ListSecretsCommand({ MaxResults: 100 }))).SecretList!.map((s) => s.Name!).filter((n) => n.startsWith(prefix));
        expect(names.length).toBeGreaterThanOrEqual(13);
        first = await published();
        expect(await canLogIn(first.DATABASE_URL)).toBe(true);
        expect(await canAuth(first.REDIS_URL)).toBe(true);
        expect(sandbox.typesense.keys.map((k) => k.value)).toContain(first.TYPESENSE_API_KEY);
        // Issued by the double through the provider's baseUrl, not by the emulator's own token store.
        expect(liveTokens()).toHaveLength(2);
        expect(liveTokens()).toContain(first.R2_ACCESS_KEY_ID);
        expect(emu.cloudflare.tokens()).toEqual([]);
        for (const service of ["buywhere-api-local", "buywhere-worker-local"]) expect(await ecsTrigger(service)).toMatch(/./);
        expect(deployed.outputs.rotationState?.value).toBeDefined();
    }, 180_000);

    it("a full rotation a month later regenerates one slot per group; the new credentials work and so do the old", async () => {
        const triggers = await Promise.all(["buywhere-api-local", "buywhere-worker-local"].map(ecsTrigger));
        const tokensBefore = liveTokens();
        rotated = await up(ROTATE_ALL, DEC);
        expect(rotated.errors).toEqual([]);
        expect(rotated.result).toBe("succeeded");
        const replaced = rotated.steps.filter((s) => s.op === "replace" && (s.type === "random:index/randomPassword:RandomPassword" || s.type === "cloudflare:index/accountToken:AccountToken")).map((s) => s.name).sort();
        expect(replaced).toEqual(["api-key-slots-b", "database-slots-b", "jwt-slots-b", "r2-slots-b", "redis-slots-b", "typesense-slots-b"]);
        second = await published();
        for (const key of Object.keys(first)) expect(second[key], key).not.toBe(first[key]);
        expect(await canLogIn(second.DATABASE_URL)).toBe(true);
        expect(await canLogIn(first.DATABASE_URL)).toBe(true); // pods still on slot a keep working
        expect(await canAuth(second.REDIS_URL)).toBe(true);
        expect(await canAuth(first.REDIS_URL)).toBe(true);
        // Slot b's token was replaced at the double (create before delete); slot a's is kept.
        expect(liveTokens()).toHaveLength(2);
        expect(liveTokens()).toContain(first.R2_ACCESS_KEY_ID);
        expect(liveTokens()).toContain(second.R2_ACCESS_KEY_ID);
        expect(liveTokens()).not.toEqual(tokensBefore);
        const after = await Promise.all(["buywhere-api-local", "buywhere-worker-local"].map(ecsTrigger));
        after.forEach((t, i) => expect(t).not.toBe(triggers[i]));
    }, 180_000);

    it("with Kubernetes turned on, a context whose API server is not loopback stops the run before anything is registered", async () => {
        const dir = mkdtempSync(join(tmpdir(), "local-kube-"));
        dirs.push(dir);
        const kubeconfig = join(dir, "config");
        writeFileSync(kubeconfig, JSON.stringify({ contexts: [{ name: "eks", context: { cluster: "eks" } }], clusters: [{ name: "eks", cluster: { server: "https://abc.gr7.ap-southeast-1.eks.amazonaws.com" } }] }));
        const r = await emu.up(LOCAL_STACK, {
            env: { ...env, KUBECONFIG: kubeconfig, [REQUEST_ENV]: encodeRequest(ROTATE_ALL) },
            config: { "rotation:kubernetes": { context: "eks", namespaces: ["buywhere"] } },
            now: NOV,
        });
        expect(r.result).toBe("failed");
        expect(r.error).toContain('the `local` stack\'s Kubernetes context talks to "https://abc.gr7.ap-southeast-1.eks.amazonaws.com", not a loopback address');
        expect(r.operations).toEqual([]);

        // Without rotation:kubernetes too: the PgBouncer userlist Secret is reached through the same kubeconfig.
        writeFileSync(kubeconfig, JSON.stringify({ "current-context": "eks", contexts: [{ name: "eks", context: { cluster: "eks" } }], clusters: [{ name: "eks", cluster: { server: "https://abc.gr7.ap-southeast-1.eks.amazonaws.com" } }] }));
        const database = { ...(stackFile()["rotation:database"] as object), pgbouncer: { authFile: { secret: { namespace: "buywhere", name: "pgbouncer-userlist", key: "userlist.txt" } }, adminUser: "pgbouncer" } };
        const viaPgbouncer = await emu.up(LOCAL_STACK, { env: { ...env, KUBECONFIG: kubeconfig, [REQUEST_ENV]: encodeRequest(ROTATE_ALL) }, config: { "rotation:database": database }, now: NOV });
        expect(viaPgbouncer.result).toBe("failed");
        expect(viaPgbouncer.error).toContain("not a loopback address");
        expect(viaPgbouncer.operations).toEqual([]);
    });

    it("a rotation whose health check fails commits nothing; rollback puts back what was committed and it still works", async () => {
        sandbox.setHealthStatus(503);
        const failed = await up(ROTATE_ALL, JAN);
        expect(failed.result).toBe("failed");
        expect(failed.errors.map((e) => e.urn?.split("::").pop())).toEqual(["health-check"]);
        expect(failed.outputs.rotationState).toEqual(rotated.outputs.rotationState);
        const during = await published();
        expect(during.DATABASE_URL).not.toBe(second.DATABASE_URL); // the failed run had published slot a's new value
        expect(await canLogIn(second.DATABASE_URL)).toBe(true); // the committed credential still works

        sandbox.setHealthStatus(200);
        const rolledBack = await up({ rollback: { groups: [...GROUPS] } }, JAN);
        expect(rolledBack.errors).toEqual([]);
        expect(rolledBack.result).toBe("succeeded");
        const after = await published();
        expect(after).toEqual(second);
        expect(await canLogIn(after.DATABASE_URL)).toBe(true);
        expect(await canAuth(after.REDIS_URL)).toBe(true);
        expect(liveTokens()).toContain(after.R2_ACCESS_KEY_ID);
    }, 180_000);

    it("the README's quick start through the real CLI and Automation API (the pulumi CLI double on PATH): rotate-all --stack local, then status", async () => {
        const dir = mkdtempSync(join(tmpdir(), "local-cli-"));
        dirs.push(dir);
        const backendDir = join(dir, "backend");
        // `pulumi login --local` + `pulumi stack init local`: a file backend holding an empty local stack.
        new EngineEmulator({ backendDir, projectDir: ROOT }).initStack(LOCAL_STACK);
        const double = installPulumiDouble(backendDir);
        try {
            // Exactly what the shell holds: the sandbox's exports, no AWS endpoint, no config override.
            const shell = { ...double.env, ...sandbox.env, HOME: dir, ROTATION_AUDIT_FILE: join(dir, "audit.jsonl") };
            const before = await current("DATABASE_URL");
            const rotate = await runCli(["rotate-all", "--stack", LOCAL_STACK], shell, undefined, REAL_BIN);
            expect(rotate.stderr).not.toContain("error:");
            expect(rotate.code).toBe(0);
            const after = await current("DATABASE_URL");
            expect(after).not.toBe(before); // this stack's first rotate-all generated and published its own slots
            expect(await canLogIn(after)).toBe(true);
            expect(await canAuth(await current("REDIS_URL"))).toBe(true);
            const status = await runCli(["status", "--stack", LOCAL_STACK, "--json"], shell, undefined, REAL_BIN);
            expect(status.code).toBe(0);
            expect(JSON.stringify(JSON.parse(status.stdout))).toContain("buywhere/local/DATABASE_URL"); // listed from moto via rotation:aws.endpoint
            expect(double.refused()).toEqual([]);
        } finally {
            double.remove();
        }
    }, 240_000);

    it("Kubernetes turned on, on a cluster of this machine: a new local stack publishes to its Secret and rolls its Deployment", async () => {
        const dir = mkdtempSync(join(tmpdir(), "local-kind-"));
        dirs.push(dir);
        const kubeconfig = join(dir, "config");
        writeFileSync(kubeconfig, JSON.stringify({ "current-context": "kind-local", contexts: [{ name: "kind-local", context: { cluster: "kind-local" } }], clusters: [{ name: "kind-local", cluster: { server: "https://127.0.0.1:6443" } }] }));
        // A second stack on the same sandbox (a fresh backend), with the cluster as kubectl left it: namespace, Secret, Deployment.
        const kind = new EngineEmulator({ backendDir: join(dir, "backend"), projectDir: ROOT, env });
        kind.kubernetes.createNamespace("kind-local", "buywhere");
        kind.kubernetes.put("kind-local", { apiVersion: "v1", kind: "Secret", metadata: { name: "buywhere-secrets", namespace: "buywhere" }, type: "Opaque", data: {} });
        kind.kubernetes.put("kind-local", {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "buywhere-api", namespace: "buywhere" },
            spec: { replicas: 1, selector: { matchLabels: { app: "api" } }, template: { metadata: { labels: { app: "api" } }, spec: { containers: [{ name: "api", image: "buywhere/api:local" }] } } },
        });
        const r = await kind.up(LOCAL_STACK, {
            env: { ...env, KUBECONFIG: kubeconfig, [REQUEST_ENV]: encodeRequest(ROTATE_ALL) },
            config: { "rotation:kubernetes": { context: "kind-local", namespaces: ["buywhere"], deployments: [{ namespace: "buywhere", name: "buywhere-api" }] } },
            now: JAN,
        });
        expect(r.errors).toEqual([]);
        expect(r.result).toBe("succeeded");
        const data = kind.kubernetes.get("kind-local", "v1", "Secret", "buywhere", "buywhere-secrets")!.data as Record<string, string>;
        const databaseUrl = Buffer.from(data.DATABASE_URL, "base64").toString("utf8");
        expect(databaseUrl).toBe(await current("DATABASE_URL"));
        expect(await canLogIn(databaseUrl)).toBe(true);
        const annotations = kind.kubernetes.get("kind-local", "apps/v1", "Deployment", "buywhere", "buywhere-api")!.spec.template.metadata.annotations;
        expect(annotations["kubectl.kubernetes.io/restartedAt"]).toMatch(/^rotation-/);
    }, 180_000);
});

describe("npm run sandbox as a process (what an SRE runs)", () => {
    const portOpen = (port: number) =>
        new Promise<boolean>((resolve) => {
            const socket = connect({ host: "127.0.0.1", port }, () => {
                socket.destroy();
                resolve(true);
            });
            socket.on("error", () => resolve(false));
        });

    it("prints loopback-only variables that work, and a Ctrl-C to its process group stops every server", async () => {
        // Its own process group, as a terminal's foreground job: the SIGINT below reaches every process in it.
        const audit = mkdtempSync(join(tmpdir(), "sandbox-audit-"));
        const env = { ...process.env, ROTATION_AUDIT_FILE: join(audit, "audit.jsonl") }; // bootstrap's audit record
        const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "sandbox.ts")], { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        try {
            const deadline = Date.now() + 150_000;
            while (!stderr.includes("sandbox: running") && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
            expect(stderr).toContain("sandbox: running");
            const exported = Object.fromEntries([...stdout.matchAll(/^export ([A-Z0-9_]+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]));
            expect(Object.keys(exported).sort()).toEqual(
                ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CLOUDFLARE_API_TOKEN", "PULUMI_CONFIG_PASSPHRASE", "ROTATION_PG_ADMIN_URL", "ROTATION_R2_ENDPOINT", "ROTATION_REDIS_ADMIN_URL", "ROTATION_TYPESENSE_ADMIN_KEY"].sort(),
            );
            for (const name of ["ROTATION_PG_ADMIN_URL", "ROTATION_REDIS_ADMIN_URL", "ROTATION_R2_ENDPOINT"]) expect(new URL(exported[name]).hostname, name).toBe("127.0.0.1");
            const c = new Client({ connectionString: exported.ROTATION_PG_ADMIN_URL });
            await c.connect();
            const roles = (await c.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'buywhere_app%' ORDER BY 1")).rows.map((r) => r.rolname);
            await c.end();
            expect(roles).toEqual(["buywhere_app", "buywhere_app_a", "buywhere_app_b"]); // bootstrapped
            for (const port of [14566, 15432, 16379, 18108, 18787, 18080]) expect(await portOpen(port), String(port)).toBe(true);

            process.kill(-child.pid!, "SIGINT");
            expect(await exited).toBe(0);
            expect(stderr).toContain("sandbox: stopped");
            for (const port of [14566, 15432, 16379, 18108, 18787, 18080]) expect(await portOpen(port), String(port)).toBe(false);
        } finally {
            if (child.exitCode === null) process.kill(-child.pid!, "SIGKILL");
            rmSync(audit, { recursive: true, force: true });
        }
    }, 180_000);
});
