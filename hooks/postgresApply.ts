/**
 * Applies a database slot's password at its source: PostgreSQL's alternating login roles (AWS's "alternating
 * users" strategy). Each slot has its own login role, a member of one group role that owns the objects; setting
 * slot b's password leaves slot a's role — the one running pods hold — untouched.
 *
 * Steps: refuse a role a rotation must never touch (`refusePrivilegedRole`); if the slot role already logs in with
 * this password, change nothing; else set it with `ALTER ROLE` using a SCRAM-SHA-256 verifier computed here (the
 * plaintext never reaches the server or its logs), then log in as the role to prove it works (AWS's testSecret step).
 * Any failure exits non-zero, so nothing is published.
 *
 * Every connection — the admin's and the login proofs — goes where the admin URL points, over TLS with a verified
 * certificate unless that is this machine (`pgConnection`).
 *
 * Inputs: `postgresApplyContract` (hooks/contracts.ts), the admin connection URL it names as `adminEnv`, and
 * optionally ROTATION_PG_CA_FILE (the CA bundle that issued the server's certificate).
 */
import "./isolateEnv"; // first: strips other hooks' credentials before any library loads
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { Client, ClientConfig } from "pg";
import { PG_IDENT } from "../rotation/rules";
import { adminCredentialOf } from "./adminSecret";
import { fromEnv, hookSecrets, postgresApplyContract } from "./contracts";
import { GuardrailError, HookInputError, Log, SourceError, firstErrorLine, runHook } from "./hookRuntime";
import { isLoopbackHost, readCaBundle, tlsHint } from "./transport";

const ADMIN_ENV = postgresApplyContract.adminEnv;

/** The CA bundle (PEM) that verifies the server's certificate; without it, Node's bundled public CAs do. */
export const PG_CA_ENV = "ROTATION_PG_CA_FILE";

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

/** The query parameters the admin URL may carry; any other is refused rather than silently ignored. */
const URL_PARAMS = ["sslmode", "application_name"];

function invalidUrl(): HookInputError {
    // Never the URL itself, nor a driver's message about it: it holds the admin password.
    return new HookInputError(`${ADMIN_ENV} is not a valid postgres:// URL`);
}

/**
 * How every connection of this hook reaches PostgreSQL: the admin URL's host, port, database and credentials, and its
 * TLS settings. The URL is parsed here and handed to `pg` as explicit settings, never as a connection string:
 * pg-connection-string 2.x reads `sslmode=require`/`prefer`/`verify-ca` as verify-full but warns that pg 9 will give
 * them libpq's weaker meaning, `uselibpqcompat=true` does so today, `sslmode=no-verify` turns verification off and
 * `?host=` replaces the URL's host (node_modules/pg-connection-string/index.js, brianc/node-postgres
 * packages/pg-connection-string/index.js); and an `ssl` object next to a connection string with `sslmode` in it is
 * replaced (https://node-postgres.com/features/ssl, "Usage with connectionString").
 *
 * The rules:
 * - a host that is not loopback (`isLoopbackHost`) needs `sslmode=verify-full`: TLS, the certificate chain verified
 *   against ROTATION_PG_CA_FILE (else Node's bundled CAs) and the certificate issued for the URL's host. `verify-ca`
 *   is refused: it accepts any certificate the CA issued, for any host — "If a public CA is used, verify-ca allows
 *   connections to a server that somebody else may have registered with the CA"
 *   (https://www.postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-PROTECTION; pg-connection-string throws the same
 *   warning). It is only "often enough" with a private CA, and the managed servers this targets (RDS, Aurora) issue
 *   certificates that name their endpoints, so verify-full costs nothing there. `disable`, `allow`, `prefer`,
 *   `require` and `no-verify` are refused.
 * - a loopback host may also go without TLS (`sslmode` absent or `disable`); a Unix socket (a host that is a path)
 *   never uses TLS ("sslmode is ignored for Unix domain socket communication",
 *   https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNECT-SSLMODE).
 * - `rejectUnauthorized: true` is set explicitly, so NODE_TLS_REJECT_UNAUTHORIZED=0 cannot turn verification off
 *   (https://nodejs.org/api/cli.html#node_tls_reject_unauthorizedvalue); `pg` checks the certificate against the host
 *   it connects to (pg 8 lib/connection.js `upgradeToSSL`: `host` passed to tls.connect).
 *
 * @throws HookInputError naming the variable (exit code 2), before any connection is attempted
 */
