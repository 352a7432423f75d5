/**
 * The one redactor (automation/redact.ts) and the sinks it guards. Unit: every credential variable's value in every
 * form, URL userinfo of any URL, a secret split across output chunks. End to end: a failing run whose engine output
 * and failure message carry admin credentials, the run's own AWS/Pulumi credentials and a URL with a password leaves
 * none of them in stdout, stderr, the audit file, the step summary or the CloudWatch event (real moto). The engine
 * is the STAND-IN (test/support/standInEngine.ts: ROTATION_STANDIN_OUTPUT, ROTATION_STANDIN_FAIL_MESSAGE).
 */
import { CloudWatchLogsClient, CreateLogGroupCommand, GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_CREDENTIALS } from "../rotation/adminCredentials";
import { REDACTED, REDACTED_ENV, RUN_CREDENTIALS, RedactingLineWriter, redactDeep, redactorFor } from "../automation/redact";
import { sandbox } from "./support/cli";
import { leakForms } from "./support/fixtures";
import { Moto, startMoto } from "./support/moto";

/** A value per redacted variable: URL-shaped where the variable holds a URL. */
const CREDENTIALS: Record<string, string> = {
    ROTATION_PG_ADMIN_URL: "postgresql://admin:PgAdm1n%2FLeak@db.internal:5432/buywhere?sslmode=verify-full",
    ROTATION_REDIS_ADMIN_URL: "rediss://admin:R3disAdm1nLeak@redis.internal:6379/0",
    ROTATION_TYPESENSE_ADMIN_KEY: "TypesenseAdm1nLeakKey",
    CLOUDFLARE_API_TOKEN: "CloudflareT0kenLeakValue",
    AWS_SECRET_ACCESS_KEY: "AwsSecretAccessKeyLeak123",
    AWS_SESSION_TOKEN: "AwsSessionT0kenLeak+/==",
    PULUMI_ACCESS_TOKEN: "pul-PulumiAccessT0kenLeak",
    PULUMI_CONFIG_PASSPHRASE: "Pulumi passphrase \"leak\" 42",
};
/** A URL with a password that no variable holds: only its shape gives it away. */
const STRANGER = "amqp://guest:Gu3stPassw0rdLeak@mq.internal:5672/vhost";

/** Every form of every secret the sinks must never carry. */
const NEEDLES = [
    ...leakForms(Object.values(CREDENTIALS)),
    "PgAdm1n%2FLeak",
    "PgAdm1n/Leak",
    "R3disAdm1nLeak",
    "Gu3stPassw0rdLeak",
    JSON.stringify(CREDENTIALS.PULUMI_CONFIG_PASSPHRASE).slice(1, -1),
];

describe("redactor", () => {
    const redact = redactorFor(CREDENTIALS);

    it("covers every admin credential of the code and the run's own credentials", () => {
        expect(ADMIN_CREDENTIALS.length).toBeGreaterThan(0);
        for (const name of ADMIN_CREDENTIALS) expect(REDACTED_ENV).toContain(name);
        expect(REDACTED_ENV.filter((n) => !RUN_CREDENTIALS.includes(n))).toEqual([...ADMIN_CREDENTIALS]);
        expect(REDACTED_ENV).toEqual(expect.arrayContaining(["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"]));
        expect(Object.keys(CREDENTIALS).sort()).toEqual([...REDACTED_ENV].sort());
    });

    it.each(Object.entries(CREDENTIALS))("%s: plain, URL-encoded, JSON-escaped, base64 and base64url forms are replaced", (_, value) => {
        const forms = [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), Buffer.from(value).toString("base64"), Buffer.from(value).toString("base64url")];
        for (const form of forms) {
            const out = redact(`before ${form} after`);
            expect(out).toBe(`before ${REDACTED} after`);
        }
    });

    it("a URL-shaped credential's password alone, decoded or as written, is replaced", () => {
        expect(redact("auth failed for PgAdm1n/Leak and PgAdm1n%2FLeak")).toBe(`auth failed for ${REDACTED} and ${REDACTED}`);
        expect(redact("WRONGPASS R3disAdm1nLeak")).toBe(`WRONGPASS ${REDACTED}`);
    });

    it.each([
        ["amqp://guest:Gu3stPassw0rdLeak@mq.internal:5672/vhost", `amqp://${REDACTED}@mq.internal:5672/vhost`],
        ["redis://:OnlyAPassword@cache:6379", `redis://${REDACTED}@cache:6379`],
        ["https://ghp_tokenAsUser@github.com/org/repo.git", `https://${REDACTED}@github.com/org/repo.git`],
        ["postgresql://u:p@ss@w0rd@db:5432/x", `postgresql://${REDACTED}@db:5432/x`],
        ['dial "mysql://root:Secr3t@10.0.0.1:3306/app" failed', `dial "mysql://${REDACTED}@10.0.0.1:3306/app" failed`],
    ])("URL userinfo is replaced whatever its origin: %s", (text, expected) => {
        expect(redactorFor({})(text)).toBe(expected);
    });

    it("leaves text without credentials alone (URLs without userinfo, e-mail addresses, short values)", () => {
        const text = "health check failed: https://api.staging.buywhere.io/health (HTTP 503); mail sre@buywhere.io; a b";
        expect(redactorFor({ ...CREDENTIALS, PULUMI_CONFIG_PASSPHRASE: "a b" })(text)).toBe(text);
    });

    it("the longest secret first: a credential holding another is replaced whole", () => {
        const r = redactorFor({ ROTATION_TYPESENSE_ADMIN_KEY: "Inner1234", CLOUDFLARE_API_TOKEN: "OuterInner1234Outer" });
        expect(r("x OuterInner1234Outer y Inner1234")).toBe(`x ${REDACTED} y ${REDACTED}`);
    });

    it("redacts every string of a record, keys kept", () => {
        const record = { error: `failed: ${CREDENTIALS.CLOUDFLARE_API_TOKEN}`, nested: [{ url: STRANGER }], n: 3, ok: true, none: null };
        expect(redactDeep(record, redact)).toEqual({ error: `failed: ${REDACTED}`, nested: [{ url: `amqp://${REDACTED}@mq.internal:5672/vhost` }], n: 3, ok: true, none: null });
    });

    it("a line writer sees a secret split across chunks whole, and flushes the rest", () => {
        const text = `one ${CREDENTIALS.CLOUDFLARE_API_TOKEN} two\nthree ${STRANGER}`;
        let out = "";
        const w = new RedactingLineWriter((t) => (out += t), redact);
        for (let i = 0; i < text.length; i += 3) w.write(text.slice(i, i + 3));
        expect(out).toBe(`one ${REDACTED} two\n`);
        w.flush();
        expect(out).toBe(`one ${REDACTED} two\nthree amqp://${REDACTED}@mq.internal:5672/vhost`);
        // Without the line writer, chunk by chunk, the same redactor would have missed it: the test can fail.
        let naive = "";
        for (let i = 0; i < text.length; i += 3) naive += redact(text.slice(i, i + 3));
        expect(naive).toContain(CREDENTIALS.CLOUDFLARE_API_TOKEN);
    });
});

