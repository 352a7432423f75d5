/**
 * `preflight`: which admin credentials a live run needs (automation/credentials.ts), checked against what the program
 * itself refuses to run without (the real program under Pulumi's mocks), and the command as a process.
 */
import { describe, expect, it } from "vitest";
import { GROUPS, Group } from "../rotation/catalog";
import { ADMIN_CREDENTIALS, PreflightCommand, credentialsFor, groupsRegenerated, missingFrom } from "../automation/credentials";
import { loadSettings } from "../automation/stacks";
import { requiredAdminEnv } from "../rotation/adminCredentials";
import { sandbox } from "./support/cli";
import { runProgram, runProgramExpectingFailure } from "./support/pulumiProgram";

const PG = "ROTATION_PG_ADMIN_URL";
const REDIS = "ROTATION_REDIS_ADMIN_URL";
const TYPESENSE = "ROTATION_TYPESENSE_ADMIN_KEY";
const CLOUDFLARE = "CLOUDFLARE_API_TOKEN";

/** Distinctive values, so the process tests can prove none is printed. */
const VALUES: Record<string, string> = {
    [PG]: "postgresql://admin:PreflightPgLeak1@db.internal:5432/buywhere",
    [REDIS]: "rediss://admin:PreflightRedisLeak2@redis.internal:6379/0",
    [TYPESENSE]: "PreflightTypesenseLeak3",
    [CLOUDFLARE]: "PreflightCloudflareLeak4",
};

describe("the admin credentials a live run needs", () => {
    it.each<[PreflightCommand, Group[], boolean, string[]]>([
        ["rotate-all", [], false, [PG, REDIS, CLOUDFLARE, TYPESENSE]],
        ["rotate", ["database"], false, [PG]],
        ["rotate", ["typesense", "r2", "redis"], false, [REDIS, CLOUDFLARE, TYPESENSE]],
        ["rotate", ["jwt", "api-key"], false, []],
        ["rotate-all", [], true, []],
        ["rotate", ["database"], true, []],
        ["restart", ["database"], false, []],
        ["rollback", ["database", "redis"], false, []],
        ["status", [], false, []],
    ])("%s %j (dry run: %s) needs %j", (command, services, dryRun, expected) => {
        expect(credentialsFor(groupsRegenerated(command, services, dryRun))).toEqual(expected);
    });

    it("with a stack's settings: Redis on ElastiCache needs no variable (AWS credentials), an admin secret replaces its variable", () => {
        const staging = loadSettings("staging", {});
        expect(staging.redis.kind).toBe("elasticache");
        expect(credentialsFor(GROUPS, staging)).toEqual([PG, CLOUDFLARE, TYPESENSE]);
        const acl = { ...staging, redis: { ...staging.redis, kind: "acl" as const, userId: undefined } };
        expect(credentialsFor(GROUPS, acl)).toEqual([PG, REDIS, CLOUDFLARE, TYPESENSE]);
        const arn = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:rds!cluster-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab-AbC123";
        expect(credentialsFor(GROUPS, { ...staging, adminSecrets: { database: arn } })).toEqual([CLOUDFLARE, TYPESENSE]);
    });

    it("every credential once; blank counts as missing", () => {
        expect(ADMIN_CREDENTIALS).toEqual([PG, REDIS, CLOUDFLARE, TYPESENSE]);
        expect(missingFrom({ [PG]: "x", [REDIS]: "  ", [CLOUDFLARE]: "" }, [PG, REDIS, CLOUDFLARE, TYPESENSE])).toEqual([REDIS, CLOUDFLARE, TYPESENSE]);
    });
});

