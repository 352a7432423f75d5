/**
 * `secrets-rotation bootstrap` as a process, against real PostgreSQL and Redis started by the test: it creates the
 * roles and the ACL user the appliers expect, is idempotent, and refuses without admin credentials.
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
    it("creates the alternating roles and the ACL user, idempotently; then the appliers work", async () => {
        const { pg, redis } = servers;
        const s = sandbox();
        const env = { ROTATION_PG_ADMIN_URL: pg.adminUrl, ROTATION_REDIS_ADMIN_URL: redis.adminUrl };
        const first = await s.run(["bootstrap", "--stack", "staging", "--json"], env);
        expect(first.code).toBe(0);
        expect(JSON.parse(first.stdout)).toEqual({
            stack: "staging",
            postgres: { groupRole: "buywhere_app", roles: ["buywhere_app_a", "buywhere_app_b"] },
            redis: { user: "buywhere-api", created: true },
        });
        const second = await s.run(["bootstrap", "--stack", "staging"], env);
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

    it("without admin credentials exits 2 and names the variables", async () => {
        const r = await sandbox().run(["bootstrap", "--stack", "production"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toBe("error: bootstrap needs the admin credentials in the environment: ROTATION_PG_ADMIN_URL, ROTATION_REDIS_ADMIN_URL (or use --print)\n");
    });

    it("--print shows the SQL and the ACL command, touching nothing", async () => {
        const r = await sandbox().run(["bootstrap", "--stack", "production", "--print", "--json"]);
        expect(r.code).toBe(0);
        const doc = JSON.parse(r.stdout);
        expect(doc.sql).toContain(`ALTER ROLE "buywhere_app_b" SET role = 'buywhere_app'`);
        expect(doc.redis).toBe("ACL SETUSER buywhere-api on resetpass ~* &* +@all -@admin -@dangerous");
    });
});