export function pgConnection(adminUrl: string, env: NodeJS.ProcessEnv = process.env): ClientConfig {
    let url: URL;
    try {
        url = new URL(adminUrl);
    } catch {
        throw invalidUrl();
    }
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") throw invalidUrl();
    const names = [...url.searchParams.keys()];
    for (const name of names) {
        if (!URL_PARAMS.includes(name)) {
            const shown = /^[a-z_]{1,40}$/.test(name) ? ` (${name})` : "";
            throw new HookInputError(`${ADMIN_ENV} has a parameter the hook does not read${shown}: only ${URL_PARAMS.join(" and ")}; give a CA bundle in ${PG_CA_ENV}`);
        }
        if (url.searchParams.getAll(name).length > 1) throw new HookInputError(`${ADMIN_ENV} gives ${name} more than once`);
    }
    const decode = (s: string) => {
        try {
            return decodeURIComponent(s);
        } catch {
            throw invalidUrl();
        }
    };
    const host = decode(url.hostname).replace(/^\[(.*)\]$/, "$1");
    const user = decode(url.username);
    if (host === "") throw new HookInputError(`${ADMIN_ENV} must name a host`);
    if (user === "") throw new HookInputError(`${ADMIN_ENV} must name a user`);
    const sslmode = url.searchParams.get("sslmode") ?? undefined;
    const socket = host.startsWith("/");
    let ssl: ClientConfig["ssl"];
    if (sslmode === "verify-full" && !socket) {
        ssl = { rejectUnauthorized: true, ca: readCaBundle(PG_CA_ENV, env) };
    } else if (socket || (isLoopbackHost(host) && (sslmode === undefined || sslmode === "disable"))) {
        ssl = false;
    } else if (isLoopbackHost(host)) {
        const shown = ["allow", "prefer", "require", "verify-ca", "no-verify"].includes(sslmode!) ? `sslmode=${sslmode}` : "an sslmode";
        throw new HookInputError(`${ADMIN_ENV} has ${shown} the hook does not accept: use sslmode=verify-full, or for a loopback host no sslmode`);
    } else {
        throw new HookInputError(`${ADMIN_ENV} must use sslmode=verify-full (TLS with a verified certificate): its host is not loopback`);
    }
    const database = decode(url.pathname.slice(1));
    const applicationName = url.searchParams.get("application_name") ?? undefined;
    return {
        host,
        port: url.port ? Number(url.port) : 5432,
        // Always set: pg falls back to PGDATABASE, PGUSER, PGPASSWORD... for what is missing (pg lib/connection-parameters.js `val`).
        database: database || user,
        user,
        password: decode(url.password),
        ssl,
        ...(applicationName ? { application_name: applicationName } : {}),
        connectionTimeoutMillis: 10_000,
    };
}

/** Connection settings for logging in as `user`, to the admin URL's server and database, with its TLS settings. */
export function loginConfig(adminUrl: string, user: string, password: string, env: NodeJS.ProcessEnv = process.env): ClientConfig {
    return { ...pgConnection(adminUrl, env), user, password };
}

/** A connected admin client; the caller ends it. */
async function connectAdmin(adminUrl: string, env: NodeJS.ProcessEnv): Promise<Client> {
    const admin = new Client(pgConnection(adminUrl, env));
    try {
        await admin.connect();
    } catch (err) {
        await admin.end().catch(() => undefined);
        throw new Error(`could not connect to PostgreSQL as the admin user: ${pgErrorLine(err)}`);
    }
    return admin;
}

/**
 * A PostgreSQL or TLS error in one line, with its SQLSTATE or a hint for an unverified certificate; without any
 * credential (the server never echoes one, and pg-connection-string is not used).
 */
function pgErrorLine(err: unknown): string {
    const code = (err as { code?: string }).code;
    const sqlstate = code && /^[0-9A-Z]{5}$/.test(code) ? ` (${code})` : "";
    return `${firstErrorLine(err)}${sqlstate}${tlsHint(err, PG_CA_ENV)}`;
}

