/**
 * On a real PostgreSQL 15: the least-privilege rotator `bootstrap` creates (and what its errors say when a grant is
 * missing), the replica login proof, and the migration from the legacy application user to the group role with the
 * read/write canary — after which both slot roles read and write the legacy user's tables and the legacy user still
 * logs in and works. Then `bootstrap` as a process with those stack-file keys: `--print`, a run, and bad input (a
 * legacy user that does not exist, or one that is privileged) refused with exit 2 and one line, nothing changed.
 */
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { Client } from "pg";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { GuardrailError, HookInputError, SourceError } from "../hooks/hookRuntime";
import { applyPostgresSlot, bootstrapPostgres, canLogIn, likelyCause, terminatePostgresSessions } from "../hooks/postgresApply";
import { ROOT } from "./support/pulumiProgram";
import { projectWith, runCli, sandbox } from "./support/cli";
import { password } from "./support/fixtures";
import { freePort } from "./support/ports";
import { useServers } from "./support/servers";

const servers = useServers();
const GROUP = "buywhere_app";
const ROLES = ["buywhere_app_a", "buywhere_app_b"];

function urlAs(adminUrl: string, user: string, pw: string): string {
    const u = new URL(adminUrl);
    u.username = user;
    u.password = pw;
    return u.toString();
}

async function sql<T = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
        return (await c.query(text, params)).rows as T[];
    } finally {
        await c.end();
    }
}

