import { describe, expect, it } from "vitest";
import { parseSettings } from "../rotation/settings";
import { RotationInputError } from "../rotation/errors";
import { stackConfig } from "./support/pulumiProgram";

const staging = stackConfig("staging");
const db = staging["rotation:database"] as Record<string, unknown>;
const k8s = staging["rotation:kubernetes"] as Record<string, unknown>;
const ecs = staging["rotation:ecs"] as Record<string, unknown>;
const redis = staging["rotation:redis"] as Record<string, unknown>;

/** Parses staging's config with some keys replaced, and returns the error it throws. */
function errorFor(override: Record<string, unknown>, env = {}): RotationInputError {
    try {
        parseSettings({ ...staging, ...override }, env);
    } catch (err) {
        expect(err).toBeInstanceOf(RotationInputError);
        return err as RotationInputError;
    }
    throw new Error("expected the config to be rejected");
}

describe("config", () => {
    it.each(["staging", "production"])("the real Pulumi.%s.yaml parses, with defaults filled in", (stack) => {
        const s = parseSettings(stackConfig(stack));
        expect(s.stamp).toMatch(/^\d{4}-\d{2}$/);
        expect(s.aws.region).toBe("ap-southeast-1");
        expect(s.aws.secretPrefix.startsWith("buywhere/")).toBe(true);
        expect(s.ecs?.cluster).toBe("buywhere-api");
        expect(s.kubernetes?.namespaces).toEqual([stack]);
        expect(s.kubernetes?.secretMode).toBe("patch");
        expect(s.database.roles).toEqual({ a: "buywhere_app_a", b: "buywhere_app_b" });
        expect(s.policy.r2).toBe("quarterly");
        expect(s.policy.database).toBe("monthly");
        expect(s.groupStamps).toEqual({});
    });

    it("fills the seed's defaults when keys are omitted", () => {
        const s = parseSettings({
            "rotation:stamp": "2026-11",
            "rotation:database": JSON.stringify({ host: "p", replicaHost: "r", pgbouncerHost: "b", name: "buywhere" }),
            "rotation:redis": JSON.stringify({ host: "redis", user: "app" }),
            "rotation:health": JSON.stringify({ urls: ["https://api/health"] }),
            "rotation:typesense": JSON.stringify({ url: "https://search.internal" }),
            "rotation:r2": JSON.stringify({ accountId: "0".repeat(32), buckets: ["assets"], permissionGroupIds: ["6a018a9f2fc74eb6b293b0c548f38b39"] }),
        });
        expect(s.typesense).toEqual({ url: "https://search.internal", actions: ["documents:search"], collections: ["*"] });
        expect(s.database.groupRole).toBe("buywhere_app");
        expect(s.redis.aclRules).toEqual(["~*", "&*", "+@all", "-@admin", "-@dangerous"]);
        expect(s.aws).toEqual({ region: "ap-southeast-1", secretPrefix: "buywhere/" });
        expect(s.ecs).toBeUndefined();
        expect(s.kubernetes).toBeUndefined();
        expect(s.database).toMatchObject({ port: 5432, pgbouncerPort: 6432, scheme: "postgresql", params: { sslmode: "verify-full" } });
        expect(s.redis).toMatchObject({ port: 6379, tls: true, db: 0 });
        expect(s.health).toMatchObject({ expectStatus: 200, attempts: 20, requiredSuccesses: 2 });
        expect(Object.values(s.policy)).toEqual(Array(6).fill("monthly"));
    });

    it("accepts config as Pulumi hands it over (objects JSON-encoded) and ignores other namespaces", () => {
        const asStrings = Object.fromEntries(
            Object.entries(staging).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
        );
        expect(parseSettings({ ...asStrings, "aws:region": "eu-west-1", "kubernetes:context": "x" })).toEqual(parseSettings(staging));
    });

    it.each([
        ["AWS_REGION", { AWS_REGION: "us-east-1" }, (s: any) => s.aws.region, "us-east-1"],
        ["ECS_CLUSTER", { ECS_CLUSTER: "blue" }, (s: any) => s.ecs.cluster, "blue"],
        ["K8S_CONTEXT", { K8S_CONTEXT: "kind-local" }, (s: any) => s.kubernetes.context, "kind-local"],
    ])("environment variable %s wins over the stack file only when ROTATION_ENV_OVERRIDES=1 says so", (name, env, pick, expected) => {
        expect(pick(parseSettings(staging, { ...env, ROTATION_ENV_OVERRIDES: "1" }))).toEqual(expected);
        expect(() => parseSettings(staging, env)).toThrow(expect.objectContaining({ key: name, message: expect.stringMatching(new RegExp(`^environment variable \`${name}\` ".*" conflicts with \`rotation:.*\` ".*" in the stack file; unset it, or set ROTATION_ENV_OVERRIDES=1 to let the environment win$`)) }));
    });

    it("an override equal to the stack file's value, an empty one, or one for a key the file leaves to its default is fine", () => {
        expect(parseSettings(staging, { AWS_REGION: "ap-southeast-1", ECS_CLUSTER: " " }).aws.region).toBe("ap-southeast-1");
        const bare = { ...staging, "rotation:aws": { secretPrefix: "buywhere/staging/" } };
        expect(parseSettings(bare, { AWS_REGION: "eu-west-1" }).aws.region).toBe("eu-west-1");
    });

    it.each([
        ["a context name with a newline", { K8S_CONTEXT: "ctx\nevil", ROTATION_ENV_OVERRIDES: "1" }, "K8S_CONTEXT", /is not a kubeconfig context name \(one line, no spaces\)$/],
        ["an AWS endpoint for a non-local stack", { AWS_ENDPOINT_URL: "http://127.0.0.1:5000" }, "AWS_ENDPOINT_URL", /would send stack staging's AWS calls to "http:\/\/127\.0\.0\.1:5000" instead of AWS/],
        ["a per-service AWS endpoint", { AWS_ENDPOINT_URL_SECRETS_MANAGER: "https://evil.example" }, "AWS_ENDPOINT_URL_SECRETS_MANAGER", /instead of AWS/],
    ])("refuses %s", (_, env, key, message) => {
        expect(() => parseSettings(staging, env, "staging")).toThrow(expect.objectContaining({ key, message: expect.stringMatching(message) }));
    });

    it("the ElastiCache API's own endpoint variable (AWS_ENDPOINT_URL_ELASTICACHE, the SDK's per-service one) is refused like the rest, unless allowed", () => {
        expect(() => parseSettings(staging, { AWS_ENDPOINT_URL_ELASTICACHE: "http://127.0.0.1:5001" }, "staging")).toThrow(
            expect.objectContaining({ key: "AWS_ENDPOINT_URL_ELASTICACHE", message: expect.stringMatching(/would send stack staging's AWS calls to "http:\/\/127\.0\.0\.1:5001" instead of AWS/) }),
        );
        expect(() => parseSettings(staging, { AWS_ENDPOINT_URL_ELASTICACHE: "http://127.0.0.1:5001", ROTATION_ALLOW_AWS_ENDPOINT: "http://127.0.0.1:5001" }, "staging")).not.toThrow();
    });

    it("the R2 probe's endpoint (ROTATION_R2_ENDPOINT) moves only for the local stack (loopback) or when ROTATION_ALLOW_R2_ENDPOINT names it (tests)", () => {
        expect(parseSettings(staging, {}, "staging").r2.endpoint).toBeUndefined(); // the probe uses https://<account>.r2.cloudflarestorage.com
        const allowed = { ROTATION_R2_ENDPOINT: "http://127.0.0.1:9000", ROTATION_ALLOW_R2_ENDPOINT: "http://127.0.0.1:9000" };
        expect(parseSettings(staging, allowed, "staging").r2.endpoint).toBe("http://127.0.0.1:9000");
        const refused = (env: Record<string, string>) => {
            try {
                parseSettings(staging, env, "staging");
            } catch (e) {
                return e as RotationInputError;
            }
            throw new Error("accepted");
        };
        expect(refused({ ROTATION_R2_ENDPOINT: "https://r2.example.net" })).toMatchObject({
            key: "ROTATION_R2_ENDPOINT",
            message:
                'environment variable `ROTATION_R2_ENDPOINT` would prove stack staging\'s R2 keys against "https://r2.example.net" instead of R2; it is allowed only for the `local` stack (loopback) or when `ROTATION_ALLOW_R2_ENDPOINT` names the same endpoint, for tests',
        });
        expect(refused({ ROTATION_R2_ENDPOINT: "r2.example.net", ROTATION_ALLOW_R2_ENDPOINT: "r2.example.net" }).message).toBe(
            'environment variable `ROTATION_R2_ENDPOINT` "r2.example.net" is not an http(s) URL',
        );
    });

    it("a local AWS endpoint is allowed for the local stack, or when ROTATION_ALLOW_AWS_ENDPOINT names it (tests)", () => {
        expect(() => parseSettings(stackConfig("local"), { AWS_ENDPOINT_URL: "http://127.0.0.1:5000" }, "local")).not.toThrow();
        expect(() => parseSettings(staging, { AWS_ENDPOINT_URL: "http://127.0.0.1:5000", ROTATION_ALLOW_AWS_ENDPOINT: "http://127.0.0.1:5000" }, "staging")).not.toThrow();
    });

    it("Redis without TLS and a plaintext Typesense URL are refused outside loopback / the local stack", () => {
        const redis = staging["rotation:redis"] as object;
        expect(() => parseSettings({ ...staging, "rotation:redis": { ...redis, tls: false } }, {}, "staging")).toThrow(
            "`rotation:redis.tls` false is allowed only for the `local` stack: the Redis password would cross the network in clear",
        );
        // The local stack file (every address loopback: test/localStack.test.ts) says tls: false.
        expect(parseSettings(stackConfig("local"), {}, "local").redis.tls).toBe(false);
        expect(() => parseSettings({ ...staging, "rotation:typesense": { url: "http://search.internal" } })).toThrow("`rotation:typesense.url` must be https://");
        expect(parseSettings({ ...staging, "rotation:typesense": { url: "http://127.0.0.1:8108" } }).typesense.url).toBe("http://127.0.0.1:8108");
    });

    it("database parameters never drop TLS: sslmode defaults to verify-full when other parameters are set", () => {
        expect(parseSettings({ ...staging, "rotation:database": { ...db, params: { application_name: "api" } } }).database.params).toEqual({
            sslmode: "verify-full",
            application_name: "api",
        });
    });

    // The bad-input matrix: each case names the key and says what is allowed.
    it.each([
        ["a typo'd top-level key", { "rotation:stmap": "2026-11" }, "rotation:stmap", /^unknown config key `rotation:stmap` \(did you mean `rotation:stamp`\?\); allowed keys: `rotation:stamp`, /],
        ["a missing stamp", { "rotation:stamp": undefined }, "rotation:stamp", /^`rotation:stamp` is required$/],
        ["a malformed stamp", { "rotation:stamp": "November" }, "rotation:stamp", /^`rotation:stamp` "November" is not a stamp; expected `YYYY-MM`/],
        ["an impossible month", { "rotation:stamp": "2026-13" }, "rotation:stamp", /"2026-13" has no such month/],
        ["an unknown group", { "rotation:groupStamps": { databse: "2026-11" } }, "rotation:groupStamps", /has unknown group `databse`; allowed: `database`, `redis`, `jwt`, `api-key`, `r2`, `typesense`$/],
        ["a bad group stamp", { "rotation:groupStamps": { jwt: "2026-11-31" } }, "rotation:groupStamps.jwt", /"2026-11-31" is not a real date/],
        ["an unknown policy", { "rotation:policy": { database: "yearly" } }, "rotation:policy.database", /must be one of `daily`, `weekly`, `monthly`, `quarterly` \(got "yearly"\)$/],
        ["an unknown restart scope", { "rotation:restartStamps": { gcp: "2026-11" } }, "rotation:restartStamps", /unknown scope `gcp`; allowed: `all`, `aws`, `k8s`, `database`/],
        ["a port of the wrong type", { "rotation:database": { ...db, port: "5432x" } }, "rotation:database.port", /must be a whole number from 1 to 65535$/],
        ["a port out of range", { "rotation:database": { ...db, port: 70000 } }, "rotation:database.port", /must be a whole number from 1 to 65535$/],
        ["a missing required key", { "rotation:database": { ...db, host: undefined } }, "rotation:database.host", /^`rotation:database.host` is required$/],
        ["an unknown nested key", { "rotation:database": { ...db, hots: "x" } }, "rotation:database", /has unknown key `hots` \(did you mean `host`\?\); allowed keys: `host`, `replicaHost`/],
        [
            "a misspelt nested key: reported as unknown, not as the key it leaves missing",
            { "rotation:database": { ...Object.fromEntries(Object.entries(db).filter(([k]) => k !== "host")), hots: db.host } },
            "rotation:database",
            /^`rotation:database` has unknown key `hots` \(did you mean `host`\?\); allowed keys: .* \(and 1 more problem\)$/,
        ],
        ["two identical roles", { "rotation:database": { ...db, roles: { a: "app", b: "app" } } }, "rotation:database.roles", /must name two different roles/],
        ["a role that is not an identifier", { "rotation:database": { ...db, roles: { a: "app; DROP", b: "b" } } }, "rotation:database.roles.a", /is not a PostgreSQL role name/],
        ["empty namespaces", { "rotation:kubernetes": { ...k8s, namespaces: [] } }, "rotation:kubernetes.namespaces", /must list at least one namespace/],
        ["an invalid namespace", { "rotation:kubernetes": { ...k8s, namespaces: ["Staging"] } }, "rotation:kubernetes.namespaces[0]", /"Staging" is not a Kubernetes namespace name/],
        ["a deployment outside the namespaces", { "rotation:kubernetes": { ...k8s, deployments: [{ namespace: "prod", name: "api" }] } }, "rotation:kubernetes.deployments[0].namespace", /"prod" is not one of `rotation:kubernetes.namespaces`: `staging`$/],
        ["an unknown secret mode", { "rotation:kubernetes": { ...k8s, secretMode: "replace" } }, "rotation:kubernetes.secretMode", /must be one of `patch`, `create`/],
        ["a duplicate ECS service", { "rotation:ecs": { ...ecs, services: [{ name: "api" }, { name: "api" }] } }, "rotation:ecs.services[1]", /lists service "api" twice/],
        ["a duplicate deployment", { "rotation:kubernetes": { ...k8s, deployments: [{ namespace: "staging", name: "a" }, { namespace: "staging", name: "a" }] } }, "rotation:kubernetes.deployments[1]", /lists deployment "staging\/a" twice/],
        ["an unknown consumed group", { "rotation:ecs": { ...ecs, services: [{ name: "a", consumes: ["jwt", "foo"] }] } }, "rotation:ecs.services[0].consumes[1]", /must be one of `database`, .* \(got "foo"\)/],
        ["a prefix outside buywhere/", { "rotation:aws": { secretPrefix: "other/" } }, "rotation:aws.secretPrefix", /"other\/" is not a prefix under `buywhere\/`/],
        ["a prefix escaping with ..", { "rotation:aws": { secretPrefix: "buywhere/../other/" } }, "rotation:aws.secretPrefix", /is not a prefix under `buywhere\/`/],
        ["a bad region", { "rotation:aws": { region: "mars-1" } }, "rotation:aws.region", /is not an AWS region/],
        ["a non-URL health URL", { "rotation:health": { urls: ["api.buywhere.io/health"] } }, "rotation:health.urls[0]", /is not an http\(s\) URL/],
        ["a health URL with credentials (never echoed)", { "rotation:health": { urls: ["https://u:LeakCanaryP@api/health"] } }, "rotation:health.urls[0]", /^`rotation:health\.urls\[0\]` is a URL with credentials in it \(user info before the host\); give the URL without them$/],
        ["a reserved role as a slot role", { "rotation:database": { ...db, roles: { a: "postgres", b: "buywhere_app_b" } } }, "rotation:database.roles.a", /^`rotation:database\.roles\.a` "postgres" is a reserved or administrative role; the application needs a role of its own$/],
        ["an RDS role as the group role", { "rotation:database": { ...db, groupRole: "rds_superuser" } }, "rotation:database.groupRole", /"rds_superuser" is a reserved or administrative role/],
        ["the group role as a login role", { "rotation:database": { ...db, groupRole: "buywhere_app_a" } }, "rotation:database.groupRole", /"buywhere_app_a" must differ from both login roles/],
        ["sslmode that does not encrypt", { "rotation:database": { ...db, params: { sslmode: "prefer" } } }, "rotation:database.params.sslmode", /must be one of `verify-full`, `verify-ca`, `require`/],
        ["the default Redis user", { "rotation:redis": { ...redis, user: "default" } }, "rotation:redis.user", /must not be `default`/],
        ["an ACL rule with a password", { "rotation:redis": { ...redis, aclRules: ["~*", ">secret"] } }, "rotation:redis.aclRules[1]", /is not a Redis ACL key, channel or command rule/],
        ["nopass in the ACL rules", { "rotation:redis": { ...redis, aclRules: ["~*", "nopass"] } }, "rotation:redis.aclRules[1]", /is not a Redis ACL key, channel or command rule/],
        ["+@admin in the ACL rules", { "rotation:redis": { ...redis, aclRules: ["~*", "+@admin"] } }, "rotation:redis.aclRules", /must not grant `\+@admin`/],
        ["+@all without its exclusions", { "rotation:redis": { ...redis, aclRules: ["~*", "-@dangerous", "+@all"] } }, "rotation:redis.aclRules", /grants `\+@all` without `-@admin` and `-@dangerous` after it/],
        ["a Typesense key that could mint keys", { "rotation:typesense": { url: "https://ts.example", actions: ["keys:*"] } }, "rotation:typesense.actions[0]", /must be one of `documents:search`/],
        ["an R2 permission group beyond the buckets", { "rotation:r2": { ...(staging["rotation:r2"] as object), permissionGroupIds: ["0123456789abcdef0123456789abcdef"] } }, "rotation:r2.permissionGroupIds[0]", /must be one of `6a018a9f2fc74eb6b293b0c548f38b39`, `2efd5506f9c8494dacb1fa10a3e7d5b6`/],
        ["an ECS poll as long as the bound", { "rotation:ecs": { ...ecs, stableTimeoutSeconds: 30, pollSeconds: 30 } }, "rotation:ecs.pollSeconds", /^`rotation:ecs\.pollSeconds` \(30\) must be less than `rotation:ecs\.stableTimeoutSeconds` \(30\)$/],
        ["a Redis user with ACL syntax", { "rotation:redis": { ...redis, user: "app >pw" } }, "rotation:redis.user", /is not a Redis ACL user name/],
        ["a boolean of the wrong type", { "rotation:redis": { ...redis, tls: "yes" } }, "rotation:redis.tls", /must be true or false/],
        ["a scalar where a mapping belongs", { "rotation:health": "https://api/health" }, "rotation:health", /must be a mapping with keys `urls`/],
        ["a secret where none belongs", { "rotation:redis": { secure: "v1:abc" } }, "rotation:redis", /must not be a secret/],
        ["broken JSON", { "rotation:redis": "{nope" }, "rotation:redis", /is not valid JSON/],
        ["a bad Cloudflare account id", { "rotation:r2": { ...(staging["rotation:r2"] as object), accountId: "acct-1" } }, "rotation:r2.accountId", /"acct-1" is not a Cloudflare account id \(32 hex characters\)/],
        ["no R2 bucket", { "rotation:r2": { ...(staging["rotation:r2"] as object), buckets: [] } }, "rotation:r2.buckets", /must list at least one bucket/],
        ["a Typesense key that cannot search (its proof is a search)", { "rotation:typesense": { url: "https://ts.example", actions: ["documents:import"] } }, "rotation:typesense.actions", /^`rotation:typesense\.actions` must include documents:search: the applier proves each new key with a search$/],
        ["a Typesense proof timeout of 0", { "rotation:typesense": { url: "https://ts.example", proofTimeoutSeconds: 0 } }, "rotation:typesense.proofTimeoutSeconds", /must be a whole number from 1 to 900/],
        ["an R2 probe bound over 15 minutes", { "rotation:r2": { ...(staging["rotation:r2"] as object), probeTimeoutSeconds: 901 } }, "rotation:r2.probeTimeoutSeconds", /must be a whole number from 1 to 900/],
        ["a missing Typesense URL", { "rotation:typesense": { actions: ["documents:search"] } }, "rotation:typesense.url", /^`rotation:typesense.url` is required$/],
        ["an unknown provider to hold", { "rotation:hold": { database: ["gcp"] } }, "rotation:hold.database[0]", /must be one of `aws`, `k8s` \(got "gcp"\)/],
        ["holding every provider", { "rotation:hold": { database: ["aws", "k8s"] } }, "rotation:hold.database", /cannot hold back every provider: the rotation would publish nowhere/],
    ])("rejects %s with one line naming `%s`", (_, override, key, message) => {
        const err = errorFor(override as Record<string, unknown>);
        expect(err.key).toBe(key);
        expect(err.message).toMatch(message);
        expect(err.message).not.toContain("\n");
    });

    it("rejects a bad environment override, naming the variable", () => {
        const err = errorFor({}, { AWS_REGION: "mars" });
        expect(err.key).toBe("AWS_REGION");
        expect(err.message).toBe('environment variable `AWS_REGION` "mars" is not an AWS region');
    });

    it("says how many more problems there are", () => {
        const err = errorFor({ "rotation:stamp": "bad", "rotation:redis": { ...redis, port: -1 } });
        expect(err.message).toMatch(/\(and 1 more problem\)$/);
    });
});

describe("Redis kinds and admin secrets (issue 11)", () => {
    const elasticache = { ...redis, kind: "elasticache", userId: "buywhere-api-staging" };
    const acl = Object.fromEntries(Object.entries(redis).filter(([k]) => k !== "kind" && k !== "userId" && k !== "userGroupId"));
    const PG_SECRET = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:rds!cluster-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab-AbC123";

    it.each(["staging", "production"])("Pulumi.%s.yaml: Redis is an ElastiCache RBAC user, by id and by name", (stack) => {
        const s = parseSettings(stackConfig(stack));
        expect(s.redis).toMatchObject({ kind: "elasticache", user: "buywhere-api", userId: `buywhere-api-${stack}`, userGroupId: `buywhere-${stack}`, modifyTimeoutSeconds: 900, pollSeconds: 10, tls: true });
    });

    it("kind defaults to acl; elasticache needs the user id, acl refuses one", () => {
        expect(parseSettings({ ...staging, "rotation:redis": acl }).redis.kind).toBe("acl");
        expect(errorFor({ "rotation:redis": { ...elasticache, userId: undefined } }).message).toBe(
            "`rotation:redis.userId` is required with `kind: elasticache`: ModifyUser names the user by id (the user name is what clients AUTH with)",
        );
        expect(errorFor({ "rotation:redis": { ...acl, userId: "x" } }).message).toBe("`rotation:redis.userId` is for `kind: elasticache` only (a self-run Redis names users by name)");
        // bootstrap's user group (ModifyUserGroup): ElastiCache only; ElastiCache's own `default` user is never the slots' user.
        expect(errorFor({ "rotation:redis": { ...acl, userGroupId: "g" } }).message).toBe("`rotation:redis.userGroupId` is for `kind: elasticache` only (a self-run Redis has no user groups)");
        expect(errorFor({ "rotation:redis": { ...elasticache, userId: "default" } }).message).toBe(
            "`rotation:redis.userId` must not be `default`: that is ElastiCache's default user, which every unauthenticated connection is",
        );
    });

    it.each([
        [{ kind: "memorydb" }, "`rotation:redis.kind` must be one of `acl`, `elasticache`"],
        [{ userId: "9starts-with-a-digit" }, '`rotation:redis.userId` "9starts-with-a-digit" is not an ElastiCache user id'],
        [{ userId: "has_underscore" }, '`rotation:redis.userId` "has_underscore" is not an ElastiCache user id'],
        [{ modifyTimeoutSeconds: 10 }, "`rotation:redis.modifyTimeoutSeconds` must be a whole number from 30 to 3600"],
        [{ modifyTimeoutSeconds: 30, pollSeconds: 30 }, "`rotation:redis.pollSeconds` (30) must be less than `rotation:redis.modifyTimeoutSeconds` (30)"],
    ])("refuses redis %j", (change, message) => {
        expect(errorFor({ "rotation:redis": { ...elasticache, ...change } }).message).toContain(message);
    });

    it("admin secrets: complete Secrets Manager ARNs per group; not for ElastiCache's Redis", () => {
        expect(parseSettings({ ...staging, "rotation:adminSecrets": { database: PG_SECRET } }).adminSecrets).toEqual({ database: PG_SECRET });
        expect(parseSettings(staging).adminSecrets).toEqual({});
        expect(errorFor({ "rotation:adminSecrets": { database: PG_SECRET.replace(/-AbC123$/, "") } }).message).toMatch(/^`rotation:adminSecrets\.database` "arn:aws:secretsmanager:[^"]+" is not a Secrets Manager secret's complete ARN/);
        expect(errorFor({ "rotation:adminSecrets": { database: "arn:aws:ssm:ap-southeast-1:111122223333:parameter/x-AbC123" } }).message).toContain("is not a Secrets Manager secret's complete ARN");
        expect(errorFor({ "rotation:adminSecrets": { jwt: PG_SECRET } }).message).toContain("`rotation:adminSecrets` has unknown group `jwt`");
        expect(errorFor({ "rotation:adminSecrets": { redis: PG_SECRET } }).message).toBe(
            "`rotation:adminSecrets.redis` is not used with `rotation:redis.kind` elasticache: the ElastiCache applier calls the AWS API with the run's AWS credentials; remove it",
        );
        expect(parseSettings({ ...staging, "rotation:redis": acl, "rotation:adminSecrets": { redis: PG_SECRET } }).adminSecrets.redis).toBe(PG_SECRET);
    });
});