/** True when `user` can log in with `password`, over the admin URL's link (same host, same TLS settings). */
export async function canLogIn(adminUrl: string, user: string, password: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
    const client = new Client(loginConfig(adminUrl, user, password, env));
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

/**
 * Predefined roles a member of which has superuser-level access: the server-file and server-program roles ("they could
 * be used to gain superuser-level access", https://www.postgresql.org/docs/15/predefined-roles.html) and RDS's
 * `rds_superuser` (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.Roles.html).
 */
const SUPERUSER_EQUIVALENT_ROLES = ["pg_execute_server_program", "pg_read_server_files", "pg_write_server_files", "rds_superuser"];

interface ReachableRole {
    readonly rolname: string;
    readonly rolsuper: boolean;
    readonly rolcreaterole: boolean;
    readonly rolreplication: boolean;
    readonly rolbypassrls: boolean;
    readonly is_admin: boolean;
}

/**
 * Refuses (GuardrailError, before any change) a role that a rotation must never manage: one whose password, once
 * published as an application credential, would be more than an application credential. The rule, for `role` and
 * every role it is a member of, directly or through other roles (`pg_auth_members`,
 * https://www.postgresql.org/docs/15/catalog-pg-auth-members.html — a member can `SET ROLE` to any of them whatever
 * INHERIT says):
 * - not the role the admin URL logs in as (`current_user`, `session_user`): applying would replace the admin's own
 *   password with an application credential;
 * - not SUPERUSER nor CREATEROLE (which can create and alter other roles), REPLICATION ("a very highly privileged
 *   role", https://www.postgresql.org/docs/15/sql-createrole.html: it can stream every row of the cluster) nor
 *   BYPASSRLS (bypasses every row-level security policy); CREATEDB is allowed;
 * - not a member of a superuser-equivalent predefined role (`SUPERUSER_EQUIVALENT_ROLES`).
 * The attributes are read from `pg_roles` (https://www.postgresql.org/docs/15/view-pg-roles.html). The group role is
 * checked as a role the slot role is a member of.
 */
export async function refusePrivilegedRole(admin: Client, role: string): Promise<void> {
    const { rows } = await admin.query<ReachableRole>(
        `WITH RECURSIVE reach(oid) AS (
             SELECT oid FROM pg_roles WHERE rolname = $1
           UNION
             SELECT m.roleid FROM pg_auth_members m JOIN reach ON m.member = reach.oid
         )
         SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
                r.rolname IN (current_user, session_user) AS is_admin
         FROM reach JOIN pg_roles r USING (oid)
         ORDER BY r.rolname = $1 DESC, r.rolname`,
        [role],
    );
    for (const r of rows) {
        const self = r.rolname === role;
        const where = self ? "it" : `it is a member of role ${r.rolname}, which`;
        if (r.is_admin) {
            throw new GuardrailError(`refusing role ${role}: ${self ? "it is" : `it is a member of ${r.rolname},`} the role the admin URL logs in as`);
        }
        const attributes = [r.rolsuper && "SUPERUSER", r.rolcreaterole && "CREATEROLE", r.rolreplication && "REPLICATION", r.rolbypassrls && "BYPASSRLS"].filter(Boolean);
        if (attributes.length > 0) throw new GuardrailError(`refusing role ${role}: ${where} has ${attributes.join(", ")}`);
        if (SUPERUSER_EQUIVALENT_ROLES.includes(r.rolname)) {
            throw new GuardrailError(`refusing role ${role}: it is a member of ${r.rolname}, which gives superuser-level access`);
        }
    }
}

export interface ApplyResult {
    readonly role: string;
    readonly changed: boolean;
}

/** The slot role exists, may log in and is no role a rotation must refuse (`refusePrivilegedRole`). */
async function checkSlotRole(admin: Client, role: string): Promise<void> {
    let exists;
    try {
        exists = await admin.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [role]);
        if (exists.rowCount !== 0) await refusePrivilegedRole(admin, role);
    } catch (err) {
        if (err instanceof GuardrailError) throw err;
        throw new Error(`could not read role ${role}: ${pgErrorLine(err)}`);
    }
    if (exists.rowCount === 0) {
        throw new SourceError(`role ${role} does not exist; run \`secrets-rotation bootstrap --stack <stack>\` (or the SQL in README) first`);
    }
    if (!exists.rows[0].rolcanlogin) {
        throw new SourceError(`role ${role} cannot log in (NOLOGIN); run the bootstrap, which makes it a login role`);
    }
}

/**
 * Sets the slot role's password (if it is not already that) and proves the role logs in with it. Refuses a
 * privileged role (`refusePrivilegedRole`) before anything else, and every link without TLS that `pgConnection` refuses.
 */
