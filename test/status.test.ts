/**
 * `status` against moto (real Secrets Manager API, started by the test), with the stack's outputs from the STAND-IN
 * engine; and the CloudWatch Logs audit sink against the same moto.
 */
import { CloudWatchLogsClient, CreateLogGroupCommand, GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSettings } from "../rotation/config";
import { SECRETS } from "../rotation/catalog";
import { planRotation } from "../rotation/plan";
import { Sandbox, sandbox } from "./support/cli";
import { Moto, startMoto } from "./support/moto";
import { stackConfig } from "./support/pulumiProgram";

let moto: Moto;
let sm: SecretsManagerClient;
const PREFIX = "buywhere/staging/";
/** Current version id of each secret in moto, and the values it holds (to prove none is printed). */
const currentVersion = new Map<string, string>();
const values: string[] = [];

async function createSecret(name: string, versions: number): Promise<void> {
    const first = `value-of-${name}-1-${Math.random().toString(36).slice(2)}`;
    values.push(first);
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: first }));
    let current = created.VersionId!;
    for (let i = 2; i <= versions; i++) {
        const v = `value-of-${name}-${i}-${Math.random().toString(36).slice(2)}`;
        values.push(v);
        current = (await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: v }))).VersionId!;
    }
    currentVersion.set(name, current);
}

