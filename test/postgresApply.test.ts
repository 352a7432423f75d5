/**
 * The PostgreSQL applier against a real PostgreSQL 15 (throwaway cluster started by the test): bootstrap of the
 * alternating roles, setting a slot's password with a client-side SCRAM verifier, proof by login, the two-slot
 * property over successive rotations, and its inputs decoded through its contract (hooks/contracts.ts).
 */
import { readFileSync } from "node:fs";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminCredential, fromEnv, postgresApplyContract, toEnv } from "../hooks/contracts";
import { HookInputError, SourceError } from "../hooks/hookRuntime";
import { applyPostgresSlot, bootstrapPostgres, bootstrapSql, canLogIn, scramVerifier } from "../hooks/postgresApply";
import { Slot, otherSlot } from "../rotation/catalog";
import { password } from "./support/fixtures";
import { Postgres, startPostgres } from "./support/postgres";
import { runHookProcess } from "./support/hookProcess";

let pg: Postgres;
const ROLES = { a: "buywhere_app_a", b: "buywhere_app_b" };
const ADMIN_ENV = postgresApplyContract.adminEnv;

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = new Client({ connectionString: pg.adminUrl });
    await c.connect();
    try {
        return await fn(c);
    } finally {
        await c.end();
    }
}

beforeAll(async () => {
    pg = await startPostgres();
}, 120_000);
afterAll(async () => pg?.stop());

