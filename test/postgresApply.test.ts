/**
 * The PostgreSQL applier against a real PostgreSQL 15 (throwaway cluster started by the test): bootstrap of the
 * alternating roles, setting a slot's password with a client-side SCRAM verifier, proof by login, the two-slot
 * property over successive rotations, and its inputs decoded through its contract (hooks/contracts.ts). Then the
 * admin link's TLS rules (against a second cluster that speaks TLS with a test CA), the guardrails on the target role,
 * and ending a retired role's sessions.
 */
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { adminCredential, fromEnv, postgresApplyContract, toEnv } from "../hooks/contracts";
import { GuardrailError, HookInputError, SourceError } from "../hooks/hookRuntime";
import {
    PG_CA_ENV,
    applyPostgresSlot,
    bootstrapPostgres,
    bootstrapSql,
    canLogIn,
    pgConnection,
    scramVerifier,
    terminatePostgresSessions,
} from "../hooks/postgresApply";
import { Slot, otherSlot } from "../rotation/catalog";
import { password } from "./support/fixtures";
import { Postgres, startPostgres } from "./support/postgres";
import { runHookProcess } from "./support/hookProcess";
import { TestCa, TlsPostgres, makeTestCa, startTlsPostgres } from "./support/tlsServers";

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
        ["an unreachable database", () => "postgresql://admin:x@127.0.0.1:9/buywhere", ROLES.a, Error, /^could not connect to PostgreSQL as the admin user: connect ECONNREFUSED 127\.0\.0\.1:9$/],
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

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e);
const CANARY = "Pg-Canary-AdminPw-7f3a9c";

/** The stored verifier of a role: unchanged means nothing was applied. */
const verifierOf = (role: string) => admin(async (c) => (await c.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [role])).rows[0]?.rolpassword as string | null);

