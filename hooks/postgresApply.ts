/**
 * Applies a database slot's password at its source: PostgreSQL's alternating login roles (AWS's "alternating
 * users" strategy). Each slot has its own login role, a member of one group role that owns the objects; setting
 * slot b's password leaves slot a's role — the one running pods hold — untouched.
 *
 * Steps: if the slot role already logs in with this password, change nothing; else set it with `ALTER ROLE` using a
 * SCRAM-SHA-256 verifier computed here (the plaintext never reaches the server or its logs), then log in as the
 * role to prove it works (AWS's testSecret step). Any failure exits non-zero, so nothing is published.
 *
 * Inputs: `postgresApplyContract` (hooks/contracts.ts), and the admin connection URL it names as `adminEnv`.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { Client, ClientConfig } from "pg";
import { PG_IDENT } from "../rotation/rules";
import { adminCredential, fromEnv, postgresApplyContract } from "./contracts";
import { HookInputError, SourceError, firstErrorLine, runHook, stderrLogger } from "./hookRuntime";

const ADMIN_ENV = postgresApplyContract.adminEnv;

/** A validated identifier, double-quoted (the SQL here names roles and databases; none takes bind parameters). */
export function quoteIdent(name: string): string {
    if (!PG_IDENT.test(name)) {
        throw new HookInputError(`${JSON.stringify(name)} is not a valid PostgreSQL identifier (lower-case letters, digits, _)`);
    }
    return `"${name}"`;
}

/**
 * A SCRAM-SHA-256 verifier as PostgreSQL stores it (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`, RFC 5802
 * section 3 and RFC 7677). No SASLprep: the contract admits printable ASCII only, which SASLprep leaves unchanged.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
    const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
    const clientKey = createHmac("sha256", salted).update("Client Key").digest();
    const storedKey = createHash("sha256").update(clientKey).digest();
    const serverKey = createHmac("sha256", salted).update("Server Key").digest();
    return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** Connection settings on the admin URL's server and database: as the admin, or as `login`. */
function connectionConfig(adminUrl: string, login?: { readonly user: string; readonly password: string }): ClientConfig {
    let url: URL;
    try {
        url = new URL(adminUrl);
    } catch {
        throw new HookInputError(`${ADMIN_ENV} is not a valid postgres:// URL`);
    }
    if (login === undefined) return { connectionString: adminUrl, connectionTimeoutMillis: 10_000 };
    url.username = encodeURIComponent(login.user);
    url.password = encodeURIComponent(login.password);
    return { connectionString: url.toString(), connectionTimeoutMillis: 10_000 };
}

/** Connection settings for logging in as `user`, on the same server and database as the admin URL. */
export function loginConfig(adminUrl: string, user: string, password: string): ClientConfig {
    return connectionConfig(adminUrl, { user, password });
}

/** A connected admin client; the caller ends it. */
async function connectAdmin(adminUrl: string): Promise<Client> {
    const admin = new Client(connectionConfig(adminUrl));
    try {
        await admin.connect();
    } catch (err) {
        await admin.end().catch(() => undefined);
        throw new Error(`could not connect to PostgreSQL as the admin user: ${pgErrorLine(err)}`);
    }
    return admin;
}

/** A PostgreSQL error in one line, with its SQLSTATE; without any credential (the server never echoes one). */
function pgErrorLine(err: unknown): string {
    const code = (err as { code?: string }).code;
    return `${firstErrorLine(err)}${code ? ` (${code})` : ""}`;
}

/** True when `user` can log in with `password`. */
export async function canLogIn(adminUrl: string, user: string, password: string): Promise<boolean> {
    const client = new Client(loginConfig(adminUrl, user, password));
    try {
        await client.connect();
        await client.query("SELECT 1");
        return true;
    } catch (err) {
        // SQLSTATE 28P01 invalid_password, 28000 invalid_authorization_specification (no such role, or pg_hba
        // rejects it): https://www.postgresql.org/docs/15/errcodes-appendix.html
        const code = (err as { code?: string }).code;
        if (code === "28P01" || code === "28000") return false;
        throw new Error(`could not reach PostgreSQL to test the login of ${user}: ${pgErrorLine(err)}`);
    } finally {
        await client.end().catch(() => undefined);
    }
}