beforeAll(async () => {
    moto = await startMoto();
    sm = new SecretsManagerClient({ region: "ap-southeast-1", endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
    // Every catalog secret but TYPESENSE_API_KEY; two versions (so AWSPREVIOUS exists) for all but JWT_SECRET_KEY.
    for (const s of SECRETS.filter((s) => s.name !== "TYPESENSE_API_KEY")) {
        await createSecret(`${PREFIX}${s.name}`, s.name === "JWT_SECRET_KEY" ? 1 : 2);
    }
    // 110 unrelated secrets under the prefix force a second ListSecrets page.
    for (let i = 0; i < 110; i++) await createSecret(`${PREFIX}OTHER_${i}`, 1);
    await createSecret("other-team/DATABASE_URL", 1);
}, 120_000);
afterAll(async () => {
    sm?.destroy();
    await moto?.stop();
});

/** Writes the stand-in engine's outputs for staging: deployed at `changedAt`, versions as the stack wrote them. */
function deployStandIn(s: Sandbox, changedAt: string, written: (name: string) => string | undefined): void {
    const settings = parseSettings(stackConfig("staging"));
    const planned = planRotation(settings, undefined, new Date("2026-11-01T00:00:00Z")).nextState;
    const state = { ...planned, groups: Object.fromEntries(Object.entries(planned.groups).map(([g, x]) => [g, { ...x, changedAt }])) };
    const secrets = Object.fromEntries(SECRETS.map((x) => [x.name, { awsSecretId: `${PREFIX}${x.name}`, awsVersionId: written(x.name) }]));
    mkdirSync(join(s.dir, "engine"), { recursive: true });
    writeFileSync(join(s.dir, "engine", "staging.json"), JSON.stringify({ outputs: { rotationState: state, secrets }, history: [] }));
}

describe("status", () => {
    it("reports stamps, slots, policy and AWS facts from two ListSecrets calls, flags what is wrong, exits 5", async () => {
        const s = sandbox();
        deployStandIn(s, "2026-10-20T00:00:00.000Z", (n) => (n === "REDIS_URL" ? "00000000-0000-0000-0000-000000000000" : currentVersion.get(`${PREFIX}${n}`)));
        const r = await s.run(["status", "--stack", "staging", "--json"], moto.env);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(5);
        const report = JSON.parse(r.stdout);
        expect(report.awsCalls).toBe(2);
        const by = Object.fromEntries(report.secrets.map((x: { name: string }) => [x.name, x]));
        expect(by.DATABASE_URL).toMatchObject({
            group: "database",
            awsSecretId: "buywhere/staging/DATABASE_URL",
            stamp: "2026-11",
            activeSlot: "a",
            lastRotation: "2026-10-20T00:00:00.000Z",
            policy: "monthly",
            nextDue: "2026-11-20T00:00:00.000Z",
            aws: { exists: true, currentVersionId: currentVersion.get(`${PREFIX}DATABASE_URL`), hasPrevious: true },
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
        for (const v of values) {
            expect(r.stdout).not.toContain(v);
        }
    });

    it("exits 0 when everything is in policy, with a human table on stdout", async () => {
        const s = sandbox();
        // Only the secrets that exist; recently rotated; every version as the stack wrote it.
        deployStandIn(s, new Date(Date.now() - 86_400_000).toISOString(), (n) => currentVersion.get(`${PREFIX}${n}`));
        await sm.send(new CreateSecretCommand({ Name: `${PREFIX}TYPESENSE_API_KEY`, SecretString: "typesense-value-0001" })).then(
            (out) => {
                currentVersion.set(`${PREFIX}TYPESENSE_API_KEY`, out.VersionId!);
                values.push("typesense-value-0001");
            },
            () => undefined,
        );
        deployStandIn(s, new Date(Date.now() - 86_400_000).toISOString(), (n) => currentVersion.get(`${PREFIX}${n}`));
        const r = await s.run(["status", "--stack", "staging"], moto.env);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(r.stdout.split("\n")[1]).toMatch(/^SECRET\s+GROUP\s+STAMP\s+SLOT\s+ROTATED\s+AGE\s+POLICY\s+NEXT DUE\s+AWS VERSION\s+PREVIOUS\s+STATUS$/);
        expect(r.stdout).toMatch(/\nDATABASE_URL\s+database\s+2026-11\s+a\s+\S+\s+1d\s+monthly\s+\S+\s+[0-9a-f]{8}\s+yes\s+ok\n/);
        expect(r.stdout).toContain("all 13 secrets in policy (2 AWS calls)");
    });

    it("flags a provider held back by an AWS-only rotation", async () => {
        const s = sandbox();
        deployStandIn(s, new Date().toISOString(), (n) => currentVersion.get(`${PREFIX}${n}`));
        const rotated = await s.run(["rotate", "--service", "redis", "--provider", "aws", "--stack", "staging"], moto.env);
        expect(rotated.code).toBe(0);
        const r = await s.run(["status", "--stack", "staging", "--json"], moto.env);
        const redis = JSON.parse(r.stdout).secrets.find((x: { name: string }) => x.name === "REDIS_URL");
        expect(redis.held).toEqual({ k8s: "a" });
        expect(redis.problems).toContain("k8s held on slot a");
        expect(r.code).toBe(5);
    });

    it("fails with exit 1 and one line when AWS cannot be reached", async () => {
        const s = sandbox();
        deployStandIn(s, new Date().toISOString(), () => undefined);
        const r = await s.run(["status", "--stack", "staging"], { ...moto.env, AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^error: could not list secrets under buywhere\/staging\/ in ap-southeast-1: .+\n$/);
    });
});

describe("CloudWatch Logs audit sink", () => {
    it("puts each audit record as one event in the stack's stream, holding no secret", async () => {
        const logs = new CloudWatchLogsClient({ region: "ap-southeast-1", endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
        await logs.send(new CreateLogGroupCommand({ logGroupName: "/buywhere/secrets-rotation" }));
        const s = sandbox();
        const env = { ...moto.env, ROTATION_AUDIT_LOG_GROUP: "/buywhere/secrets-rotation" };
        expect((await s.run(["rotate", "--service", "jwt", "--stack", "staging", "--stamp", "2026-11-20T0900Z"], env)).code).toBe(0);
        expect((await s.run(["rotate", "--service", "jwt", "--stack", "staging", "--dry-run"], env)).code).toBe(0);
        const events = await logs.send(
            new GetLogEventsCommand({ logGroupName: "/buywhere/secrets-rotation", logStreamName: "secrets-rotation/staging", startFromHead: true }),
        );
        const records = (events.events ?? []).map((e) => JSON.parse(e.message!));
        expect(records).toEqual(s.audit());
        expect(records.map((r) => r.outcome)).toEqual(["succeeded", "dry-run"]);
        logs.destroy();
    });

    it("a sink that fails is reported on stderr and does not fail the run", async () => {
        const s = sandbox();
        const r = await s.run(["rotate", "--service", "jwt", "--stack", "staging", "--dry-run"], { ...moto.env, ROTATION_AUDIT_LOG_GROUP: "/no/such/group" });
        expect(r.code).toBe(0);
        expect(r.stderr).toMatch(/audit: could not write to CloudWatch Logs group \/no\/such\/group: /);
        expect(s.audit()).toHaveLength(1);
    });
});