// The program (rotation/program.ts) refuses an `up` that regenerates a slot without the group's credential. A first
// deployment regenerates every group: with one credential left out it must name exactly that one, and with all of
// them it must need nothing else. So `preflight` and the program agree on every group, whatever either calls its list.
describe("the program requires exactly those credentials", () => {
    const all = Object.fromEntries(ADMIN_CREDENTIALS.map((name) => [name, VALUES[name]]));

    const staging = loadSettings("staging", {});
    it.each(GROUPS.filter((g) => requiredAdminEnv(staging, g) !== undefined))("without %s's credential the first deployment is refused, naming it", async (group) => {
        const name = requiredAdminEnv(staging, group)!;
        const { [name]: _, ...without } = all;
        void _;
        const { error } = await runProgramExpectingFailure({ stack: "staging", env: without });
        expect(error.message).toMatch(new RegExp(`^environment variable \`${name}\` is required: this run regenerates ${group} slot`));
    });

    it("Redis on ElastiCache (the stack file's kind) needs no Redis admin URL: the first deployment runs without it", async () => {
        const { [REDIS]: _, ...without } = all;
        void _;
        const run = await runProgram({ stack: "staging", env: without });
        expect(run.registrations.some((r) => r.name === "redis-apply-elasticache")).toBe(true);
    });

    it("with all of them it runs", async () => {
        const run = await runProgram({ stack: "staging", env: all });
        expect(run.registrations.length).toBeGreaterThan(10);
    });
});

describe("secrets-rotation preflight", () => {
    it("exits 2 naming every missing credential, in one line, before anything runs", async () => {
        const s = sandbox();
        const r = await s.run(["preflight", "rotate-all", "--stack", "staging"], { [REDIS]: VALUES[REDIS], [TYPESENSE]: VALUES[TYPESENSE], [CLOUDFLARE]: "  " });
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(
            `error: a live \`rotate-all\` on staging needs ${PG}, ${CLOUDFLARE} in the environment (regenerates database, redis, jwt, api-key, r2, typesense; README, "Source appliers"); nothing was run\n`,
        );
        expect(s.calls()).toEqual([]);
        expect(s.audit()).toEqual([]);
    });

    it("exits 0 when every credential the run needs is set, printing names and never values", async () => {
        const s = sandbox();
        const human = await s.run(["preflight", "rotate", "--service", "database", "--service", "r2", "--provider", "aws", "--stack", "production"], VALUES);
        expect(human.code).toBe(0);
        expect(human.stdout).toBe(`preflight: a live \`rotate\` on production has ${PG}, ${CLOUDFLARE}\n`);
        const json = await s.run(["preflight", "rotate-all", "--stack", "staging", "--json"], VALUES);
        expect(json.code).toBe(0);
        // Staging's Redis is ElastiCache: ModifyUser with the run's AWS credentials, no Redis admin URL.
        expect(JSON.parse(json.stdout)).toEqual({ command: "rotate-all", stack: "staging", dryRun: false, groups: [...GROUPS], required: [PG, CLOUDFLARE, TYPESENSE], missing: [] });
        for (const v of Object.values(VALUES)) expect(human.stdout + human.stderr + json.stdout + json.stderr).not.toContain(v);
        expect(s.calls()).toEqual([]);
    });

    it("a dry run or a command that regenerates nothing needs none", async () => {
        const s = sandbox();
        const dry = await s.run(["preflight", "rotate-all", "--dry-run", "--stack", "staging"]);
        expect(dry.code).toBe(0);
        expect(dry.stdout).toBe("preflight: a dry run of `rotate-all` on staging needs no admin credential\n");
        expect((await s.run(["preflight", "status", "--stack", "staging"])).code).toBe(0);
        expect((await s.run(["preflight", "rollback", "--service", "redis", "--stack", "staging"])).code).toBe(0);
    });

    it.each([
        [["preflight", "rotate", "--service", "databse", "--stack", "staging"], 2, "error: Invalid values: Argument: service, Given: \"databse\""],
        [["preflight", "launch", "--stack", "staging"], 2, "error: Invalid values: Argument: command, Given: \"launch\""],
        [["preflight", "rotate-all", "--stack", "prod"], 3, 'error: unknown stack "prod"'],
        [["preflight", "rotate-all"], 2, "error: --stack is required"],
    ])("%j exits %i with one line", async (args, code, start) => {
        const s = sandbox();
        const r = await s.run(args as string[], VALUES);
        expect(r.code).toBe(code);
        expect(r.stdout).toBe("");
        expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
        expect(r.stderr.startsWith(start)).toBe(true);
    });
});
