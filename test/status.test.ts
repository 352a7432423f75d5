/**
 * `status` against moto (real Secrets Manager API, started by the test), with the stack's outputs from the STAND-IN
 * engine; and the CloudWatch Logs audit sink against the same moto. Each test has its own secret prefix (a copy of
 * the project whose staging stack file names it), so no test sees another's secrets and any order works.
 */
import { CloudWatchLogsClient, CreateLogGroupCommand, GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { CreateSecretCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SECRETS } from "../rotation/catalog";
import { planRotation } from "../rotation/plan";
import { parseSettings } from "../rotation/settings";
import { stringify } from "yaml";
import { CliResult, Sandbox, projectWith, runCli, sandbox } from "./support/cli";
import { useMoto } from "./support/servers";
import { stackConfig } from "./support/pulumiProgram";

const aws = useMoto();

/** One test's world: its own prefix, a project copy whose staging stack file uses it, a sandbox, and what it created. */
interface World {
    readonly prefix: string;
    readonly s: Sandbox;
    /** Current version id of each secret created, by name. */
    readonly current: Map<string, string>;
    /** Every value written (to prove none is printed). */
    readonly values: string[];
    createSecret(name: string, versions: number): Promise<void>;
    run(args: readonly string[], env?: Record<string, string | undefined>): Promise<CliResult>;
    /** Writes the stand-in engine's outputs for staging: deployed at `changedAt`, versions as the stack wrote them. */
    deploy(changedAt: string, written: (name: string) => string | undefined): void;
}

function world(region = "ap-southeast-1"): World {
    const prefix = `buywhere/status-${randomUUID().slice(0, 8)}/`;
    const config = { ...stackConfig("staging"), "rotation:aws": { region, secretPrefix: prefix } };
    const project = projectWith({ "Pulumi.staging.yaml": stringify({ config }) });
    const s = sandbox();
    const current = new Map<string, string>();
    const values: string[] = [];
    return {
        prefix,
        s,
        current,
        values,
        async createSecret(name, versions) {
            // Fails the test if it fails: no secret is ever silently missing.
            const first = `value-of-${name}-1-${randomUUID()}`;
            values.push(first);
            let version = (await aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: first }))).VersionId!;
            for (let i = 2; i <= versions; i++) {
                const v = `value-of-${name}-${i}-${randomUUID()}`;
                values.push(v);
                version = (await aws.sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: v }))).VersionId!;
            }
            current.set(name, version);
        },
        run: (args, env = {}) => runCli(args, { ...s.env, ...aws.moto.env, ...env }, undefined, join(project, "test", "support", "standInBin.ts")),
        deploy(changedAt, written) {
            const settings = parseSettings(config);
            const planned = planRotation({ settings, stored: {}, now: new Date("2026-11-01T00:00:00Z"), stack: "staging" });
            if (planned.plan === undefined) throw new Error(`the first deployment was refused: ${planned.refusal.kind}`);
            const state = planned.plan.nextState;
            const groups = Object.fromEntries(Object.entries(state.groups).map(([g, x]) => [g, { ...x, changedAt }]));
            const secrets = Object.fromEntries(SECRETS.map((x) => [x.name, { awsSecretId: `${prefix}${x.name}`, awsVersionId: written(x.name) }]));
            mkdirSync(join(s.dir, "engine"), { recursive: true });
            writeFileSync(join(s.dir, "engine", "staging.json"), JSON.stringify({ outputs: { rotationState: { ...state, groups }, secrets }, history: [] }));
        },
    };
}