export interface ApplyResult {
    readonly role: string;
    readonly changed: boolean;
}

/** Sets the slot role's password (if it is not already that) and proves the role logs in with it. */
export async function applyPostgresSlot(adminUrl: string, role: string, password: string, log: (m: string) => void = () => undefined): Promise<ApplyResult> {
    const quoted = quoteIdent(role);
    if (await canLogIn(adminUrl, role, password)) {
        log(`${role} already logs in with this slot's password; nothing to change`);
        return { role, changed: false };
    }
    const admin = await connectAdmin(adminUrl);
    try {
        const exists = await admin.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [role]);
        if (exists.rowCount === 0) {
            throw new SourceError(`role ${role} does not exist; run \`secrets-rotation bootstrap --stack <stack>\` (or the SQL in README) first`);
        }
        if (!exists.rows[0].rolcanlogin) {
            throw new SourceError(`role ${role} cannot log in (NOLOGIN); run the bootstrap, which makes it a login role`);
        }
        // ALTER ROLE takes no bind parameters; the verifier is base64 and '$', ':' only, so a literal is safe. A
        // password already in SCRAM form is stored as it is, whatever password_encryption says:
        // https://www.postgresql.org/docs/15/sql-createrole.html (PASSWORD).
        await admin.query(`ALTER ROLE ${quoted} WITH LOGIN PASSWORD '${scramVerifier(password)}'`);
    } catch (err) {
        if (err instanceof SourceError) throw err;
        throw new Error(`could not set the password of ${role}: ${pgErrorLine(err)}`);
    } finally {
        await admin.end().catch(() => undefined);
    }
    if (!(await canLogIn(adminUrl, role, password))) {
        throw new SourceError(`${role} does not log in with its new password after ALTER ROLE (check pg_hba.conf and password_encryption)`);
    }
    log(`set the password of ${role} and logged in with it`);
    return { role, changed: true };
}

/**
 * Idempotent bootstrap of the alternating roles: a NOLOGIN group role that owns the objects, two login roles in
 * it whose sessions act as the group role (so what they create is owned by the group, not by one slot's role):
 * `ALTER ROLE ... SET role` is a per-role session default applied at login
 * (https://www.postgresql.org/docs/15/sql-alterrole.html), and objects are owned by the current role
 * (https://www.postgresql.org/docs/15/sql-set-role.html).
 */
export function bootstrapSql(groupRole: string, roles: readonly string[], database: string): string[] {
    const g = quoteIdent(groupRole);
    const db = quoteIdent(database);
    return [
        `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${groupRole}') THEN CREATE ROLE ${g} NOLOGIN; END IF; END $$`,
        `GRANT CONNECT ON DATABASE ${db} TO ${g}`,
        ...roles.flatMap((r) => [
            `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${r}') THEN CREATE ROLE ${quoteIdent(r)} LOGIN; END IF; END $$`,
            `ALTER ROLE ${quoteIdent(r)} LOGIN`,
            `GRANT ${g} TO ${quoteIdent(r)}`,
            `ALTER ROLE ${quoteIdent(r)} SET role = '${groupRole}'`,
        ]),
    ];
}

/** Runs the bootstrap statements in one transaction. */
export async function bootstrapPostgres(adminUrl: string, groupRole: string, roles: readonly string[], database: string): Promise<void> {
    const admin = await connectAdmin(adminUrl);
    try {
        await admin.query("BEGIN");
        for (const sql of bootstrapSql(groupRole, roles, database)) await admin.query(sql);
        await admin.query("COMMIT");
    } catch (err) {
        await admin.query("ROLLBACK").catch(() => undefined);
        throw new Error(`bootstrap failed: ${pgErrorLine(err)}`);
    } finally {
        await admin.end().catch(() => undefined);
    }
}

if (require.main === module) {
    runHook("postgres-apply", async () => {
        const { role, password } = fromEnv(postgresApplyContract, process.env);
        const adminUrl = adminCredential(postgresApplyContract, process.env);
        await applyPostgresSlot(adminUrl, role, password, stderrLogger("postgres-apply"));
    });
}