describe("PostgreSQL alternating roles", () => {
    it("bootstrap is idempotent and sets up a group role that owns what either login role creates", async () => {
        await bootstrapPostgres(pg.adminUrl, "buywhere_app", [ROLES.a, ROLES.b], "buywhere");
        await bootstrapPostgres(pg.adminUrl, "buywhere_app", [ROLES.a, ROLES.b], "buywhere");
        const roles = await admin(async (c) =>
            (
                await c.query(
                    `SELECT r.rolname, r.rolcanlogin, array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid)::text[] AS member_of
                     FROM pg_roles r WHERE r.rolname LIKE 'buywhere_app%' ORDER BY 1`,
                )
            ).rows,
        );
        expect(roles).toEqual([
            { rolname: "buywhere_app", rolcanlogin: false, member_of: [] },
            { rolname: "buywhere_app_a", rolcanlogin: true, member_of: ["buywhere_app"] },
            { rolname: "buywhere_app_b", rolcanlogin: true, member_of: ["buywhere_app"] },
        ]);
        await admin((c) => c.query("GRANT CREATE, USAGE ON SCHEMA public TO buywhere_app"));
        const [pa, pb] = [password(), password()];
        await applyPostgresSlot(pg.adminUrl, ROLES.a, pa);
        await applyPostgresSlot(pg.adminUrl, ROLES.b, pb);
        const asRole = async (role: string, pw: string, sql: string) => {
            const u = new URL(pg.adminUrl);
            u.username = role;
            u.password = pw;
            const c = new Client({ connectionString: u.toString() });
            await c.connect();
            try {
                return (await c.query(sql)).rows;
            } finally {
                await c.end();
            }
        };
        await asRole(ROLES.a, pa, "CREATE TABLE made_by_slot_a (id int)");
        expect(await asRole(ROLES.b, pb, "SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_slot_a'")).toEqual([{ tableowner: "buywhere_app" }]);
        expect(await asRole(ROLES.b, pb, "INSERT INTO made_by_slot_a VALUES (1) RETURNING id")).toEqual([{ id: 1 }]);
    });

    it("sets a slot's password as a SCRAM verifier, so the plaintext reaches neither pg_authid nor the server log", async () => {
        const pw = password();
        const result = await applyPostgresSlot(pg.adminUrl, ROLES.a, pw);
        expect(result).toEqual({ role: ROLES.a, changed: true });
        const stored = await admin(async (c) => (await c.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [ROLES.a])).rows[0].rolpassword as string);
        expect(stored).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
        expect(stored).not.toContain(pw);
        if (pg.logFile) {
            const log = readFileSync(pg.logFile, "utf8");
            expect(log).toContain(`ALTER ROLE "${ROLES.a}" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:`); // the log is live
            expect(log).not.toContain(pw);
        }
        expect(await canLogIn(pg.adminUrl, ROLES.a, pw)).toBe(true);
        expect(await canLogIn(pg.adminUrl, ROLES.a, `${pw}x`)).toBe(false);
    });

    it("is idempotent: applying the same password again changes nothing", async () => {
        const pw = password();
        expect((await applyPostgresSlot(pg.adminUrl, ROLES.b, pw)).changed).toBe(true);
        const before = await admin(async (c) => (await c.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [ROLES.b])).rows[0].rolpassword);
        expect((await applyPostgresSlot(pg.adminUrl, ROLES.b, pw)).changed).toBe(false);
        const after = await admin(async (c) => (await c.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [ROLES.b])).rows[0].rolpassword);
        expect(after).toBe(before); // same salt: not re-set
    });

    it("a verifier computed here is what PostgreSQL accepts (fixed salt round-trip)", () => {
        // RFC 7677 test vector: user "user", password "pencil", salt "W22ZaJ0SNY7soEsUEjb6gQ==", 4096 iterations.
        const v = scramVerifier("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096);
        expect(v).toBe("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
    });

    it("over successive rotations the previous slot keeps logging in after one rotation and stops after two", async () => {
        // Each rotation regenerates the slot that is not active and makes it active (README, "Two slots per
        // credential"; the state machine itself is tested in test/slots.test.ts).
        let active: Slot = "a";
        const pw: Record<Slot, string> = { a: password(), b: password() };
        await applyPostgresSlot(pg.adminUrl, ROLES.a, pw.a);
        await applyPostgresSlot(pg.adminUrl, ROLES.b, pw.b);
        const history: { role: string; password: string }[] = [{ role: ROLES.a, password: pw.a }];
        for (let rotation = 1; rotation <= 3; rotation++) {
            active = otherSlot(active);
            pw[active] = password();
            await applyPostgresSlot(pg.adminUrl, ROLES[active], pw[active]);
            history.push({ role: ROLES[active], password: pw[active] });
            const n = history.length;
            const current = history[n - 1];
            const previous = history[n - 2];
            expect(await canLogIn(pg.adminUrl, current.role, current.password)).toBe(true);
            expect(await canLogIn(pg.adminUrl, previous.role, previous.password)).toBe(true); // pods not yet restarted
            if (n >= 3) {
                const twoAgo = history[n - 3];
                expect(await canLogIn(pg.adminUrl, twoAgo.role, twoAgo.password)).toBe(false);
            }
        }
    });

    it.each([
        ["an unreachable database", () => "postgresql://admin:x@127.0.0.1:9/buywhere", ROLES.a, Error, /^could not reach PostgreSQL to test the login of buywhere_app_a: connect ECONNREFUSED 127\.0\.0\.1:9/],
        ["a wrong admin password", () => pg.adminUrl.replace(/:[^:@/]+@/, ":wrong-admin-password@"), ROLES.a, Error, /^could not connect to PostgreSQL as the admin user: password authentication failed for user "admin" \(28P01\)$/],
        ["a missing role", () => pg.adminUrl, "buywhere_app_c", SourceError, /^role buywhere_app_c does not exist; run `secrets-rotation bootstrap --stack <stack>` \(or the SQL in README\) first$/],
        ["an admin URL that is no URL", () => "postgresql://admin:AdminS3cret@[db", ROLES.a, HookInputError, /^ROTATION_PG_ADMIN_URL is not a valid postgres:\/\/ URL$/],
    ])("fails clearly for %s, and no password is in the message", async (_, url, role, kind, message) => {
        const pw = password();
        const err = await applyPostgresSlot(url(), role, pw).then(() => undefined, (e: Error) => e);
        expect(err).toBeInstanceOf(kind);
        // Only the source's own diagnoses are SourceErrors: the others were worded here, around a driver's error.
        expect(err instanceof SourceError).toBe(kind === SourceError);
        expect(err?.message).toMatch(message);
        for (const secret of [pw, "AdminS3cret", "wrong-admin-password"]) expect(`${err?.message}${err?.stack}`).not.toContain(secret);
    });

    it("a role that cannot log in is the source's diagnosis, passed on as it is", async () => {
        await admin((c) => c.query("CREATE ROLE buywhere_app_nologin NOLOGIN"));
        const err = await applyPostgresSlot(pg.adminUrl, "buywhere_app_nologin", password()).then(() => undefined, (e: Error) => e);
        expect(err).toBeInstanceOf(SourceError);
        expect(err?.message).toBe("role buywhere_app_nologin cannot log in (NOLOGIN); run the bootstrap, which makes it a login role");
    });

    it.each([
        [{}, "environment variable PG_ROLE is required"],
        [{ PG_ROLE: "Buywhere-App", PG_PASSWORD: "x" }, 'environment variable PG_ROLE "Buywhere-App" is not a PostgreSQL role name'],
        [{ PG_ROLE: 'x"; DROP ROLE admin; --', PG_PASSWORD: "x" }, 'environment variable PG_ROLE "x\\"; DROP ROLE admin; --" is not a PostgreSQL role name'],
        [{ PG_ROLE: ROLES.a }, "environment variable PG_PASSWORD is required"],
        [{ PG_ROLE: ROLES.a, PG_PASSWORD: "  " }, "environment variable PG_PASSWORD is required"],
    ])("decodes its input only through its contract: %j is refused with one line naming the variable", (env, message) => {
        expect(() => fromEnv(postgresApplyContract, env)).toThrow(new HookInputError(message));
    });

    it("refuses a password SCRAM would need SASLprep for, without echoing it (a secret field)", () => {
        const value = "Pässwört-Sécret-1";
        let err: Error | undefined;
        try {
            fromEnv(postgresApplyContract, { PG_ROLE: ROLES.a, PG_PASSWORD: value });
        } catch (e) {
            err = e as Error;
        }
        expect(err).toBeInstanceOf(HookInputError);
        expect(err?.message).toBe("environment variable PG_PASSWORD is not valid");
        expect(`${err?.message}${err?.stack}`).not.toContain(value);
        expect(fromEnv(postgresApplyContract, { PG_ROLE: ROLES.a, PG_PASSWORD: "printable ASCII ~!@#$%^&*()" }).password).toBe("printable ASCII ~!@#$%^&*()");
    });

    it("reads the admin URL from the variable its contract names", () => {
        expect(() => adminCredential(postgresApplyContract, {})).toThrow(new HookInputError(`environment variable ${ADMIN_ENV} is required`));
        expect(adminCredential(postgresApplyContract, { [ADMIN_ENV]: pg.adminUrl })).toBe(pg.adminUrl);
    });

    it("runs as the process the program runs: exit 0 and idempotent; 1 with one line on failure; 2 on bad input", async () => {
        const run = (env: Record<string, string>) => runHookProcess("postgresApply", env);
        const adminEnv = { [ADMIN_ENV]: pg.adminUrl };
        const pw = password();
        const ok = await run({ ...toEnv(postgresApplyContract, { role: ROLES.b, password: pw }), ...adminEnv });
        expect(ok.code).toBe(0);
        expect(ok.stderr).toBe(`[postgres-apply] set the password of ${ROLES.b} and logged in with it\n`);
        const again = await run({ ...toEnv(postgresApplyContract, { role: ROLES.b, password: pw }), ...adminEnv });
        expect(again.stderr).toBe(`[postgres-apply] ${ROLES.b} already logs in with this slot's password; nothing to change\n`);
        const missing = await run({ ...toEnv(postgresApplyContract, { role: "buywhere_app_z", password: pw }), ...adminEnv });
        expect(missing.code).toBe(1);
        expect(missing.stderr.trim().split("\n")).toHaveLength(1);
        expect(missing.stderr).not.toContain(pw);
        const noAdmin = await run(toEnv(postgresApplyContract, { role: ROLES.b, password: pw }));
        expect(noAdmin.code).toBe(2);
        expect(noAdmin.stderr).toBe(`[postgres-apply] error: environment variable ${ADMIN_ENV} is required\n`);
        const notAscii = "Pässwört-Sécret-2";
        const badPassword = await run({ ...toEnv(postgresApplyContract, { role: ROLES.b, password: pw }), PG_PASSWORD: notAscii, ...adminEnv });
        expect(badPassword.code).toBe(2);
        expect(badPassword.stderr).toBe("[postgres-apply] error: environment variable PG_PASSWORD is not valid\n");
        expect(await canLogIn(pg.adminUrl, ROLES.b, pw)).toBe(true); // refused before anything changed
    });

    it("bootstrap SQL names only validated identifiers", () => {
        expect(bootstrapSql("buywhere_app", ["buywhere_app_a"], "buywhere")).toContain(`GRANT "buywhere_app" TO "buywhere_app_a"`);
        expect(() => bootstrapSql("buywhere_app", ['x"; DROP ROLE admin; --'], "buywhere")).toThrow(new HookInputError('"x\\"; DROP ROLE admin; --" is not a valid PostgreSQL identifier (lower-case letters, digits, _)'));
        expect(() => bootstrapSql("buywhere_app", ["buywhere_app_a"], "Buywhere")).toThrow('"Buywhere" is not a valid PostgreSQL identifier');
    });
});