describe("status", () => {
    it("reports stamps, slots, policy and AWS facts from two ListSecrets calls, flags what is wrong, exits 5", async () => {
        const w = world();
        // Every catalog secret but TYPESENSE_API_KEY; two versions (so AWSPREVIOUS exists) for all but JWT_SECRET_KEY.
        for (const x of SECRETS.filter((x) => x.name !== "TYPESENSE_API_KEY")) await w.createSecret(`${w.prefix}${x.name}`, x.name === "JWT_SECRET_KEY" ? 1 : 2);
        // 110 unrelated secrets under the prefix force a second ListSecrets page; one outside it must not be listed.
        for (let i = 0; i < 110; i++) await w.createSecret(`${w.prefix}OTHER_${i}`, 1);
        await w.createSecret(`other-team/${w.prefix}DATABASE_URL`, 1);
        w.deploy("2026-10-20T00:00:00.000Z", (n) => (n === "REDIS_URL" ? "00000000-0000-0000-0000-000000000000" : w.current.get(`${w.prefix}${n}`)));

        const r = await w.run(["status", "--stack", "staging", "--json"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(5);
        const report = JSON.parse(r.stdout);
        expect(report.awsCalls).toBe(2);
        const by = Object.fromEntries(report.secrets.map((x: { name: string }) => [x.name, x]));
        expect(by.DATABASE_URL).toMatchObject({
            group: "database",
            awsSecretId: `${w.prefix}DATABASE_URL`,
            stamp: "2026-11",
            activeSlot: "a",
            lastRotation: "2026-10-20T00:00:00.000Z",
            policy: "monthly",
            nextDue: "2026-11-20T00:00:00.000Z",
            aws: { exists: true, currentVersionId: w.current.get(`${w.prefix}DATABASE_URL`), hasPrevious: true },
            drift: false,
        });
        expect(by.DATABASE_URL.overdue).toBe(true); // monthly, last rotated 2026-10-20, now is later than 2026-11-20
        expect(by.R2_ACCESS_KEY_ID.overdue).toBe(false); // quarterly
        expect(by.R2_ACCESS_KEY_ID.problems).toEqual([]);
        expect(by.JWT_SECRET_KEY.aws.hasPrevious).toBe(false);
        expect(by.TYPESENSE_API_KEY.aws.exists).toBe(false);
        expect(by.TYPESENSE_API_KEY.problems).toContain("missing in AWS");
        expect(by.REDIS_URL.drift).toBe(true);
        expect(by.REDIS_URL.problems).toContain("drifted: AWSCURRENT is not the version the stack wrote");
        expect(report.inPolicy).toBe(false);
        expect(w.values.length).toBeGreaterThan(100);
        for (const v of w.values) expect(r.stdout).not.toContain(v);
    });

    it("exits 0 when everything is in policy, with a human table on stdout", async () => {
        const w = world();
        for (const x of SECRETS) await w.createSecret(`${w.prefix}${x.name}`, 2);
        // Recently rotated; every version as the stack wrote it.
        w.deploy(new Date(Date.now() - 86_400_000).toISOString(), (n) => w.current.get(`${w.prefix}${n}`));
        const r = await w.run(["status", "--stack", "staging"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(r.stdout.split("\n")[1]).toMatch(/^SECRET\s+GROUP\s+STAMP\s+SLOT\s+ROTATED\s+AGE\s+POLICY\s+NEXT DUE\s+AWS VERSION\s+PREVIOUS\s+STATUS$/);
        expect(r.stdout).toMatch(/\nDATABASE_URL\s+database\s+2026-11\s+a\s+\S+\s+1d\s+monthly\s+\S+\s+[0-9a-f]{8}\s+yes\s+ok\n/);
        expect(r.stdout).toContain("all 15 secrets in policy (1 AWS call)");
        for (const v of w.values) expect(r.stdout).not.toContain(v);
    });

    it("flags a provider held back by an AWS-only rotation", async () => {
        const w = world();
        for (const x of SECRETS) await w.createSecret(`${w.prefix}${x.name}`, 1);
        w.deploy(new Date().toISOString(), (n) => w.current.get(`${w.prefix}${n}`));
        const rotated = await w.run(["rotate", "--service", "redis", "--provider", "aws", "--stack", "staging"]);
        expect(rotated.code, rotated.stderr).toBe(0);
        const r = await w.run(["status", "--stack", "staging", "--json"]);
        const redis = JSON.parse(r.stdout).secrets.find((x: { name: string }) => x.name === "REDIS_URL");
        expect(redis.held).toEqual({ k8s: "a" });
        expect(redis.problems).toContain("k8s held on slot a");
        expect(r.code).toBe(5);
    });

    it("fails with exit 1 and one line when AWS cannot be reached", async () => {
        const w = world();
        w.deploy(new Date().toISOString(), () => undefined);
        const r = await w.run(["status", "--stack", "staging"], { AWS_ENDPOINT_URL: "http://127.0.0.1:9", ROTATION_ALLOW_AWS_ENDPOINT: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" });
        expect(r.code).toBe(1);
        expect(r.stderr.startsWith(`error: could not list secrets under ${w.prefix} in ap-southeast-1: `)).toBe(true);
        expect(r.stderr).toMatch(/^error: .*\S\n$/);
        expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    });
});

describe("CloudWatch Logs audit sink", () => {
    it("puts each audit record as one event in the stack's stream, in the stack's region, holding no secret", async () => {
        // The stack file says eu-west-1 and nothing in the environment names a region: the sink must use the stack's.
        const w = world("eu-west-1");
        const logs = new CloudWatchLogsClient({ region: "eu-west-1", endpoint: aws.moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
        const group = `/buywhere/secrets-rotation/${randomUUID().slice(0, 8)}`;
        await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
        const env = { AWS_REGION: undefined, ROTATION_AUDIT_LOG_GROUP: group };
        const live = await w.run(["rotate", "--service", "jwt", "--stack", "staging", "--stamp", "2026-11-20T0900Z"], env);
        expect(live.code, live.stderr).toBe(0);
        const dry = await w.run(["rotate", "--service", "jwt", "--stack", "staging", "--dry-run"], env);
        expect(dry.code, dry.stderr).toBe(0);
        expect(live.stderr + dry.stderr).not.toContain("audit: could not write");
        const events = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: "secrets-rotation/staging", startFromHead: true }));
        const records = (events.events ?? []).map((e) => JSON.parse(e.message!));
        expect(records).toEqual(w.s.audit());
        expect(records.map((r) => r.outcome)).toEqual(["succeeded", "dry-run"]);
        logs.destroy();
    });

    it("a sink that fails is reported on stderr, naming the group and region, and does not fail the run", async () => {
        const w = world();
        const r = await w.run(["rotate", "--service", "jwt", "--stack", "staging", "--dry-run"], { ROTATION_AUDIT_LOG_GROUP: "/no/such/group" });
        expect(r.code).toBe(0);
        expect(r.stderr).toMatch(/audit: could not write to CloudWatch Logs group \/no\/such\/group in ap-southeast-1: /);
        expect(w.s.audit()).toHaveLength(1);
    });
});
