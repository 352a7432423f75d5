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
import { FieldValue, fromEnv, hookSecrets, postgresApplyContract } from "./contracts";
import { GuardrailError, HookInputError, Log, SourceError, firstErrorLine, runHook, sleep } from "./hookRuntime";
import { PgBouncerTarget, adminPasswordOf, authFileStore, logsInThroughPgBouncer, reloadAndProve, setUserlistEntry, userlistSecret, verifierMatches } from "./pgbouncerAuthFile";
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

function invalidUrl(name: string = ADMIN_ENV): HookInputError {
    // Never the URL itself, nor a driver's message about it: it holds the admin password.
    return new HookInputError(`${name} is not a valid postgres:// URL`);
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
export function pgConnection(adminUrl: string, env: NodeJS.ProcessEnv = process.env, urlEnv: string = ADMIN_ENV, caEnv: string = PG_CA_ENV): ClientConfig {
    const ADMIN_ENV = urlEnv; // the variable the messages name (the PgBouncer admin console's URL follows the same rules)
    const PG_CA_ENV = caEnv;
    let url: URL;
    try {
        url = new URL(adminUrl);
    } catch {
        throw invalidUrl(ADMIN_ENV);
    }
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") throw invalidUrl(ADMIN_ENV);
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
            throw invalidUrl(ADMIN_ENV);
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
 * Why the server refused `ALTER ROLE ... PASSWORD` or a login, in words naming the likely cause, from the SQLSTATE
 * (https://www.postgresql.org/docs/16/errcodes-appendix.html) and the server's message:
 * - 42501 "must be a member of rds_password to alter passwords": `rds.restrict_password_commands` is on and the
 *   rotator lacks `rds_password` ("only those database users that have been granted the rds_password role can manage
 *   passwords", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.RestrictPasswordMgmt.html);
 * - 42501 otherwise: no CREATEROLE, or on PostgreSQL 16+ no ADMIN OPTION on the slot role ("permission denied to
 *   alter role ... Only roles with the CREATEROLE attribute and the ADMIN option on role ... may alter this role";
 *   PG 16 release notes: "Restrict the privileges of CREATEROLE and its ability to modify other roles",
 *   https://www.postgresql.org/docs/16/release-16.html; https://www.postgresql.org/docs/16/sql-createrole.html);
 * - 28000 "no pg_hba.conf entry": pg_hba.conf has no line for this host, user and SSL state
 *   (https://www.postgresql.org/docs/16/client-authentication-problems.html);
 * - 28P01: a wrong password.
 */
export function likelyCause(err: unknown, role: string): string {
    const code = (err as { code?: string }).code ?? "";
    const message = firstErrorLine(err);
    if (code === "42501" && /rds_password/.test(message)) {
        return `: rds.restrict_password_commands is on and the rotator is not a member of rds_password (GRANT rds_password TO <rotator>; see \`secrets-rotation bootstrap --print\`)`;
    }
    if (code === "42501") {
        return `: the rotator needs CREATEROLE and, on PostgreSQL 16+, ADMIN OPTION on ${role} (GRANT ${role} TO <rotator> WITH ADMIN OPTION, INHERIT FALSE, SET FALSE; see \`secrets-rotation bootstrap --print\`)`;
    }
    if (code === "28000" && /pg_hba/.test(message)) return ": pg_hba.conf has no entry for this host, user and SSL state (use sslmode=verify-full, and a hostssl line for the role)";
    if (code === "28P01") return ": wrong password";
    return "";
}

/** Where else the slot role must log in before anything is published. */
export interface SlotProofs {
    /** The replica (Aurora `cluster-ro-`) endpoint: logged in through with the admin URL's TLS settings. */
    readonly replica?: { readonly host: string; readonly port: number };
    /** PgBouncer in auth_file mode: the verifier goes into its userlist, every instance reloads and is logged in through. */
    readonly pgbouncer?: PgBouncerTarget;
    /** A read/write canary as the slot role on `rotation_canary` (created by `bootstrap`, owned by the group role). */
    readonly canary?: boolean;
    /** How long the replica may take to accept the new password (Aurora readers share storage; a short lag). */
    readonly replicaTimeoutMs?: number;
}

/** The table `bootstrap` creates for the read/write canary, owned by the group role. */
export const CANARY_TABLE = "rotation_canary";

async function proveReplica(adminUrl: string, role: string, password: string, replica: { host: string; port: number }, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const client = new Client({ ...loginConfig(adminUrl, role, password, env), host: replica.host, port: replica.port });
        try {
            await client.connect();
            await client.query("SELECT 1");
            return;
        } catch (err) {
            const code = (err as { code?: string }).code;
            if (code !== "28P01" || Date.now() > deadline) {
                throw new SourceError(`${role} does not log in through the replica ${replica.host}:${replica.port}: ${pgErrorLine(err)}${likelyCause(err, role)}`);
            }
        } finally {
            await client.end().catch(() => undefined);
        }
        await sleep(1_000);
    }
}

/**
 * The read/write canary: as the slot role (its session acts as the group role, `bootstrap`'s `SET role`), write a
 * row, read it back and delete it, in a transaction that is rolled back, on the canary table. Proves the role can
 * read and write what the group role owns before its credential is published.
 */
async function canary(adminUrl: string, role: string, password: string, env: NodeJS.ProcessEnv): Promise<void> {
    const client = new Client(loginConfig(adminUrl, role, password, env));
    try {
        await client.connect();
        await client.query("BEGIN");
        await client.query(`INSERT INTO public.${CANARY_TABLE} (slot_role, written_at) VALUES ($1, now())`, [role]);
        const read = await client.query(`SELECT count(*)::int AS n FROM public.${CANARY_TABLE} WHERE slot_role = $1`, [role]);
        if (read.rows[0].n < 1) throw new SourceError(`the read/write canary as ${role} did not read back its row`);
        await client.query(`DELETE FROM public.${CANARY_TABLE} WHERE slot_role = $1`, [role]);
        await client.query("ROLLBACK");
    } catch (err) {
        if (err instanceof SourceError) throw err;
        const code = (err as { code?: string }).code;
        const hint = code === "42P01" ? `: the table does not exist; run \`secrets-rotation bootstrap\`` : code === "42501" ? ": the group role lacks privileges on it; run `secrets-rotation bootstrap`" : "";
        throw new SourceError(`the read/write canary as ${role} failed: ${pgErrorLine(err)}${hint}`);
    } finally {
        await client.end().catch(() => undefined);
    }
}

/**
 * Sets the slot role's password (if it is not already that) and proves the role logs in with it: through the admin
 * URL's host, then (when given) the replica, PgBouncer (after writing the same verifier into its auth_file and
 * reloading it) and the read/write canary. Refuses a privileged role (`refusePrivilegedRole`) before anything else,
 * and every link without TLS that `pgConnection` refuses. Any failure is an error: nothing is published.
 */
export async function applyPostgresSlot(
    adminUrl: string,
    role: string,
    password: string,
    log: Log = () => undefined,
    env: NodeJS.ProcessEnv = process.env,
    proofs: SlotProofs = {},
): Promise<ApplyResult> {
    const quoted = quoteIdent(role);
    pgConnection(adminUrl, env); // a refused link is refused before anything connects
    const bouncer = proofs.pgbouncer;
    let changed = false;
    const admin = await connectAdmin(adminUrl, env);
    try {
        await checkSlotRole(admin, role);
        const loggedIn = await canLogIn(adminUrl, role, password, env);
        // PgBouncer's line must be the server's verifier, which no role can read on Aurora: reuse the line when it is
        // one of this password (then setting it again changes nothing), else set a new one on both.
        const userlist = bouncer ? await bouncer.store.read() : undefined;
        if (bouncer) adminPasswordOf(userlist!, bouncer); // no admin console line: refused before anything changes
        const listed = bouncer ? userlistSecret(userlist!, role) : undefined;
        const reusable = listed !== undefined && verifierMatches(listed, password) ? listed : undefined;
        const bouncerOk = bouncer ? reusable !== undefined && (await logsInThroughPgBouncer(bouncer, role, password)) : true;
        if (loggedIn && bouncerOk) {
            log(`${role} already logs in with this slot's password${bouncer ? " (directly and through PgBouncer)" : ""}; nothing to change`);
        } else {
            const verifier = reusable ?? scramVerifier(password);
            // ALTER ROLE takes no bind parameters; the verifier is base64 and '$', ':' only, so a literal is safe. A
            // password already in SCRAM form is stored as it is, whatever password_encryption says:
            // https://www.postgresql.org/docs/15/sql-createrole.html (PASSWORD).
            await admin.query(`ALTER ROLE ${quoted} WITH LOGIN PASSWORD '${verifier}'`).catch((err: unknown) => {
                throw new SourceError(`could not set the password of ${role}: ${pgErrorLine(err)}${likelyCause(err, role)}`);
            });
            changed = true;
            if (bouncer) {
                const wrote = await bouncer.store.update((text) => setUserlistEntry(text, role, verifier));
                log(`${wrote ? "wrote" : "kept"} ${role}'s verifier in PgBouncer's ${bouncer.store.describe}`);
            }
        }
    } finally {
        await admin.end().catch(() => undefined);
    }
    if (changed && !(await canLogIn(adminUrl, role, password, env))) {
        throw new SourceError(`${role} does not log in with its new password after ALTER ROLE (check pg_hba.conf and password_encryption)`);
    }
    if (proofs.replica) {
        await proveReplica(adminUrl, role, password, proofs.replica, proofs.replicaTimeoutMs ?? 30_000, env);
        log(`${role} logs in through the replica ${proofs.replica.host}:${proofs.replica.port}`);
    }
    if (bouncer && changed) await reloadAndProve(bouncer, role, password, log);
    if (proofs.canary) {
        await canary(adminUrl, role, password, env);
        log(`read/write canary as ${role} on ${CANARY_TABLE} passed`);
    }
    if (changed) log(`set the password of ${role} and logged in with it`);
    return { role, changed };
}

/** What `bootstrap` sets up besides the alternating roles (the stack file's `rotation:database` keys). */
export interface BootstrapExtras {
    /** `rotatorRole`: the least-privilege role rotation logs in as. */
    readonly rotator?: string;
    /** `legacyUser`: the application user whose ownership and privileges move to the group role. */
    readonly legacyUser?: string;
    /** `canary`: create the read/write canary table, owned by the group role. */
    readonly canary?: boolean;
}

/** A string literal for SQL (identifiers here are validated by `quoteIdent`, so they hold no quote). */
const lit = (name: string) => `'${quoteIdent(name).slice(1, -1)}'`;

/**
 * The rotator: a role that logs in (its password is set by the operator, never by this program), with exactly what
 * rotation needs:
 * - CREATEROLE, to `ALTER ROLE ... PASSWORD` the slot roles (https://www.postgresql.org/docs/16/sql-alterrole.html;
 *   on PostgreSQL 15 a CREATEROLE role may alter any non-superuser role);
 * - on PostgreSQL 16+ also ADMIN OPTION on each slot role: "A role with CREATEROLE privilege can alter and drop roles
 *   which have been granted to the CREATEROLE user with the ADMIN option"
 *   (https://www.postgresql.org/docs/16/role-attributes.html); release notes 16, "Restrict the privileges of
 *   CREATEROLE and its ability to modify other roles ... Such changes, including adding members, now require the role
 *   requesting the change to have ADMIN OPTION permission" (https://www.postgresql.org/docs/16/release-16.html). The
 *   role that creates the slot roles gets ADMIN OPTION on them (postgres commit cf5eb37c5, "When a CREATEROLE user who
 *   is not a superuser creates a role, grant ADMIN OPTION on the newly-created role to the creator"), so the
 *   bootstrap's admin can pass it on. Granted
 *   with INHERIT FALSE and SET FALSE so the rotator gets no access to the application's data
 *   (https://www.postgresql.org/docs/16/sql-grant.html). PostgreSQL 15 has neither the requirement nor those options,
 *   and a plain GRANT there would let the rotator inherit the group role's privileges, so nothing is granted there;
 * - `rds_password` where the role exists (RDS/Aurora): with `rds.restrict_password_commands` on, "only those database
 *   users that have been granted the rds_password role can manage passwords"
 *   (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.RestrictPasswordMgmt.html);
 * - `pg_signal_backend`, which `revoke` needs to end a retired role's sessions
 *   (https://www.postgresql.org/docs/16/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL). On PostgreSQL 16+ a CREATEROLE
 *   admin can grant it only if it holds it with ADMIN OPTION itself (commit cf5eb37c5: "they cannot grant a role such
 *   as pg_execute_server_program unless they themselves possess it").
 * The server version and RDS's role are tested by the statements themselves, so `--print` shows the same SQL that runs.
 */
export function rotatorSql(rotator: string, roles: readonly string[]): string[] {
    const r = quoteIdent(rotator);
    return [
        `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${lit(rotator)}) THEN CREATE ROLE ${r} LOGIN CREATEROLE; END IF; END $$`,
        `DO $$ BEGIN IF NOT (SELECT rolcreaterole AND rolcanlogin FROM pg_roles WHERE rolname = ${lit(rotator)}) THEN ALTER ROLE ${r} LOGIN CREATEROLE; END IF; END $$`,
        `DO $$ BEGIN IF current_setting('server_version_num')::int >= 160000 THEN EXECUTE 'GRANT ${roles.map(quoteIdent).join(", ")} TO ${r} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE'; END IF; END $$`,
        `DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_password') THEN EXECUTE 'GRANT rds_password TO ${r}'; END IF; END $$`,
        `GRANT pg_signal_backend TO ${r}`,
    ];
}

/**
 * Moves what the legacy application user owns and was granted to the group role, so both slot roles (members of it)
 * can do what the application did, and the legacy user keeps working as a member of the group role:
 * 1. every privilege granted to the legacy user on tables, views, sequences, schemas, routines and this database is
 *    granted to the group role too (read from the ACLs with `aclexplode`,
 *    https://www.postgresql.org/docs/16/functions-info.html#FUNCTIONS-ACLITEM-FN-TABLE), and its role memberships
 *    (`bootstrapPostgres` refuses, before this, a legacy user that is or reaches a privileged role);
 * 2. `REASSIGN OWNED BY <legacy> TO <group>`: ownership of every object of this database
 *    (https://www.postgresql.org/docs/16/sql-reassign-owned.html: "REASSIGN OWNED requires membership on both the
 *    source role(s) and the target role"; it acts on the current database only);
 * 3. `GRANT <group> TO <legacy>`: the legacy login keeps its access to the objects it no longer owns;
 * 4. `ALTER DEFAULT PRIVILEGES FOR ROLE <legacy>`: what it creates from now on (e.g. a migration run with the legacy
 *    credential) is usable by the group role (https://www.postgresql.org/docs/16/sql-alterdefaultprivileges.html).
 * Column privileges are not copied. The group role is never granted to anyone but the slot roles and the legacy user,
 * and nothing is ever granted the legacy user's role.
 */
export function legacySql(legacy: string, groupRole: string): string[] {
    const l = quoteIdent(legacy);
    const g = quoteIdent(groupRole);
    const grant = (catalog: string, acl: string, what: string, kindExpr: string) =>
        `FOR r IN SELECT ${kindExpr} AS kind, ${what} AS obj, a.privilege_type FROM ${catalog}, aclexplode(${acl}) a WHERE a.grantee = ${lit(legacy)}::regrole LOOP EXECUTE format('GRANT %s ON %s %s TO %I', r.privilege_type, r.kind, r.obj, ${lit(groupRole)}); END LOOP;`;
    return [
        `DO $$ DECLARE r record; BEGIN ` +
            grant("pg_class c", "c.relacl", "c.oid::regclass::text", "CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END") +
            " " +
            grant("pg_namespace n", "n.nspacl", "quote_ident(n.nspname)", "'SCHEMA'") +
            " " +
            grant("pg_proc p", "p.proacl", "p.oid::regprocedure::text", "'ROUTINE'") +
            " " +
            grant("pg_database d", "d.datacl", "quote_ident(d.datname)", "'DATABASE'").replace("WHERE a.grantee", "WHERE d.datname = current_database() AND a.grantee") +
            ` FOR r IN SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = ${lit(legacy)}::regrole AND g.rolname <> ${lit(groupRole)} LOOP EXECUTE format('GRANT %I TO %I', r.rolname, ${lit(groupRole)}); END LOOP; END $$`,
        `REASSIGN OWNED BY ${l} TO ${g}`,
        `GRANT ${g} TO ${l}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${l} GRANT ALL ON TABLES TO ${g}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${l} GRANT ALL ON SEQUENCES TO ${g}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${l} GRANT EXECUTE ON ROUTINES TO ${g}`,
    ];
}

/**
 * Idempotent bootstrap of the alternating roles: a NOLOGIN group role that owns the objects, two login roles in
 * it whose sessions act as the group role (so what they create is owned by the group, not by one slot's role):
 * `ALTER ROLE ... SET role` is a per-role session default applied at login
 * (https://www.postgresql.org/docs/15/sql-alterrole.html), and objects are owned by the current role
 * (https://www.postgresql.org/docs/15/sql-set-role.html). Then, as the stack file asks, the rotator (`rotatorSql`),
 * the legacy user's migration (`legacySql`) and the canary table, owned by the group role.
 */
export function bootstrapSql(groupRole: string, roles: readonly string[], database: string, extras: BootstrapExtras = {}): string[] {
    return bootstrapSections(groupRole, roles, database, extras).flatMap((s) => s.sql);
}

/** The bootstrap statements by purpose, each with a one-line title (`bootstrap --print` shows them so). */
export function bootstrapSections(groupRole: string, roles: readonly string[], database: string, extras: BootstrapExtras = {}): { readonly title: string; readonly sql: string[] }[] {
    const g = quoteIdent(groupRole);
    const db = quoteIdent(database);
    const sections = [
        {
            title: `the group role ${groupRole} and the alternating login roles ${roles.join(", ")}`,
            sql: [
                `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${groupRole}') THEN CREATE ROLE ${g} NOLOGIN; END IF; END $$`,
                `GRANT CONNECT ON DATABASE ${db} TO ${g}`,
                ...roles.flatMap((r) => [
                    `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${r}') THEN CREATE ROLE ${quoteIdent(r)} LOGIN; END IF; END $$`,
                    `ALTER ROLE ${quoteIdent(r)} LOGIN`,
                    `GRANT ${g} TO ${quoteIdent(r)}`,
                    `ALTER ROLE ${quoteIdent(r)} SET role = '${groupRole}'`,
                ]),
            ],
        },
    ];
    if (extras.rotator) {
        sections.push({
            title: `the rotator ${extras.rotator}: CREATEROLE; ADMIN OPTION on the slot roles (PostgreSQL 16+); rds_password (RDS, for rds.restrict_password_commands); pg_signal_backend (revoke). Set its password yourself`,
            sql: rotatorSql(extras.rotator, roles),
        });
    }
    if (extras.legacyUser) {
        sections.push({
            title: `the legacy user ${extras.legacyUser}'s grants, memberships and objects move to ${groupRole}; it stays a member and keeps logging in`,
            sql: legacySql(extras.legacyUser, groupRole),
        });
    }
    if (extras.canary) {
        sections.push({
            title: `the read/write canary table, owned by ${groupRole}`,
            sql: [
                `CREATE TABLE IF NOT EXISTS public.${CANARY_TABLE} (slot_role name NOT NULL, written_at timestamptz NOT NULL)`,
                `ALTER TABLE public.${CANARY_TABLE} OWNER TO ${g}`,
            ],
        });
    }
    return sections;
}

/**
 * The checks before any bootstrap statement: a rotator that is SUPERUSER is no least-privilege role; a legacy user
 * must exist (else bad input, exit 2) and must not be, or reach, a privileged role (`refusePrivilegedRole`: the
 * admin's own role, e.g. the RDS master user, a superuser, rds_superuser...), whose objects and memberships would
 * otherwise be handed to the application's group role.
 */
async function checkBootstrapRoles(admin: Client, groupRole: string, roles: readonly string[], extras: BootstrapExtras): Promise<void> {
    for (const role of [groupRole, ...roles]) await refusePrivilegedRole(admin, role);
    if (extras.rotator) {
        const r = await admin.query("SELECT rolsuper FROM pg_roles WHERE rolname = $1", [extras.rotator]);
        if (r.rows[0]?.rolsuper) throw new GuardrailError(`refusing rotator role ${extras.rotator}: it is SUPERUSER; rotation needs a role with CREATEROLE only`);
    }
    if (extras.legacyUser) {
        const l = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [extras.legacyUser]);
        if (l.rowCount === 0) throw new HookInputError(`legacy user ${extras.legacyUser} (rotation:database.legacyUser) does not exist on the server; nothing changed`);
        try {
            await refusePrivilegedRole(admin, extras.legacyUser);
        } catch (err) {
            if (!(err instanceof GuardrailError)) throw err;
            throw new GuardrailError(`${err.message.replace(/^refusing role /, "refusing legacy user ")}; its objects and memberships must not go to the group role (nothing changed)`);
        }
    }
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
    extras: BootstrapExtras = {},
): Promise<void> {
    const sql = bootstrapSql(groupRole, roles, database, extras);
    const admin = await connectAdmin(adminUrl, env);
    try {
        await checkBootstrapRoles(admin, groupRole, roles, extras);
        await admin.query("BEGIN");
        for (const statement of sql) await admin.query(statement);
        await admin.query("COMMIT");
    } catch (err) {
        await admin.query("ROLLBACK").catch(() => undefined);
        if (err instanceof GuardrailError || err instanceof HookInputError) throw err;
        // The server names the role or grant it refused (e.g. `permission denied to grant role "pg_signal_backend"`).
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
/**
 * Retires the legacy application login an `adopt` kept (opt-in, `rotation:database.retireLegacyLogin`): NOLOGIN
 * (https://www.postgresql.org/docs/15/sql-alterrole.html; "Roles having the LOGIN attribute can be thought of as
 * users"), then its open sessions are ended, since NOLOGIN only refuses new connections. The role, its ownership and
 * grants stay. Never the role the admin URL logs in as, and never a superuser or rds_superuser holder
 * (`refusePrivilegedRole`): those are not an application's login.
 */
export async function retireLegacyLogin(adminUrl: string, role: string, env: NodeJS.ProcessEnv = process.env): Promise<TerminateResult> {
    const name = quoteIdent(role);
    const admin = await connectAdmin(adminUrl, env);
    try {
        const found = await admin.query("SELECT rolname IN (current_user, session_user) AS own FROM pg_roles WHERE rolname = $1", [role]);
        if (found.rowCount === 0) throw new SourceError(`legacy login ${role} does not exist`);
        if (found.rows[0].own) throw new GuardrailError(`refusing to retire ${role}: it is the role the admin URL logs in as`);
        await refusePrivilegedRole(admin, role);
        await admin.query(`ALTER ROLE ${name} NOLOGIN`);
    } catch (err) {
        if (err instanceof SourceError || err instanceof GuardrailError) throw err;
        throw new Error(`could not retire the legacy login ${role}: ${pgErrorLine(err)}`);
    } finally {
        await admin.end().catch(() => undefined);
    }
    return terminatePostgresSessions(adminUrl, role, env);
}

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

/**
 * The proofs a run's inputs ask for (PG_REPLICA, PG_PGBOUNCER, PG_CANARY), as `applyPostgresSlot` takes them.
 * PgBouncer is reached with the admin URL's TLS settings, checked against PgBouncer's own host name.
 */
export function slotProofs(
    adminUrl: string,
    input: { readonly replica?: { host: string; port: number }; readonly pgbouncer?: PgBouncerMode; readonly canary?: boolean },
    env: NodeJS.ProcessEnv = process.env,
): SlotProofs {
    const b = input.pgbouncer;
    return {
        replica: input.replica,
        canary: input.canary,
        pgbouncer: b && {
            host: b.host,
            port: b.port,
            ssl: pgConnection(adminUrl, env).ssl,
            database: b.database,
            adminUser: b.adminUser,
            store: authFileStore(b.authFile, env, b.context),
            timeoutMs: b.reloadTimeoutSeconds * 1000,
        },
    };
}

/** PG_PGBOUNCER as the contract decodes it. */
export type PgBouncerMode = NonNullable<FieldValue<typeof postgresApplyContract, "pgbouncer">>;

if (require.main === module) {
    runHook("postgres-apply", hookSecrets(postgresApplyContract, process.env), async (log) => {
        const input = fromEnv(postgresApplyContract, process.env);
        const { role, password, endSessions, retireLogin } = input;
        // ROTATION_PG_ADMIN_URL, or the secret `rotation:adminSecrets.database` names (hooks/adminSecret.ts).
        const adminUrl = await adminCredentialOf(postgresApplyContract, input, "url", process.env);
        await applyPostgresSlot(adminUrl, role, password, log, process.env, slotProofs(adminUrl, input));
        if (endSessions) {
            // A password change leaves open sessions open (authentication happens at connect); end them.
            const { terminated } = await terminatePostgresSessions(adminUrl, role);
            log(`ended ${terminated} open session(s) of ${role}`);
        }
        if (retireLogin !== undefined) {
            const { terminated } = await retireLegacyLogin(adminUrl, retireLogin);
            log(`legacy login ${retireLogin} set NOLOGIN; ended ${terminated} open session(s)`);
        }
    });
}