describe("the least-privilege rotator", () => {
    it("bootstrap creates it with CREATEROLE and pg_signal_backend only (PostgreSQL 15: no membership in the slot roles); it rotates and ends sessions", async () => {
        const { pg } = servers;
        await bootstrapPostgres(pg.adminUrl, GROUP, ROLES, "buywhere", process.env, { rotator: "buywhere_rotator" });
        await bootstrapPostgres(pg.adminUrl, GROUP, ROLES, "buywhere", process.env, { rotator: "buywhere_rotator" }); // idempotent
        const rotatorPw = password();
        await sql(pg.adminUrl, `ALTER ROLE buywhere_rotator PASSWORD '${rotatorPw}'`);
        const [attrs] = await sql<{ rolsuper: boolean; rolcreaterole: boolean; rolcanlogin: boolean }>(pg.adminUrl, "SELECT rolsuper, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = 'buywhere_rotator'");
        expect(attrs).toEqual({ rolsuper: false, rolcreaterole: true, rolcanlogin: true });
        const memberOf = await sql<{ rolname: string }>(pg.adminUrl, "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = 'buywhere_rotator'::regrole");
        expect(memberOf.map((r) => r.rolname)).toEqual(["pg_signal_backend"]);

        const rotatorUrl = urlAs(pg.adminUrl, "buywhere_rotator", rotatorPw);
        const pw = password();
        expect((await applyPostgresSlot(rotatorUrl, ROLES[0], pw)).changed).toBe(true);
        expect(await canLogIn(pg.adminUrl, ROLES[0], pw)).toBe(true);
        const open = new Client({ connectionString: urlAs(pg.adminUrl, ROLES[0], pw) });
        await open.connect();
        open.on("error", () => undefined);
        expect((await terminatePostgresSessions(rotatorUrl, ROLES[0])).terminated).toBe(1);
        await open.end().catch(() => undefined);
        // It cannot read the application's data (no membership in the group role).
        await expect(sql(rotatorUrl, "SET ROLE buywhere_app")).rejects.toThrow(/permission denied to set role/);
    });

    it("a rotator lacking CREATEROLE: the error names the likely cause (CREATEROLE, ADMIN OPTION on 16+) and nothing changed", async () => {
        const { pg } = servers;
        const weakPw = password();
        await sql(pg.adminUrl, `DROP ROLE IF EXISTS weak_rotator; CREATE ROLE weak_rotator LOGIN PASSWORD '${weakPw}'`);
        const before = password();
        await applyPostgresSlot(pg.adminUrl, ROLES[1], before);
        const err = await applyPostgresSlot(urlAs(pg.adminUrl, "weak_rotator", weakPw), ROLES[1], password()).catch((e) => e);
        expect(err).toBeInstanceOf(SourceError);
        expect(err.message).toBe(
            "could not set the password of buywhere_app_b: permission denied (42501): the rotator needs CREATEROLE and, on PostgreSQL 16+, ADMIN OPTION on buywhere_app_b (GRANT buywhere_app_b TO <rotator> WITH ADMIN OPTION, INHERIT FALSE, SET FALSE; see `secrets-rotation bootstrap --print`)",
        );
        expect(await canLogIn(pg.adminUrl, ROLES[1], before)).toBe(true);
    });

    it("maps the other refusals to their causes: rds_password, pg_hba/SSL, a wrong password", () => {
        const e = (code: string, message: string) => Object.assign(new Error(message), { code });
        // The message RDS gives with rds.restrict_password_commands (AWS docs, RestrictPasswordMgmt).
        expect(likelyCause(e("42501", "must be a member of rds_password to alter passwords"), "r")).toMatch(/^: rds\.restrict_password_commands is on and the rotator is not a member of rds_password \(GRANT rds_password TO <rotator>/);
        expect(likelyCause(e("42501", 'permission denied to alter role'), "r")).toMatch(/ADMIN OPTION on r/);
        expect(likelyCause(e("28000", 'no pg_hba.conf entry for host "10.0.0.1", user "r", database "d", no encryption'), "r")).toMatch(/^: pg_hba\.conf has no entry for this host, user and SSL state/);
        expect(likelyCause(e("28P01", 'password authentication failed for user "r"'), "r")).toBe(": wrong password");
        expect(likelyCause(e("57P01", "terminating connection"), "r")).toBe("");
    });
});

describe("the replica login proof", () => {
    it("logs in through the replica endpoint before succeeding; an unreachable replica stops the run with one line", async () => {
        const { pg } = servers;
        await bootstrapPostgres(pg.adminUrl, GROUP, ROLES, "buywhere");
        const logs: string[] = [];
        const pw = password();
        await applyPostgresSlot(pg.adminUrl, ROLES[0], pw, (m) => logs.push(m), process.env, { replica: { host: "127.0.0.1", port: pg.port } });
        expect(logs).toContain(`buywhere_app_a logs in through the replica 127.0.0.1:${pg.port}`);
        const closed = await freePort();
        const err = await applyPostgresSlot(pg.adminUrl, ROLES[0], password(), undefined, process.env, { replica: { host: "127.0.0.1", port: closed } }).catch((e) => e);
        expect(err).toBeInstanceOf(SourceError);
        expect(err.message).toMatch(new RegExp(`^buywhere_app_a does not log in through the replica 127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`));
        expect(err.message).not.toContain("\n");
    });
});

describe("migration from the legacy application user", () => {
    it("moves ownership and privileges to the group role; both slot roles read and write, pass the canary, and the legacy user still works", async () => {
        const { pg } = servers;
        const legacyPw = password();
        const legacyUrl = urlAs(pg.adminUrl, "buywhere_legacy", legacyPw);
        await sql(pg.adminUrl, `CREATE ROLE buywhere_legacy LOGIN PASSWORD '${legacyPw}'; GRANT CREATE ON SCHEMA public TO buywhere_legacy`);
        // What the application built with the legacy credential, and a table of someone else it was granted.
        await sql(legacyUrl, "CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL); INSERT INTO orders (item) VALUES ('first'); CREATE VIEW order_items AS SELECT item FROM orders");
        await sql(pg.adminUrl, "CREATE TABLE catalog (sku text); INSERT INTO catalog VALUES ('sku-1'); GRANT SELECT ON catalog TO buywhere_legacy");

        await bootstrapPostgres(pg.adminUrl, GROUP, ROLES, "buywhere", process.env, { legacyUser: "buywhere_legacy", canary: true });
        await bootstrapPostgres(pg.adminUrl, GROUP, ROLES, "buywhere", process.env, { legacyUser: "buywhere_legacy", canary: true }); // idempotent

        const owners = await sql<{ relname: string; owner: string }>(pg.adminUrl, "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c WHERE c.relname IN ('orders', 'orders_id_seq', 'order_items', 'rotation_canary') ORDER BY 1");
        expect(owners).toEqual([
            { relname: "order_items", owner: GROUP },
            { relname: "orders", owner: GROUP },
            { relname: "orders_id_seq", owner: GROUP },
            { relname: "rotation_canary", owner: GROUP },
        ]);
        // The RDS-style guard: nobody was granted the legacy user's role.
        expect(await sql(pg.adminUrl, "SELECT 1 FROM pg_auth_members WHERE roleid = 'buywhere_legacy'::regrole")).toEqual([]);

        for (const role of ROLES) {
            const pw = password();
            const logs: string[] = [];
            await applyPostgresSlot(pg.adminUrl, role, pw, (m) => logs.push(m), process.env, { canary: true });
            expect(logs).toContain(`read/write canary as ${role} on rotation_canary passed`);
            const url = urlAs(pg.adminUrl, role, pw);
            await sql(url, "INSERT INTO orders (item) VALUES ($1)", [role]);
            await sql(url, "UPDATE orders SET item = item WHERE item = $1", [role]);
            expect((await sql<{ n: number }>(url, "SELECT count(*)::int AS n FROM order_items WHERE item = $1", [role]))[0].n).toBe(1);
            expect(await sql(url, "SELECT sku FROM catalog")).toEqual([{ sku: "sku-1" }]);
            await sql(url, "DELETE FROM orders WHERE item = $1", [role]);
        }
        expect(await sql(pg.adminUrl, "SELECT count(*)::int AS n FROM rotation_canary")).toEqual([{ n: 0 }]); // the canary rolled back

        // The legacy login still works on what it no longer owns, and what it creates now the slot roles can use.
        await sql(legacyUrl, "INSERT INTO orders (item) VALUES ('legacy')");
        expect((await sql<{ n: number }>(legacyUrl, "SELECT count(*)::int AS n FROM orders"))[0].n).toBe(2);
        await sql(legacyUrl, "CREATE TABLE later (v int); INSERT INTO later VALUES (1)");
        const pw = password();
        await applyPostgresSlot(pg.adminUrl, ROLES[0], pw);
        expect(await sql(urlAs(pg.adminUrl, ROLES[0], pw), "SELECT v FROM later")).toEqual([{ v: 1 }]);
    });

    it("a canary on a database without the table fails before anything is published, naming bootstrap", async () => {
        const { pg } = servers;
        await sql(pg.adminUrl, "DROP TABLE IF EXISTS rotation_canary");
        try {
            const err = await applyPostgresSlot(pg.adminUrl, ROLES[1], password(), undefined, process.env, { canary: true }).catch((e) => e);
            expect(err).toBeInstanceOf(SourceError);
            expect(err.message).toMatch(/^the read\/write canary as buywhere_app_b failed: relation "public\.rotation_canary" does not exist \(42P01\): the table does not exist; run `secrets-rotation bootstrap`$/);
        } finally {
            await bootstrapPostgres(pg.adminUrl, GROUP, ROLES, "buywhere", process.env, { canary: true });
        }
    });

    it("refuses a legacy user that does not exist, or one that is privileged, changing nothing", async () => {
        const { pg } = servers;
        const missing = await bootstrapPostgres(pg.adminUrl, GROUP, ROLES, "buywhere", process.env, { legacyUser: "nobody_here" }).catch((e) => e);
        expect(missing).toBeInstanceOf(HookInputError);
        expect(missing.message).toBe("legacy user nobody_here (rotation:database.legacyUser) does not exist on the server; nothing changed");
        await sql(pg.adminUrl, "CREATE ROLE legacy_su LOGIN SUPERUSER; CREATE ROLE legacy_files LOGIN; GRANT pg_write_server_files TO legacy_files");
        for (const [legacy, why] of [
            ["admin", "it is the role the admin URL logs in as"],
            ["legacy_su", "it has SUPERUSER"],
            ["legacy_files", "it is a member of pg_write_server_files, which gives superuser-level access"],
        ]) {
            const err = await bootstrapPostgres(pg.adminUrl, GROUP, ROLES, "buywhere", process.env, { legacyUser: legacy }).catch((e) => e);
            expect(err).toBeInstanceOf(GuardrailError);
            expect(err.message).toBe(`refusing legacy user ${legacy}: ${why}; its objects and memberships must not go to the group role (nothing changed)`);
        }
        expect(await sql(pg.adminUrl, "SELECT 1 FROM pg_auth_members WHERE member = 'buywhere_app'::regrole")).toEqual([]);
    });
});

/** A copy of the project whose staging stack file sets `rotation:database` keys. */
function stagingWith(keys: Record<string, unknown>): string {
    const doc = parse(readFileSync(join(ROOT, "Pulumi.staging.yaml"), "utf8"));
    doc.config["rotation:database"] = { ...doc.config["rotation:database"], ...keys };
    // Staging's Redis is ElastiCache (bootstrapped through AWS); these tests bootstrap the test's own ACL Redis.
    const { userId: _id, userGroupId: _group, ...redis } = doc.config["rotation:redis"];
    doc.config["rotation:redis"] = { ...redis, kind: "acl" };
    return projectWith({ "Pulumi.staging.yaml": stringify(doc) });
}

describe("bootstrap as a process with the rotator and the legacy user", () => {
    const KEYS = { rotatorRole: "buywhere_rotator", legacyUser: "app_legacy", canary: true };

    it("--print shows the rotator's grants and the migration, touching nothing", async () => {
        const dir = stagingWith(KEYS);
        const r = await runCli(["bootstrap", "--stack", "staging", "--print"], { ...sandbox().env }, undefined, join(dir, "test", "support", "standInBin.ts"));
        expect(r.code).toBe(0);
        expect(r.stdout).toContain("-- the rotator buywhere_rotator: CREATEROLE; ADMIN OPTION on the slot roles (PostgreSQL 16+); rds_password");
        expect(r.stdout).toContain(`EXECUTE 'GRANT "buywhere_app_a", "buywhere_app_b" TO "buywhere_rotator" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE'`);
        expect(r.stdout).toContain(`EXECUTE 'GRANT rds_password TO "buywhere_rotator"'`);
        expect(r.stdout).toContain(`REASSIGN OWNED BY "app_legacy" TO "buywhere_app";`);
        expect(r.stdout).toContain(`GRANT "buywhere_app" TO "app_legacy";`);
        expect(r.stdout).toContain(`ALTER DEFAULT PRIVILEGES FOR ROLE "app_legacy" GRANT ALL ON TABLES TO "buywhere_app";`);
        expect(r.stdout).toContain(`ALTER TABLE public.rotation_canary OWNER TO "buywhere_app";`);
    });

    it("runs against the servers; a legacy user that does not exist exits 2 with one line and changes nothing", async () => {
        const { pg, redis } = servers;
        const env = { ...sandbox().env, ROTATION_PG_ADMIN_URL: pg.adminUrl, ROTATION_REDIS_ADMIN_URL: redis.adminUrl };
        const bin = (dir: string) => join(dir, "test", "support", "standInBin.ts");

        const missing = await runCli(["bootstrap", "--stack", "staging"], env, undefined, bin(stagingWith({ ...KEYS, rotatorRole: "never_created_rotator" })));
        expect(missing.code).toBe(2);
        expect(missing.stderr).toBe("error: legacy user app_legacy (rotation:database.legacyUser) does not exist on the server; nothing changed\n");
        expect(await sql(pg.adminUrl, "SELECT 1 FROM pg_roles WHERE rolname = 'never_created_rotator'")).toEqual([]);

        const master = await runCli(["bootstrap", "--stack", "staging"], env, undefined, bin(stagingWith({ ...KEYS, legacyUser: "admin" })));
        expect(master.code).toBe(2);
        expect(master.stderr).toBe("error: refusing legacy user admin: it is the role the admin URL logs in as; its objects and memberships must not go to the group role (nothing changed)\n");

        await sql(pg.adminUrl, `CREATE ROLE app_legacy LOGIN PASSWORD '${password()}'`);
        const ok = await runCli(["bootstrap", "--stack", "staging", "--json"], env, undefined, bin(stagingWith(KEYS)));
        expect(ok.code).toBe(0);
        expect(JSON.parse(ok.stdout).postgres).toEqual({ groupRole: GROUP, roles: ROLES, rotator: "buywhere_rotator", legacyUser: "app_legacy", canary: "public.rotation_canary" });
        expect(ok.stderr).toContain("PostgreSQL: ownership and privileges of legacy user app_legacy moved to buywhere_app; app_legacy is a member of it and still logs in");
        expect(ok.stdout + ok.stderr).not.toContain(new URL(pg.adminUrl).password);
    }, 60_000);
});