describe("the admin link: TLS with a verified certificate unless the host is loopback", () => {
    const url = (host: string, query = "") => `postgresql://admin:${encodeURIComponent(CANARY)}@${host}/buywhere${query}`;
    let ca: TestCa;
    beforeAll(() => {
        ca = makeTestCa();
    });
    afterAll(() => ca?.remove());

    it.each([
        ["127.0.0.1:5432", "", { host: "127.0.0.1", port: 5432, ssl: false }],
        ["localhost", "", { host: "localhost", port: 5432, ssl: false }],
        ["[::1]:5433", "", { host: "::1", port: 5433, ssl: false }],
        ["127.42.0.9", "?sslmode=disable", { host: "127.42.0.9", ssl: false }],
        ["%2Fvar%2Frun%2Fpostgresql", "?sslmode=verify-full", { host: "/var/run/postgresql", ssl: false }], // a Unix socket: no TLS there
        ["db.internal:5432", "?sslmode=verify-full", { host: "db.internal", ssl: { rejectUnauthorized: true, ca: undefined } }],
        ["localhost", "?sslmode=verify-full&application_name=rotation", { host: "localhost", ssl: { rejectUnauthorized: true }, application_name: "rotation" }],
    ])("accepts %s%s", (host, query, expected) => {
        const config = pgConnection(url(host, query), {});
        expect(config).toMatchObject({ ...expected, user: "admin", password: CANARY, database: "buywhere", connectionTimeoutMillis: 10_000 });
        expect(config).not.toHaveProperty("connectionString"); // pg never parses the URL itself
    });

    it("verifies against the CA bundle ROTATION_PG_CA_FILE names", () => {
        const config = pgConnection(url("db.internal", "?sslmode=verify-full"), { [PG_CA_ENV]: ca.caFile });
        expect(config.ssl).toEqual({ rejectUnauthorized: true, ca: readFileSync(ca.caFile, "utf8") });
    });

    const notLoopback = `${ADMIN_ENV} must use sslmode=verify-full (TLS with a verified certificate): its host is not loopback`;
    it.each([
        [url("db.internal"), notLoopback],
        ...["disable", "allow", "prefer", "require", "verify-ca", "no-verify"].map((mode) => [url("db.internal", `?sslmode=${mode}`), notLoopback]),
        // Forms a resolver might map to loopback are remote to this check: it fails closed.
        ...["127.1", "127.0.0.1.nip.io", "localhost.example.com", "[::ffff:127.0.0.1]", "0.0.0.0"].map((host) => [url(host), notLoopback]),
        [url("127.0.0.1", "?sslmode=require"), `${ADMIN_ENV} has sslmode=require the hook does not accept: use sslmode=verify-full, or for a loopback host no sslmode`],
        [url("127.0.0.1", "?sslmode=verify-ca"), `${ADMIN_ENV} has sslmode=verify-ca the hook does not accept: use sslmode=verify-full, or for a loopback host no sslmode`],
        // pg-connection-string would let these replace the host or weaken verification: refused, not ignored.
        [url("127.0.0.1", "?host=db.internal"), `${ADMIN_ENV} has a parameter the hook does not read (host): only sslmode and application_name; give a CA bundle in ${PG_CA_ENV}`],
        [url("db.internal", "?sslmode=verify-full&sslrootcert=/etc/ca.pem"), `${ADMIN_ENV} has a parameter the hook does not read (sslrootcert): only sslmode and application_name; give a CA bundle in ${PG_CA_ENV}`],
        [url("db.internal", "?uselibpqcompat=true&sslmode=verify-full"), `${ADMIN_ENV} has a parameter the hook does not read (uselibpqcompat): only sslmode and application_name; give a CA bundle in ${PG_CA_ENV}`],
        [url("127.0.0.1", "?ssl=true"), `${ADMIN_ENV} has a parameter the hook does not read (ssl): only sslmode and application_name; give a CA bundle in ${PG_CA_ENV}`],
        [url("db.internal", `?${encodeURIComponent(CANARY)}=1`), `${ADMIN_ENV} has a parameter the hook does not read: only sslmode and application_name; give a CA bundle in ${PG_CA_ENV}`],
        [url("db.internal", "?sslmode=verify-full&sslmode=disable"), `${ADMIN_ENV} gives sslmode more than once`],
        [`mysql://admin:${CANARY}@127.0.0.1/buywhere`, `${ADMIN_ENV} is not a valid postgres:// URL`],
        [`postgresql://admin:%zz${CANARY}@127.0.0.1/buywhere`, `${ADMIN_ENV} is not a valid postgres:// URL`],
        [`postgresql://:${CANARY}@127.0.0.1/buywhere`, `${ADMIN_ENV} must name a user`],
    ])("refuses %s with one line naming the variable, never the credential", (adminUrl, message) => {
        let err: unknown;
        try {
            pgConnection(adminUrl, {});
        } catch (e) {
            err = e;
        }
        expect(err).toEqual(new HookInputError(message));
        expect(`${(err as Error).message}${(err as Error).stack}`).not.toContain(CANARY);
    });

    it("refuses a CA bundle it cannot read or that holds no certificate, naming the variable", () => {
        const verifyFull = url("db.internal", "?sslmode=verify-full");
        expect(() => pgConnection(verifyFull, { [PG_CA_ENV]: join(ca.dir, "missing.pem") })).toThrow(
            new HookInputError(`environment variable ${PG_CA_ENV} names a file that cannot be read (ENOENT)`),
        );
        const notPem = join(ca.dir, "not.pem");
        writeFileSync(notPem, "hello");
        expect(() => pgConnection(verifyFull, { [PG_CA_ENV]: notPem })).toThrow(new HookInputError(`environment variable ${PG_CA_ENV} names a file that holds no PEM certificate`));
    });

    it("attempts no connection for a refused link: not even a DNS lookup or a TCP connect", async () => {
        const connect = vi.spyOn(net.Socket.prototype, "connect");
        try {
            // db.invalid never resolves (RFC 6761): had the hook tried, the error would be ENOTFOUND, not the refusal.
            const refused = await failure(applyPostgresSlot(url("db.invalid:5432"), ROLES.a, password(), undefined, {}));
            expect(refused).toEqual(new HookInputError(notLoopback));
            expect(connect).not.toHaveBeenCalled();
            // The spy sees connections: an allowed link (loopback, nothing listening) is attempted.
            const attempted = await failure(applyPostgresSlot(url("127.0.0.1:9"), ROLES.a, password(), undefined, {}));
            expect(attempted?.message).toMatch(/^could not connect to PostgreSQL as the admin user: connect ECONNREFUSED/);
            expect(connect).toHaveBeenCalled();
        } finally {
            connect.mockRestore();
        }
    });

    it("as a process: a plaintext link to a remote host exits 2 with that one line", async () => {
        const run = await runHookProcess("postgresApply", { ...toEnv(postgresApplyContract, { role: ROLES.a, password: password() }), [ADMIN_ENV]: url("db.invalid:5432") });
        expect(run).toEqual({ code: 2, stdout: "", stderr: `[postgres-apply] error: ${notLoopback}\n` });
    });

    describe("against a server that speaks TLS with the test CA (certificate for localhost only)", () => {
        let tlsPg: TlsPostgres;
        const env = () => ({ [PG_CA_ENV]: ca.caFile });
        beforeAll(async () => {
            tlsPg = await startTlsPostgres(ca);
            await bootstrapPostgres(tlsPg.adminUrl, "buywhere_app", [ROLES.a, ROLES.b], "buywhere", env());
        }, 120_000);
        afterAll(async () => tlsPg?.stop());

        it("applies over verify-full: the admin session and the login proof both negotiated TLS", async () => {
            const pw = password();
            expect(await applyPostgresSlot(tlsPg.adminUrl, ROLES.a, pw, undefined, env())).toEqual({ role: ROLES.a, changed: true });
            const lines = tlsPg.connectionLog();
            const of = (user: string) => lines.filter((l) => l.includes(`user=${user} database=buywhere`));
            expect(of("admin").length).toBeGreaterThanOrEqual(2); // bootstrap and apply
            expect(of(ROLES.a)).toHaveLength(1); // the proof (the first, failed login is not "authorized")
            for (const line of [...of("admin"), ...of(ROLES.a)]) expect(line).toMatch(/SSL enabled \(protocol=TLSv1\.[23]/);
            expect(await canLogIn(tlsPg.adminUrl, ROLES.a, pw, env())).toBe(true);
        });

        it.each([
            [
                "a host the certificate was not issued for",
                () => tlsPg.adminUrl.replace("@localhost:", "@127.0.0.1:"),
                () => env(),
                /^could not connect to PostgreSQL as the admin user: Hostname\/IP does not match certificate's altnames: .* \(TLS: the certificate was not issued for the host the URL names; use the name it was issued for\)$/,
            ],
            [
                "a CA it was not told to trust",
                () => tlsPg.adminUrl,
                () => ({}),
                /^could not connect to PostgreSQL as the admin user: unable to verify the first certificate \(TLS: the server's certificate is not from a trusted CA; set ROTATION_PG_CA_FILE to the CA bundle that issued it\)$/,
            ],
        ])("refuses %s, and changes nothing", async (_, adminUrl, tlsEnv, message) => {
            const before = new Client(pgConnection(tlsPg.adminUrl, env()));
            await before.connect();
            const stored = async () => (await before.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [ROLES.b])).rows[0].rolpassword;
            try {
                const was = await stored();
                const err = await failure(applyPostgresSlot(adminUrl(), ROLES.b, password(), undefined, tlsEnv()));
                expect(err?.message).toMatch(message);
                expect(await stored()).toBe(was);
            } finally {
                await before.end();
            }
        });

        it("NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn verification off", async () => {
            const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
            process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
            try {
                const err = await failure(applyPostgresSlot(tlsPg.adminUrl, ROLES.b, password(), undefined, {}));
                expect(err?.message).toMatch(/unable to verify the first certificate/);
            } finally {
                if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
                else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
            }
        });

        it("never falls back to plaintext: verify-full against a server without TLS fails", async () => {
            const plain = pg.adminUrl.replace("@127.0.0.1:", "@localhost:") + "?sslmode=verify-full";
            const err = await failure(applyPostgresSlot(plain, ROLES.a, password(), undefined, env()));
            expect(err?.message).toBe("could not connect to PostgreSQL as the admin user: The server does not support SSL connections");
        });
    });
});

describe("guardrails: roles a rotation must never manage are refused before any change", () => {
    beforeAll(async () => {
        await bootstrapPostgres(pg.adminUrl, "buywhere_app", [ROLES.a, ROLES.b], "buywhere");
        await admin(async (c) => {
            for (const sql of [
                "CREATE ROLE rot_super LOGIN SUPERUSER",
                "CREATE ROLE rot_createrole LOGIN CREATEROLE",
                "CREATE ROLE rot_replication LOGIN REPLICATION",
                "CREATE ROLE rot_bypassrls LOGIN BYPASSRLS",
                "CREATE ROLE rot_createdb LOGIN CREATEDB",
                "CREATE ROLE grp_super NOLOGIN SUPERUSER",
                "CREATE ROLE rot_in_super LOGIN NOINHERIT IN ROLE grp_super", // NOINHERIT: SET ROLE still works
                "CREATE ROLE grp_outer NOLOGIN CREATEROLE",
                "CREATE ROLE grp_mid NOLOGIN IN ROLE grp_outer",
                "CREATE ROLE rot_nested LOGIN IN ROLE grp_mid",
                "CREATE ROLE rot_files LOGIN IN ROLE pg_write_server_files",
                "CREATE ROLE rot_in_admin LOGIN IN ROLE admin",
                // A least-privilege admin: may ALTER ROLE (CREATEROLE), is no superuser.
                `CREATE ROLE rotator LOGIN CREATEROLE PASSWORD '${CANARY}'`,
            ]) {
                await c.query(sql);
            }
        });
    });

    it.each([
        ["rot_super", "refusing role rot_super: it has SUPERUSER"],
        ["rot_createrole", "refusing role rot_createrole: it has CREATEROLE"],
        ["rot_replication", "refusing role rot_replication: it has REPLICATION"],
        ["rot_bypassrls", "refusing role rot_bypassrls: it has BYPASSRLS"],
        ["rot_in_super", "refusing role rot_in_super: it is a member of role grp_super, which has SUPERUSER"],
        ["rot_nested", "refusing role rot_nested: it is a member of role grp_outer, which has CREATEROLE"],
        ["rot_files", "refusing role rot_files: it is a member of pg_write_server_files, which gives superuser-level access"],
        ["admin", "refusing role admin: it is the role the admin URL logs in as"],
        ["rot_in_admin", "refusing role rot_in_admin: it is a member of admin, the role the admin URL logs in as"],
    ])("refuses %s: one line naming the role and the attribute; its password is unchanged", async (role, message) => {
        const before = await verifierOf(role);
        const pw = password();
        const err = await failure(applyPostgresSlot(pg.adminUrl, role, pw));
        expect(err).toEqual(new GuardrailError(message));
        expect(await verifierOf(role)).toBe(before);
        expect(await canLogIn(pg.adminUrl, role, pw)).toBe(false);
    });

    it("a least-privilege admin (CREATEROLE, no superuser) applies an ordinary slot and may not rotate itself", async () => {
        const rotatorUrl = pg.adminUrl.replace(/\/\/admin:[^@]+@/, `//rotator:${encodeURIComponent(CANARY)}@`);
        const pw = password();
        expect(await applyPostgresSlot(rotatorUrl, ROLES.b, pw)).toEqual({ role: ROLES.b, changed: true });
        const err = await failure(applyPostgresSlot(rotatorUrl, "rotator", password()));
        expect(err).toEqual(new GuardrailError("refusing role rotator: it is the role the admin URL logs in as"));
        expect(await canLogIn(pg.adminUrl, "rotator", CANARY)).toBe(true); // the admin's own password is intact
    });

    it("CREATEDB is allowed", async () => {
        expect((await applyPostgresSlot(pg.adminUrl, "rot_createdb", password())).changed).toBe(true);
    });

    it("bootstrap refuses a privileged group role before creating or granting anything", async () => {
        const err = await failure(bootstrapPostgres(pg.adminUrl, "grp_super", ["buywhere_app_x"], "buywhere"));
        expect(err).toEqual(new GuardrailError("refusing role grp_super: it has SUPERUSER"));
        expect(await admin(async (c) => (await c.query("SELECT 1 FROM pg_roles WHERE rolname = 'buywhere_app_x'")).rowCount)).toBe(0);
    });

    it("as a process: a refused role exits 2 with that one line", async () => {
        const run = await runHookProcess("postgresApply", { ...toEnv(postgresApplyContract, { role: "rot_super", password: password() }), [ADMIN_ENV]: pg.adminUrl });
        expect(run).toEqual({ code: 2, stdout: "", stderr: "[postgres-apply] error: refusing role rot_super: it has SUPERUSER\n" });
    });
});

describe("terminatePostgresSessions: ending a retired role's open sessions", () => {
    const open: Client[] = [];
    /** A session logged in as `role`, as a pod holds one; its termination is expected, so its errors are swallowed. */
    async function session(role: string, pw: string): Promise<Client> {
        const c = new Client({ connectionString: pg.adminUrl.replace(/\/\/admin:[^@]+@/, `//${role}:${pw}@`) });
        c.on("error", () => undefined);
        await c.connect();
        open.push(c);
        return c;
    }
    const backendsOf = (role: string) =>
        admin(async (c) => Number((await c.query("SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid WHERE r.rolname = $1", [role])).rows[0].count));
    const urlOf = (role: string) => pg.adminUrl.replace(/\/\/admin:[^@]+@/, `//${role}:${encodeURIComponent(CANARY)}@`);

    beforeAll(async () => {
        await bootstrapPostgres(pg.adminUrl, "buywhere_app", [ROLES.a, ROLES.b], "buywhere");
        await admin(async (c) => {
            await c.query(`CREATE ROLE revoker LOGIN PASSWORD '${CANARY}'`);
            await c.query("GRANT pg_signal_backend TO revoker"); // no superuser, no CREATEROLE: only the right to signal
            await c.query(`CREATE ROLE no_signal LOGIN PASSWORD '${CANARY}'`);
        });
    });
    afterAll(async () => {
        await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    });

    it("with pg_signal_backend only: ends every session of the retired slot role, reports the count; the other slot keeps working", async () => {
        const [pa, leaked] = [password(), password()];
        await applyPostgresSlot(pg.adminUrl, ROLES.a, pa);
        await applyPostgresSlot(pg.adminUrl, ROLES.b, leaked);
        const retired = await Promise.all([1, 2, 3].map(() => session(ROLES.b, leaked)));
        const current = await session(ROLES.a, pa);
        await applyPostgresSlot(pg.adminUrl, ROLES.b, password()); // the leaked password no longer logs in...
        expect(await canLogIn(pg.adminUrl, ROLES.b, leaked)).toBe(false);
        for (const c of retired) expect((await c.query("SELECT 1 AS ok")).rows).toEqual([{ ok: 1 }]); // ...but its sessions still run
        expect(await backendsOf(ROLES.b)).toBe(3);

        expect(await terminatePostgresSessions(urlOf("revoker"), ROLES.b)).toEqual({ role: ROLES.b, terminated: 3 });

        expect(await backendsOf(ROLES.b)).toBe(0);
        for (const c of retired) expect((await failure(c.query("SELECT 1")))?.message).toMatch(/terminat|Connection terminated|not queryable/i);
        expect((await current.query("SELECT 1 AS ok")).rows).toEqual([{ ok: 1 }]); // slot a's session untouched
        expect(await canLogIn(pg.adminUrl, ROLES.a, pa)).toBe(true); // and new logins with it work
        expect(await terminatePostgresSessions(urlOf("revoker"), ROLES.b)).toEqual({ role: ROLES.b, terminated: 0 });
    });

    it("without pg_signal_backend the server refuses (one line, SQLSTATE 42501), and the sessions stay", async () => {
        const pw = password();
        await applyPostgresSlot(pg.adminUrl, ROLES.b, pw);
        await session(ROLES.b, pw);
        const err = await failure(terminatePostgresSessions(urlOf("no_signal"), ROLES.b));
        expect(err?.message).toMatch(/^could not end the sessions of role buywhere_app_b: .* \(42501\)$/);
        expect(`${err?.message}${err?.stack}`).not.toContain(CANARY);
        expect(await backendsOf(ROLES.b)).toBe(1);
        expect((await terminatePostgresSessions(pg.adminUrl, ROLES.b)).terminated).toBe(1);
    });

    it("refuses the admin's own role and reports a role that does not exist", async () => {
        expect(await failure(terminatePostgresSessions(urlOf("revoker"), "revoker"))).toEqual(
            new GuardrailError("refusing to end the sessions of role revoker: it is the role the admin URL logs in as"),
        );
        expect(await failure(terminatePostgresSessions(pg.adminUrl, "buywhere_app_zz"))).toEqual(new SourceError("role buywhere_app_zz does not exist"));
    });
});