describe("a failing run whose engine output and error carry credentials", () => {
    let moto: Moto;
    let logs: CloudWatchLogsClient;
    beforeAll(async () => {
        moto = await startMoto();
        logs = new CloudWatchLogsClient({ region: "ap-southeast-1", endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
    }, 60_000);
    afterAll(async () => {
        logs?.destroy();
        await moto?.stop();
    });

    it("leaves none of them in stdout, stderr, the audit file, the step summary or the CloudWatch event", async () => {
        const s = sandbox();
        const group = `/buywhere/secrets-rotation/${randomUUID().slice(0, 8)}`;
        await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
        const summary = join(s.dir, "summary.md");
        const engineOutput = [
            "Updating (staging):",
            ...Object.entries(CREDENTIALS).map(([name, value]) => `  command:local:Command apply: ${name}=${value}`),
            `  connecting to ${STRANGER}`,
            `  base64 ${Buffer.from(CREDENTIALS.CLOUDFLARE_API_TOKEN).toString("base64")}`,
            "",
        ].join("\n");
        const env = {
            ...moto.env,
            // The CloudWatch client signs with the AWS ones (moto accepts any): the run's own credentials, redacted too.
            ...CREDENTIALS,
            GITHUB_STEP_SUMMARY: summary,
            ROTATION_AUDIT_LOG_GROUP: group,
            ROTATION_STANDIN_FAIL: "up",
            ROTATION_STANDIN_OUTPUT: engineOutput,
            ROTATION_STANDIN_OUTPUT_CHUNK: "7",
            ROTATION_STANDIN_FAIL_MESSAGE: `error: postgresApply: could not connect with ${CREDENTIALS.ROTATION_PG_ADMIN_URL} (token ${CREDENTIALS.CLOUDFLARE_API_TOKEN}); upstream ${STRANGER}`,
        };
        // --verbose: the stack trace goes to stderr too, message included.
        const r = await s.run(["rotate", "--service", "database", "--first-deployment", "--stack", "staging", "--stamp", "2026-11-20T0900Z", "--verbose"], env);
        expect(r.code).toBe(1);

        const auditFile = readFileSync(s.env.ROTATION_AUDIT_FILE, "utf8");
        const summaryText = readFileSync(summary, "utf8");
        const events = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: "secrets-rotation/staging", startFromHead: true }));
        const cloudWatch = (events.events ?? []).map((e) => e.message ?? "").join("\n");
        const sinks = { stdout: r.stdout, stderr: r.stderr, audit: auditFile, summary: summaryText, cloudWatch };

        // The run really failed, echoed the engine output and wrote every sink, each with something redacted.
        expect(r.stderr).toContain("Updating (staging):");
        expect(r.stderr).toContain(`error: error: postgresApply: could not connect with ${REDACTED} (token ${REDACTED}); upstream amqp://${REDACTED}@mq.internal:5672/vhost\n`);
        expect(JSON.parse(auditFile.trim())).toMatchObject({ command: "rotate --service database --stamp 2026-11-20T0900Z --first-deployment", outcome: "failed" });
        expect(events.events).toHaveLength(1);
        expect(cloudWatch).toBe(auditFile.trim());
        for (const [name, text] of Object.entries({ stderr: sinks.stderr, audit: sinks.audit, summary: sinks.summary, cloudWatch: sinks.cloudWatch })) {
            expect(text, name).toMatch(/\[redacted\]|&#91;redacted&#93;/);
        }
        for (const [name, text] of Object.entries(sinks)) {
            expect(NEEDLES.filter((n) => text.includes(n)), name).toEqual([]);
        }
        // The scan can fail: what the engine was given holds every needle's source.
        expect(NEEDLES.filter((n) => (env.ROTATION_STANDIN_OUTPUT + env.ROTATION_STANDIN_FAIL_MESSAGE).includes(n)).length).toBeGreaterThan(Object.keys(CREDENTIALS).length);
    });
});