export async function applyPostgresSlot(
    adminUrl: string,
    role: string,
    password: string,
    log: Log = () => undefined,
    env: NodeJS.ProcessEnv = process.env,
): Promise<ApplyResult> {
    const quoted = quoteIdent(role);
    pgConnection(adminUrl, env); // a refused link is refused before anything connects
    const admin = await connectAdmin(adminUrl, env);
    try {
        await checkSlotRole(admin, role);
        if (await canLogIn(adminUrl, role, password, env)) {
            log(`${role} already logs in with this slot's password; nothing to change`);
            return { role, changed: false };
        }
        // ALTER ROLE takes no bind parameters; the verifier is base64 and '$', ':' only, so a literal is safe. A
        // password already in SCRAM form is stored as it is, whatever password_encryption says:
        // https://www.postgresql.org/docs/15/sql-createrole.html (PASSWORD).
        await admin.query(`ALTER ROLE ${quoted} WITH LOGIN PASSWORD '${scramVerifier(password)}'`).catch((err: unknown) => {
            throw new Error(`could not set the password of ${role}: ${pgErrorLine(err)}`);
        });
    } finally {
        await admin.end().catch(() => undefined);
    }
    if (!(await canLogIn(adminUrl, role, password, env))) {
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

/**
 * Runs the bootstrap statements in one transaction, after refusing (`refusePrivilegedRole`) any of the roles that
 * already exists and is privileged: granting a superuser as the group role would make every slot login a superuser.
 */
export async function bootstrapPostgres(
    adminUrl: string,
    groupRole: string,
    roles: readonly string[],
    database: string,
    env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
    const sql = bootstrapSql(groupRole, roles, database);
    const admin = await connectAdmin(adminUrl, env);
    try {
        for (const role of [groupRole, ...roles]) await refusePrivilegedRole(admin, role);
        await admin.query("BEGIN");
        for (const statement of sql) await admin.query(statement);
        await admin.query("COMMIT");
    } catch (err) {
        await admin.query("ROLLBACK").catch(() => undefined);
        if (err instanceof GuardrailError) throw err;
        throw new Error(`bootstrap failed: ${pgErrorLine(err)}`);
    } finally {
        await admin.end().catch(() => undefined);
    }
}

/** How long `terminatePostgresSessions` waits for each backend to exit. */
const TERMINATE_WAIT_MS = 5_000;

/** What `terminatePostgresSessions` did. */
export interface TerminateResult {
    readonly role: string;
    /** Backends of the role that were running and have exited. */
    readonly terminated: number;
}

/**
 * Ends every session logged in as `role` (for `revoke`: a retired slot's connections stay usable after its password
 * changed, until they are closed). Run it after the credential stopped being valid, or a client simply logs in again.
 *
 * `pg_terminate_backend(pid, timeout)` for each backend whose session user is `role` (`pg_stat_activity.usesysid`;
 * the slot roles' `SET role` changes the current user only), waiting up to 5 s for each to exit. A least-privilege
 * admin needs the privileges of `pg_signal_backend` (or of `role`), and only a superuser can end a superuser's
 * backends (https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL; postgres/postgres
 * src/backend/storage/ipc/signalfuncs.c `pg_signal_backend`). `pg_stat_activity` shows every backend's `pid` and
 * `usesysid` to any role (https://www.postgresql.org/docs/15/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW).
 *
 * @throws GuardrailError for the admin's own role; SourceError for a role that does not exist or backends that did
 *         not exit in time; Error (one line, with the SQLSTATE) when the server refuses, e.g. 42501 without
 *         pg_signal_backend
 */
export async function terminatePostgresSessions(adminUrl: string, role: string, env: NodeJS.ProcessEnv = process.env): Promise<TerminateResult> {
    quoteIdent(role);
    const admin = await connectAdmin(adminUrl, env);
    try {
        const found = await admin.query("SELECT rolname IN (current_user, session_user) AS own FROM pg_roles WHERE rolname = $1", [role]);
        if (found.rowCount === 0) throw new SourceError(`role ${role} does not exist`);
        if (found.rows[0].own) throw new GuardrailError(`refusing to end the sessions of role ${role}: it is the role the admin URL logs in as`);
        const { rows } = await admin.query<{ ended: boolean }>(
            `SELECT pg_terminate_backend(a.pid, $2) AS ended
             FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
             WHERE r.rolname = $1 AND a.pid <> pg_backend_pid()`,
            [role, TERMINATE_WAIT_MS],
        );
        const terminated = rows.filter((r) => r.ended).length;
        if (terminated < rows.length) {
            throw new SourceError(`${rows.length - terminated} of ${rows.length} sessions of role ${role} did not end within ${TERMINATE_WAIT_MS / 1000} s`);
        }
        return { role, terminated };
    } catch (err) {
        if (err instanceof SourceError || err instanceof GuardrailError) throw err;
        throw new Error(`could not end the sessions of role ${role}: ${pgErrorLine(err)}`);
    } finally {
        await admin.end().catch(() => undefined);
    }
}

if (require.main === module) {
    runHook("postgres-apply", hookSecrets(postgresApplyContract, process.env), async (log) => {
        const input = fromEnv(postgresApplyContract, process.env);
        const { role, password, endSessions } = input;
        // ROTATION_PG_ADMIN_URL, or the secret `rotation:adminSecrets.database` names (hooks/adminSecret.ts).
        const adminUrl = await adminCredentialOf(postgresApplyContract, input, "url", process.env);
        await applyPostgresSlot(adminUrl, role, password, log);
        if (endSessions) {
            // A password change leaves open sessions open (authentication happens at connect); end them.
            const { terminated } = await terminatePostgresSessions(adminUrl, role);
            log(`ended ${terminated} open session(s) of ${role}`);
        }
    });
}
