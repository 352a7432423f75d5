/**
 * `secrets-rotation bootstrap` as a process, against real PostgreSQL and Redis started by the test: it creates the
 * roles and the ACL user the appliers expect (a stack with `rotation:redis.kind: acl`: the local one), is idempotent,
 * and refuses without admin credentials. The ElastiCache kind (staging, production): test/elasticacheBootstrap.test.ts.
 */
import { Client } from "pg";
import { describe, expect, it } from "vitest";
import { applyPostgresSlot, canLogIn } from "../hooks/postgresApply";
import { applyRedisSlots, canAuth } from "../hooks/redisApply";
import { sandbox } from "./support/cli";
import { password } from "./support/fixtures";
import { useServers } from "./support/servers";

const servers = useServers();

describe("bootstrap", () => {
    it("creates the alternating roles and the ACL user (kind acl), idempotently; then the appliers work", async () => {
        const { pg, redis } = servers;
        const s = sandbox();
        const env = { ROTATION_PG_ADMIN_URL: pg.adminUrl, ROTATION_REDIS_ADMIN_URL: redis.adminUrl };
        const first = await s.run(["bootstrap", "--stack", "local", "--json"], env);
        expect(first.code).toBe(0);
        expect(JSON.parse(first.stdout)).toEqual({
            stack: "local",
            postgres: { groupRole: "buywhere_app", roles: ["buywhere_app_a", "buywhere_app_b"] },
            redis: { user: "buywhere-api", created: true },
        });
        const second = await s.run(["bootstrap", "--stack", "local"], env);
        expect(second.code).toBe(0);
        expect(second.stderr).toContain("Redis: ACL user buywhere-api already exists");
        for (const v of Object.values(env)) expect(first.stdout + first.stderr + second.stdout + second.stderr).not.toContain(new URL(v).password);

        const c = new Client({ connectionString: pg.adminUrl });
        await c.connect();
        const roles = (await c.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'buywhere_app%' ORDER BY 1")).rows.map((r) => r.rolname);
        await c.end();
        expect(roles).toEqual(["buywhere_app", "buywhere_app_a", "buywhere_app_b"]);
        const pw = { pg: password(), a: password(), b: password() };
        await applyPostgresSlot(pg.adminUrl, "buywhere_app_a", pw.pg);
        expect(await canLogIn(pg.adminUrl, "buywhere_app_a", pw.pg)).toBe(true);
        await applyRedisSlots(redis.adminUrl, "buywhere-api", [pw.a, pw.b]);
        expect(await canAuth(redis.adminUrl, "buywhere-api", pw.b)).toBe(true);
    });

    it("without admin credentials exits 2 and names the variables (the ElastiCache kind needs no Redis admin URL)", async () => {
        const local = await sandbox().run(["bootstrap", "--stack", "local"]);
        expect(local.code).toBe(2);
        expect(local.stderr).toBe("error: bootstrap needs the admin credentials in the environment: ROTATION_PG_ADMIN_URL, ROTATION_REDIS_ADMIN_URL (or use --print)\n");
        const production = await sandbox().run(["bootstrap", "--stack", "production"]);
        expect(production.code).toBe(2);
        expect(production.stderr).toBe("error: bootstrap needs the admin credentials in the environment: ROTATION_PG_ADMIN_URL (or use --print)\n");
    });

    it("--print shows the SQL and the ACL command (kind acl), touching nothing", async () => {
        const r = await sandbox().run(["bootstrap", "--stack", "local", "--print", "--json"]);
        expect(r.code).toBe(0);
        const doc = JSON.parse(r.stdout);
        expect(doc.sql).toContain(`ALTER ROLE "buywhere_app_b" SET role = 'buywhere_app'`);
        expect(doc.redis).toBe("ACL SETUSER buywhere-api on resetpass ~* &* +@all -@admin -@dangerous");
    });

    it("--print on the ElastiCache kind shows CreateUser and ModifyUserGroup (no ACL SETUSER), touching nothing", async () => {
        const json = await sandbox().run(["bootstrap", "--stack", "production", "--print", "--json"]);
        expect(json.code).toBe(0);
        const doc = JSON.parse(json.stdout);
        expect(doc.sql).toContain(`ALTER ROLE "buywhere_app_b" SET role = 'buywhere_app'`);
        expect(doc.redis).toEqual({
            kind: "elasticache",
            region: "ap-southeast-1",
            createUser: {
                UserId: "buywhere-api-production",
                UserName: "buywhere-api",
                Engine: "redis",
                AccessString: "on ~* &* +@all -@admin -@dangerous",
                AuthenticationMode: { Type: "password", Passwords: ["<64 random hex characters, generated and discarded>"] },
            },
            modifyUserGroup: { UserGroupId: "buywhere-production", UserIdsToAdd: ["buywhere-api-production"] },
        });
        const text = await sandbox().run(["bootstrap", "--stack", "production", "--print"]);
        expect(text.code).toBe(0);
        expect(text.stdout).not.toContain("ACL SETUSER");
        expect(text.stdout).toContain(
            "aws elasticache create-user --region ap-southeast-1 --user-id buywhere-api-production --user-name buywhere-api --engine redis \\\n" +
                "    --access-string 'on ~* &* +@all -@admin -@dangerous' \\\n" +
                '    --authentication-mode Type=password,Passwords="$(openssl rand -hex 32)"\n' +
                "aws elasticache modify-user-group --region ap-southeast-1 --user-group-id buywhere-production --user-ids-to-add buywhere-api-production\n",
        );
    });
});
